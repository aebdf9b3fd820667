"""What the pages show, computed from tickets: rows, groups, who may decide, the agent's history.

Pure functions over gate records (no I/O), so the routes stay thin and these can be
tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from markupsafe import Markup

from signoff._model import Ticket
from signoff.review._grouping import Spread, spread
from signoff.review._transitions import may_decide
from signoff.server.ui._render import args_preview, hidden_counts
from signoff.store._records import Reviewer

__all__ = [
    "REASON_LABELS",
    "Block",
    "History",
    "Permission",
    "Row",
    "group_rows",
    "history_of",
    "permission",
]

REASON_LABELS = {
    "high_risk_action": "high risk",
    "low_confidence": "low confidence",
    "external_impact": "external",
    "policy_boundary": "policy",
    "novel_action": "novel",
    "mode": "mode",
    "condition_error": "condition error",
    "default": "default",
}
DECIDED = ("approved", "rejected", "expired", "aborted", "cancelled")


@dataclass(frozen=True)
class Permission:
    """May this reviewer decide this ticket now, and if not, why (shown next to the disabled controls)."""

    can: bool
    why_not: str = ""


def permission(ticket: Ticket, reviewer: Reviewer, tiers: Sequence[str]) -> Permission:
    """The gate's own rule (``may_decide``), asked early so the page can hide what would fail.

    The gate still decides: a control shown here can still fail (the ticket escalated a
    second ago), and the page then shows the gate's message.
    """
    if ticket.status != "pending":
        by = f" by {', '.join(ticket.decided_by)}" if ticket.decided_by else ""
        return Permission(False, f"already {ticket.status}{by}")
    refusal = may_decide(ticket, reviewer, tiers)
    if refusal == "disabled":
        return Permission(False, "your account is disabled")
    if refusal == "own_request":
        return Permission(False, "you requested this action, so someone else must decide it")
    if refusal == "tier":
        return Permission(False, f"needs a {ticket.tier} reviewer; you are {reviewer.tier or 'without a tier'}")
    if reviewer.name in ticket.approvals:
        left = ticket.required_approvals - len(ticket.approvals)
        return Permission(False, f"you approved it; waiting for {left} more distinct approver{'s' * (left != 1)}")
    return Permission(True)


@dataclass
class Row:
    ticket: Ticket
    perm: Permission
    preview: Markup
    hidden: int
    """Hidden characters anywhere in what the agent wrote (name, args, reasoning, alternatives)."""

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """(short label, full message) per reason, without repeats."""
        seen: dict[str, str] = {}
        for r in self.ticket.reasons:
            label = REASON_LABELS.get(r.code, r.code)
            seen.setdefault(label, r.message)
        return list(seen.items())


def make_row(ticket: Ticket, reviewer: Reviewer, tiers: Sequence[str]) -> Row:
    a = ticket.action
    hidden = sum(hidden_counts(ticket).values())
    return Row(ticket=ticket, perm=permission(ticket, reviewer, tiers), preview=args_preview(a.args), hidden=hidden)


@dataclass
class Block:
    """One group of similar pending tickets (or a single ticket) in the inbox.

    A group decides exactly the rows it shows (``shown``): its count, its ticket ids and its
    summary all come from them, never from rows one click away or tickets that arrived later.
    """

    key: str
    rows: list[Row] = field(default_factory=list)
    total: int = 1
    """Pending tickets in this group matching the filters, on every page (not only the rows shown)."""
    limit: int | None = None
    """Rows shown under the group's header; the rest of this page's rows are one click away."""

    @property
    def is_group(self) -> bool:
        return self.total > 1 and len(self.rows) > 1

    @property
    def shown(self) -> list[Row]:
        """The rows on screen: what the group's buttons decide."""
        return self.rows if self.limit is None or not self.is_group else self.rows[:self.limit]

    @property
    def more(self) -> int:
        """Rows of this group on this page that are not shown (and not decided by its buttons)."""
        return len(self.rows) - len(self.shown)

    @property
    def ticket_ids(self) -> str:
        """The shown tickets' ids, comma-separated: what the group form posts."""
        return ",".join(r.ticket.id for r in self.shown)

    @cached_property
    def spread(self) -> list[Spread]:
        """Per argument, the same across the shown rows or how it varies (display text, revealed)."""
        return spread([r.ticket.action.args for r in self.shown])

    @property
    def can_all(self) -> bool:
        return all(r.perm.can for r in self.shown)

    @property
    def why_not(self) -> str:
        return next((r.perm.why_not for r in self.shown if not r.perm.can), "")

    @property
    def action(self) -> str:
        return self.rows[0].ticket.action.name if self.rows else ""


def group_rows(rows: Iterable[Row], *, limit: int | None = None) -> list[Block]:
    """Rows with the same group key together, blocks in the order of their oldest row.

    ``limit``: at most this many rows of a group are shown under its header (None: all).
    """
    blocks: dict[str, Block] = {}
    for row in rows:
        key = row.ticket.group_key or row.ticket.id
        blocks.setdefault(key, Block(key=key, limit=limit)).rows.append(row)
    return list(blocks.values())


@dataclass(frozen=True)
class History:
    """How this agent's earlier requests for this action ended."""

    total: int
    approved: int
    rejected: int
    expired: int
    edited: int
    recent: list[Ticket]
    capped: bool

    @property
    def summary(self) -> str:
        if self.total == 0:
            return "first request of this action by this agent"
        scope = f"the last {self.total}" if self.capped else f"{self.total}"
        parts = [f"approved {self.approved} of {scope} before"]
        if self.rejected:
            parts.append(f"rejected {self.rejected}")
        if self.expired:
            parts.append(f"{self.expired} timed out or were withdrawn")
        if self.edited:
            parts.append(f"{self.edited} approved with edited arguments")
        return "; ".join(parts)


def history_of(ticket: Ticket, earlier: Sequence[Ticket], *, cap: int) -> History:
    """Summarise ``earlier`` (decided tickets of the same agent and action, newest first)."""
    others = [t for t in earlier if t.id != ticket.id and t.status in DECIDED]
    return History(
        total=len(others),
        approved=sum(t.status == "approved" for t in others),
        rejected=sum(t.status == "rejected" for t in others),
        expired=sum(t.status in ("expired", "aborted", "cancelled") for t in others),
        edited=sum(t.status == "approved" and t.edited_args is not None for t in others),
        recent=others[:5],
        capped=len(earlier) >= cap,
    )


def age_seconds(ticket: Ticket, now: datetime) -> float:
    return (now - ticket.created_at).total_seconds()
