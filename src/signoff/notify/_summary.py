"""A ticket as plain text pieces for a message: what the agent wants, why a human is asked, what happened.

Every channel (console, email, Slack, webhook's human-readable parts) shows the same
things in the same order, so they are worked out once here and each channel only lays
them out and escapes them for its medium (HTML, Slack mrkdwn). Nothing here escapes for a
medium; everything the agent wrote has been through ``signoff._text.reveal`` (no escape
sequences, hidden characters as ``<U+XXXX>``) and stays in fields whose names say whose
words they are (``agent_words``), so a channel can mark them as unverified.

Nothing is cut silently: a long string, list or object in the arguments keeps its beginning
and a visible ``… 1,234 more characters`` marker outside the JSON value, where agent text
cannot forge it. The inbox has its own HTML renderer (``server.ui._render``); it folds
into clickable HTML, which a message cannot, and notify must not import the server, so
the plain-text folding and the short durations are written here once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signoff._limits import MAX_DEPTH, bounded, placeholder
from signoff._model import Ticket, utcnow
from signoff._text import has_hidden, reveal

__all__ = [
    "AGENT_WORDS",
    "EVENT_TITLES",
    "FOLD_CHARS",
    "FOLD_ITEMS",
    "MAX_ARG_LINES",
    "ReasonText",
    "Summary",
    "args_lines",
    "duration",
    "event_title",
    "summarize",
]

AGENT_WORDS = "the agent's words, unverified"
"""The label every channel puts on text the agent wrote (reasoning, alternatives)."""

FOLD_CHARS = 300
"""A string argument longer than this shows its first FOLD_CHARS characters and a marker."""
FOLD_ITEMS = 30
"""A list or object with more entries than this shows its first FOLD_ITEMS and a marker."""
FOLD_TEXT = 2000
"""The reasoning and each alternative are folded beyond this many characters."""
MAX_ARG_LINES = 80
"""The arguments shown in a message, in lines; the rest is counted ("… 120 more lines")."""

EVENT_TITLES: Mapping[str, str] = {
    "ticket.created": "needs approval",
    "ticket.escalated": "escalated",
    "ticket.expiring": "deadline near",
    "ticket.decided": "decided",
    "ticket.expired": "expired",
    "ticket.aborted": "aborted",
    "ticket.cancelled": "cancelled",
}


@dataclass(frozen=True, kw_only=True)
class ReasonText:
    """One reason a human is asked: the policy's words (not the agent's)."""

    code: str
    rule: str | None
    message: str


@dataclass(frozen=True, kw_only=True)
class Summary:
    """One ticket, ready to be laid out. Text fields are revealed, not escaped for any medium."""

    ticket_id: str
    kind: str
    status: str
    action: str
    """The action's name (written by the agent's code: revealed, one line)."""
    agent: str
    """Which agent asks ("" when none said)."""
    args: tuple[str, ...]
    """The arguments a run would use (the edited ones when edited) as pretty JSON lines, folded."""
    edited: bool
    """True when a reviewer edited the arguments: ``args`` are the edited ones."""
    reasons: tuple[ReasonText, ...]
    rules: tuple[str, ...]
    tier: str
    """The tier that may decide, or "any tier"."""
    approvals: str
    """``"1 of 2"``: approvals so far of those needed ("" for tickets that are not approvals)."""
    approved_by: tuple[str, ...]
    reasoning: str
    """The agent's words (``AGENT_WORDS``): why it wants this, folded."""
    alternatives: tuple[str, ...]
    """The agent's words: what else it considered."""
    confidence: float | None
    """The agent's own estimate."""
    deadline: datetime | None
    time_left: str
    """``"in 4m 10s"``, ``"overdue"``, or "" when not pending or no deadline."""
    on_timeout: str
    decided_by: tuple[str, ...]
    decided_at: datetime | None
    feedback: str
    """The reviewer's words to the agent (revealed: a reviewer's text is shown, not trusted either)."""
    explanation: str
    hidden: bool
    """True when something the agent wrote held hidden or control characters (now ``<U+XXXX>``)."""

    @property
    def headline(self) -> str:
        """``deploy_production by agent-7``: the action and who asks, one line."""
        return f"{self.action} by {self.agent}" if self.agent else self.action

    @property
    def why(self) -> str:
        """The reasons on one line: ``high_risk_action (deploys): Deploys need a person; ...``."""
        return "; ".join(_reason_line(r) for r in self.reasons) or ", ".join(self.rules)

    @property
    def decided(self) -> str:
        """``approved by alice, bob`` for a decided ticket, else ""."""
        if self.status == "pending":
            return ""
        who = f" by {', '.join(self.decided_by)}" if self.decided_by else ""
        return f"{self.status}{who}"


def _reason_line(r: ReasonText) -> str:
    where = f" ({r.rule})" if r.rule else ""
    return f"{r.code}{where}: {r.message}" if r.message else f"{r.code}{where}"


def _one(text: object) -> str:
    return reveal(str(text), one_line=True)


def _fold_text(text: str, limit: int = FOLD_TEXT) -> str:
    """Free text revealed, its tail past ``limit`` characters replaced by a visible count."""
    if len(text) <= limit:
        return reveal(text)
    return reveal(text[:limit]) + f" … {len(text) - limit:,} more characters"


