"""Submission as pure functions: what a new ticket is, and what a store writes for a batch of them.

The decision transitions (``_transitions``) take a ticket and return the Change to write;
submission works the same way. ``new_ticket`` builds the ticket from the policy's outcome;
``plan`` takes the batch and what the store read under its lock (the tickets that already
hold the batch's idempotency keys, the agents' pending counts) and returns the Submission to
write, or raises Conflict / QuotaExceeded. Every store only reads, calls ``plan`` and writes,
so the rules of idempotency and quotas are written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signoff._errors import Conflict, Denied, InvalidAction, QuotaExceeded, UserError
from signoff._model import Action, Decision, Level, Outcome, Ticket, utcnow
from signoff._records import AuditDraft, StoredState
from signoff.review._grouping import group_key

__all__ = [
    "NewTicket",
    "Submission",
    "check",
    "instant_decision",
    "keys_of",
    "new_ticket",
    "plan",
    "quota_agents",
    "quota_refused",
    "submitted_audit_data",
]

NewTicket = tuple[Ticket, StoredState | None]
DEFAULT_TIMEOUT = timedelta(minutes=30)


def instant_decision(action: Action, outcome: Outcome) -> Decision:
    """The decision of an action that needs no ticket (``auto`` or ``deny``)."""
    status = {Level.AUTO: "auto", Level.DENY: "denied"}[outcome.level]
    return Decision(status=status, approved=outcome.level is Level.AUTO,  # type: ignore[arg-type]
                    action=action, reasons=outcome.reasons, level=outcome.level,
                    explanation=outcome.explanation, created_at=utcnow())


def check(action: Action, outcome: Outcome) -> None:
    """Refuse what may not be submitted: a denied action (Denied), or an action that needs a human
    without the reasoning the policy requires (InvalidAction)."""
    if outcome.level is Level.DENY:
        raise Denied(f"{action.name}: the policy forbids it: " + outcome.explanation,
                     decision=instant_decision(action, outcome))
    if outcome.level is Level.APPROVE and outcome.require_reasoning and not action.reasoning.strip():
        raise InvalidAction(
            f"{action.name} needs a human and this policy requires a reasoning: set Action.reasoning "
            "to why the agent wants to do it"
        )


def new_ticket(action: Action, outcome: Outcome, *, ticket_id: str, now: datetime, idempotency_key: str | None,
               batch_id: str | None, has_state: bool) -> Ticket:
    """The ticket for an action the policy sends to a human (approve), the feed (notify) or a
    person's hands (suggest)."""
    if outcome.level is Level.APPROVE:
        kind, status = "approval", "pending"
    elif outcome.level is Level.NOTIFY:
        kind, status = "notification", "notified"
    elif outcome.level is Level.SUGGEST:
        kind, status = "suggestion", "suggested"
    else:
        raise UserError(f"a {outcome.level.value} action needs no ticket")
    timeout = outcome.timeout or DEFAULT_TIMEOUT
    return Ticket(
        id=ticket_id, kind=kind, action=action, status=status,  # type: ignore[arg-type]
        level=outcome.level, reasons=outcome.reasons, rules=outcome.matched_rules,
        tier=outcome.reviewers.tier, required_approvals=outcome.reviewers.count,
        deadline=now + timeout if status == "pending" else None, timeout_seconds=timeout.total_seconds(),
        on_timeout=outcome.on_timeout, retries_left=outcome.retries,
        group_key=group_key(action.name, outcome.matched_rules, action.args), batch_id=batch_id,
        idempotency_key=idempotency_key, digest=action.digest(), fingerprint=outcome.fingerprint,
        mode=outcome.mode, created_at=now, has_state=has_state,
    )


def submitted_audit_data(t: Ticket) -> dict[str, Any]:
    """What the audit records for a submission, the same on every store (verify and events read it)."""
    return {"status": t.status, "action": t.action.name, "agent": t.action.agent, "digest": t.digest,
            "level": t.level.value, "rules": list(t.rules), "tier": t.tier, "batch": t.batch_id,
            "group": t.group_key, "deadline": t.deadline.isoformat() if t.deadline else None}


@dataclass(frozen=True, kw_only=True)
class Submission:
    """What a store writes for a batch: the rows to insert and their audit entries, in one transaction."""

    results: tuple[tuple[Ticket, bool], ...]
    """Each submitted ticket, or the one already holding its idempotency key; True when new."""
    inserts: tuple[NewTicket, ...]
    """The new tickets and their states, in submission order."""
    audit: tuple[AuditDraft, ...]
    """One entry per new ticket."""


def keys_of(tickets: Sequence[NewTicket]) -> list[tuple[str, str]]:
    """The (agent, idempotency key) pairs the store must look up before ``plan``."""
    return [(t.action.agent, t.idempotency_key) for t, _ in tickets if t.idempotency_key is not None]


def quota_agents(tickets: Sequence[NewTicket], max_pending: int | None) -> list[str]:
    """The agents whose pending tickets the store must count before ``plan`` (sorted: lock order)."""
    if max_pending is None:
        return []
    return sorted({t.action.agent for t, _ in tickets if t.status == "pending"})


def plan(tickets: Sequence[NewTicket], *, existing: Mapping[tuple[str, str], Ticket], pending: Mapping[str, int],
         max_pending: int | None, audit_kind: str = "submitted") -> Submission:
    """The Submission for ``tickets``, given what the store read under its lock.

    ``existing``: the stored tickets holding the batch's (agent, idempotency key) pairs.
    ``pending``: each agent's pending tickets (for ``quota_agents``). An idempotency key the same
    agent already used for the same action gives back that ticket; for another action, Conflict.
    Over ``max_pending``: QuotaExceeded, raised so that none of the batch is queued (the store
    then audits the refusal with ``quota_refused``).
    """
    held = dict(existing)
    counts = dict(pending)
    results: list[tuple[Ticket, bool]] = []
    inserts: list[NewTicket] = []
    audit: list[AuditDraft] = []
    for ticket, state in tickets:
        key = (ticket.action.agent, ticket.idempotency_key or "")
        if ticket.idempotency_key is not None and key in held:
            prior = held[key]
            if prior.digest != ticket.digest:
                raise Conflict(
                    f"idempotency key {ticket.idempotency_key!r} was already used for another action "
                    f"(ticket {prior.id}, {prior.action.name})",
                    ticket_id=prior.id,
                )
            results.append((prior, False))
            continue
        if max_pending is not None and ticket.status == "pending":
            agent = ticket.action.agent
            n = counts.get(agent, 0)
            if n >= max_pending:
                raise QuotaExceeded(
                    f"agent {agent!r} already has {n} pending tickets (quota {max_pending}); "
                    "wait for decisions before submitting more", agent=agent, pending=n)
            counts[agent] = n + 1
        if ticket.idempotency_key is not None:
            held[key] = ticket
        inserts.append((ticket, state))
        audit.append(AuditDraft(kind=audit_kind if ticket.kind == "approval" else ticket.status,
                                actor=ticket.action.agent or "agent", ticket_id=ticket.id,
                                data=submitted_audit_data(ticket)))
        results.append((ticket, True))
    return Submission(results=tuple(results), inserts=tuple(inserts), audit=tuple(audit))


def quota_refused(err: QuotaExceeded, max_pending: int | None) -> AuditDraft:
    """The audit entry of a refused batch, written on its own once the batch rolled back."""
    return AuditDraft(kind="quota_exceeded", actor=getattr(err, "agent", "") or "agent",
                      data={"pending": getattr(err, "pending", 0), "quota": max_pending})