def summarize(ticket: Ticket, *, now: datetime | None = None) -> Summary:
    """The plain-text view of ``ticket`` at ``now`` (default: the current time)."""
    t = ticket
    a = t.executable_action
    now = now or utcnow()
    time_left = ""
    if t.status == "pending" and t.deadline is not None:
        secs = (t.deadline - now).total_seconds()
        time_left = "overdue" if secs <= 0 else "in " + duration(secs)
    agent_texts = [a.name, a.agent, t.action.reasoning, *t.action.alternatives,
                   json.dumps(bounded(dict(t.action.args)), ensure_ascii=False, default=str),
                   json.dumps(bounded(dict(a.args)), ensure_ascii=False, default=str)]
    return Summary(
        ticket_id=_one(t.id), kind=t.kind, status=t.status, action=_one(a.name), agent=_one(a.agent),
        args=tuple(args_lines(a.args)), edited=t.edited_args is not None,
        reasons=tuple(ReasonText(code=_one(r.code), rule=_one(r.rule) if r.rule else None,
                                 message=_one(r.message)) for r in t.reasons),
        rules=tuple(_one(r) for r in t.rules), tier=_one(t.tier) if t.tier else "any tier",
        approvals=f"{len(t.approvals)} of {t.required_approvals}" if t.kind == "approval" else "",
        approved_by=tuple(_one(x) for x in t.approvals),
        reasoning=_fold_text(t.action.reasoning),
        alternatives=tuple(_fold_text(x) for x in t.action.alternatives),
        confidence=t.action.confidence, deadline=t.deadline, time_left=time_left, on_timeout=t.on_timeout,
        decided_by=tuple(_one(x) for x in t.decided_by), decided_at=t.decided_at,
        feedback=_fold_text(t.feedback), explanation=_fold_text(t.explanation),
        hidden=any(has_hidden(x) for x in agent_texts),
    )


DECIDED_VIA = {"inbox": "in the inbox", "slack": "in Slack", "email": "with an email link",
               "api": "through the API", "cli": "on the command line"}


def via_text(extra: Mapping[str, str] | None) -> str:
    """``in Slack`` for a decision's ``decided_via``; "" when the event does not say."""
    via = (extra or {}).get("decided_via") or ""
    return DECIDED_VIA.get(via, f"via {_one(via)}") if via else ""


def event_title(type_: str, summaries: Sequence[Summary], extra: Mapping[str, str] | None = None) -> str:
    """A message's subject line: ``needs approval: deploy by agent-7`` or ``3 tickets need approval: deploy``.

    Carries agent text (the action's name): a channel escapes it like the rest.
    """
    extra = extra or {}
    what = EVENT_TITLES.get(type_, type_)
    if type_ == "ticket.escalated" and extra.get("escalated_to"):
        what = f"escalated to {_one(extra['escalated_to'])}"
    if type_ == "ticket.decided" and len(summaries) > 1:
        decided = sum(1 for s in summaries if s.decided)
        names = ", ".join(dict.fromkeys(s.action for s in summaries))
        return f"{decided} of {len(summaries)} tickets decided: {names}"
    if type_ == "ticket.decided" and summaries and summaries[0].decided:
        what = summaries[0].decided + (f" {via_text(extra)}" if via_text(extra) else "")
    if len(summaries) == 1:
        return f"{what}: {summaries[0].headline}"
    names = ", ".join(dict.fromkeys(s.action for s in summaries))
    if type_ == "ticket.created":
        what = "need approval"
    return f"{len(summaries)} tickets {what}: {names}"


def duration(seconds: float) -> str:
    """``2h 05m``, ``4m 10s``, ``12s`` (the inbox's format; written again here, see the module docstring)."""
    s = int(abs(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h:02d}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


# -- the arguments as folded, pretty JSON lines ------------------------------------------------------

def args_lines(args: Mapping[str, Any], *, max_lines: int = MAX_ARG_LINES) -> list[str]:
    """``args`` as indented JSON lines (keys in the agent's order), every line revealed.

    A long string keeps its first ``FOLD_CHARS`` characters, closes its quote and is followed
    by ``… N more characters``; a long list or object ends with ``… N more items/entries``.
    The markers stand outside the JSON strings, so a value cannot pretend to be folded.
    """
    lines: list[str] = []
    _emit(bounded(dict(args)), "", "", "", lines, 1)
    if len(lines) > max_lines:
        rest = len(lines) - (max_lines - 1)
        lines = [*lines[: max_lines - 1], f"… {rest:,} more lines"]
    return [reveal(line, one_line=True) for line in lines]


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        if len(value) > FOLD_CHARS:
            return f"{_dumps(value[:FOLD_CHARS])} … {len(value) - FOLD_CHARS:,} more characters"
        return _dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return _dumps(value)
    return _dumps(str(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _emit(value: Any, pad: str, prefix: str, comma: str, out: list[str], depth: int) -> None:
    """Append ``value``'s lines: ``prefix`` (a key) before its first line, ``comma`` after its last."""
    if isinstance(value, (Mapping, list, tuple)) and depth > MAX_DEPTH:
        out.append(f"{pad}{prefix}{_dumps(placeholder(MAX_DEPTH))}{comma}")
        return
    if isinstance(value, Mapping):
        items: list[tuple[str, Any]] = [(f"{_dumps(str(k))}: ", v) for k, v in value.items()]
        open_, close, noun = "{", "}", "entries"
    elif isinstance(value, (list, tuple)):
        items = [("", v) for v in value]
        open_, close, noun = "[", "]", "items"
    else:
        out.append(f"{pad}{prefix}{_scalar(value)}{comma}")
        return
    if not items:
        out.append(f"{pad}{prefix}{open_}{close}{comma}")
        return
    out.append(f"{pad}{prefix}{open_}")
    shown = items[:FOLD_ITEMS]
    more = len(items) - len(shown)
    for i, (key, v) in enumerate(shown):
        last = i == len(shown) - 1 and not more
        _emit(v, pad + "  ", key, "" if last else ",", out, depth + 1)
    if more:
        out.append(f"{pad}  … {more:,} more {noun}")
    out.append(f"{pad}{close}{comma}")
