"""Ticket transitions as pure functions: each takes a ticket and returns the Change to write.

Stores run them inside a write transaction (row lock or BEGIN IMMEDIATE), so the check
("still pending?") and the write are one step: a second decision raises Conflict, never
overwrites. Keeping them here means SQLite and PostgreSQL cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from signoff._errors import AlreadyExecuted, Conflict, InvalidAction, NotAllowed, NotAuthorized, UserError
from signoff._model import Action, Level, Outcome, Resolution, Ticket
from signoff._records import AuditDraft, Change, Reviewer

Evaluate = Callable[[Action], Outcome]
Refusal = Literal["disabled", "own_request", "tier"]
"""Why a reviewer may not decide a ticket (see ``may_decide``)."""


def tier_rank(tiers: Sequence[str], tier: str | None) -> int:
    """How senior a ticket's required tier is. A tier the policy no longer lists needs the top
    tier (fail closed: a renamed tier must not lower what a ticket asks for)."""
    if tier is None:
        return -1
    try:
        return list(tiers).index(tier)
    except ValueError:
        return len(tiers) - 1


def reviewer_rank(tiers: Sequence[str], tier: str | None) -> int:
    """How senior a reviewer is. A tier the policy no longer lists counts as no tier at all: a
    reviewer left with a stale tier decides only tickets that ask for none (fail closed)."""
    try:
        return list(tiers).index(tier) if tier is not None else -1
    except ValueError:
        return -1


def may_decide(ticket: Ticket, reviewer: Reviewer, tiers: Sequence[str]) -> Refusal | None:
    """Who may decide ``ticket``: None when ``reviewer`` may, else why not.

    The one rule, asked by the transitions (which raise) and by the inbox (which hides the
    controls that would fail). A code rather than words: each caller words it for its reader.
    """
    if reviewer.disabled:
        return "disabled"
    if reviewer.name == ticket.action.agent:
        return "own_request"
    if ticket.tier is not None and reviewer_rank(tiers, reviewer.tier) < tier_rank(tiers, ticket.tier):
        return "tier"
    return None


def _check_reviewer(ticket: Ticket, reviewer: Reviewer, tiers: Sequence[str]) -> None:
    refusal = may_decide(ticket, reviewer, tiers)
    if refusal == "disabled":
        raise NotAuthorized(f"reviewer {reviewer.name!r} is disabled")
    if refusal == "own_request":
        raise NotAuthorized(f"{reviewer.name!r} requested ticket {ticket.id} and cannot decide it")
    if refusal == "tier":
        raise NotAuthorized(
            f"ticket {ticket.id} needs a {ticket.tier} reviewer; {reviewer.name!r} is "
            f"{reviewer.tier or 'without a tier'}"
        )


def check_mode_switch(reviewer: Reviewer, *, tiers: Sequence[str]) -> None:
    """A mode changes what runs without a human for every agent: only the policy's top tier (its last
    one; anyone when it names no tiers) may switch it. Raises NotAuthorized otherwise."""
    if reviewer.disabled:
        raise NotAuthorized(f"reviewer {reviewer.name!r} is disabled")
    if tiers and reviewer.tier != tiers[-1]:
        raise NotAuthorized(f"only a {tiers[-1]} reviewer may switch modes; {reviewer.name!r} is "
                            f"{reviewer.tier or 'without a tier'}")


def _pending(ticket: Ticket, kind: str = "approval") -> None:
    if ticket.kind != kind:
        raise UserError(f"ticket {ticket.id} is a {ticket.kind}, not a{'n' if kind[0] in 'aeiou' else ''} {kind}")
    if ticket.status != "pending":
        raise Conflict(f"ticket {ticket.id} is already {ticket.status}"
                       + (f" (by {', '.join(ticket.decided_by)})" if ticket.decided_by else ""),
                       ticket_id=ticket.id, status=ticket.status)


def approve(ticket: Ticket, reviewer: Reviewer, *, tiers: Sequence[str], now: datetime,
            args: Mapping[str, Any] | None = None, evaluate: Evaluate | None = None,
            comment: str = "", via: str = "") -> Change:
    """Record one approval; the ticket is approved once enough distinct reviewers approved it.

    ``via`` (the door: inbox, slack, ...) is recorded in the audit entry when given."""
    _pending(ticket)
    _check_reviewer(ticket, reviewer, tiers)
    if reviewer.name in ticket.approvals and args is None:
        raise NotAuthorized(f"{reviewer.name!r} already approved ticket {ticket.id}; "
                            f"it needs {ticket.required_approvals} distinct approvers")
    t = ticket
    data: dict[str, Any] = {"reviewer": reviewer.name}
    if via:
        data["via"] = via
    if args is not None and dict(args) != dict(ticket.executable_action.args):
        edited = ticket.action.evolve(args=dict(args))
        if evaluate is not None:
            out = evaluate(edited)
            if out.level in (Level.DENY, Level.SUGGEST):
                raise InvalidAction(
                    f"the edited arguments are not allowed: the policy says {out.level.value} "
                    f"({'; '.join(r.message for r in out.reasons)})"
                )
            new_tier = t.tier
            if out.level is Level.APPROVE and tier_rank(tiers, out.reviewers.tier) > tier_rank(tiers, t.tier):
                new_tier = out.reviewers.tier
            if reviewer_rank(tiers, reviewer.tier) < tier_rank(tiers, new_tier):
                raise NotAuthorized(
                    f"the edited arguments need a {new_tier} reviewer; {reviewer.name!r} is "
                    f"{reviewer.tier or 'without a tier'}"
                )
            t = t.evolve(tier=new_tier, required_approvals=max(t.required_approvals, out.reviewers.count)
                         if out.level is Level.APPROVE else t.required_approvals)
        # Earlier approvals were for other arguments: they do not count for the edited action.
        t = t.evolve(edited_args=dict(args), approvals=())
        data["edited_args"] = dict(args)
    approvals = (*t.approvals, reviewer.name) if reviewer.name not in t.approvals else t.approvals
    t = t.evolve(approvals=approvals)
    if comment:
        data["comment"] = comment
    if len(approvals) >= t.required_approvals:
        t = t.evolve(status="approved", decided_at=now, decided_by=approvals, feedback=comment,
                     approved_digest=t.executable_action.digest())
        data["status"] = "approved"
        data["approved_digest"] = t.approved_digest
        return Change(ticket=t, audit=(AuditDraft(kind="approved", actor=reviewer.name, data=data,
                                                   ticket_id=t.id),),
                      learn_fingerprint=t.fingerprint or None)
    data["status"] = "pending"
    data["approvals"] = f"{len(approvals)}/{t.required_approvals}"
    return Change(ticket=t, audit=(AuditDraft(kind="approval", actor=reviewer.name, data=data, ticket_id=t.id),))


def reject(ticket: Ticket, reviewer: Reviewer, *, tiers: Sequence[str], now: datetime, feedback: str = "",
           via: str = "") -> Change:
    """Reject: final at once, the feedback goes to the agent."""
    _pending(ticket)
    _check_reviewer(ticket, reviewer, tiers)
    t = ticket.evolve(status="rejected", decided_at=now, decided_by=(reviewer.name,), feedback=feedback)
    data: dict[str, Any] = {"reviewer": reviewer.name, "feedback": feedback, "status": "rejected"}
    if via:
        data["via"] = via
    return Change(ticket=t, audit=(AuditDraft(kind="rejected", actor=reviewer.name, ticket_id=t.id, data=data),))


def cancel(ticket: Ticket, *, actor: str, now: datetime, reason: str = "") -> Change:
    """The agent (or an operator) withdraws a pending ticket."""
    _pending(ticket)
    t = ticket.evolve(status="cancelled", decided_at=now, explanation=reason or f"cancelled by {actor}")
    return Change(ticket=t, audit=(AuditDraft(kind="cancelled", actor=actor, ticket_id=t.id,
                                              data={"status": "cancelled", "reason": reason}),))


def timeout(ticket: Ticket, *, tiers: Sequence[str], now: datetime) -> Change | None:
    """Apply ``on_timeout`` to a pending ticket past its deadline; None when nothing is due."""
    if ticket.status != "pending" or ticket.deadline is None or ticket.deadline > now:
        return None
    span = timedelta(seconds=ticket.timeout_seconds or 1800)
    waited = _fmt(span)
    if ticket.on_timeout == "escalate":
        rank = tier_rank(tiers, ticket.tier)
        if rank + 1 < len(tiers):
            nxt = tiers[rank + 1]
            t = ticket.evolve(tier=nxt, deadline=now + span, escalations=ticket.escalations + 1,
                              explanation=f"No decision within {waited}; escalated to {nxt}.")
            deadline = t.deadline.isoformat() if t.deadline else None
            return Change(ticket=t, audit=(AuditDraft(kind="escalated", actor="signoff", ticket_id=t.id,
                                                      data={"tier": nxt, "status": "pending", "deadline": deadline}),))
        t = ticket.evolve(status="expired", decided_at=now,
                          explanation=f"No decision within {waited}"
                          + (f" after {ticket.escalations} escalation(s)" if ticket.escalations else "")
                          + "; no higher tier to escalate to, so the request expired.")
    elif ticket.on_timeout == "retry":
        if ticket.retries_left > 0:
            t = ticket.evolve(deadline=now + span, retries_left=ticket.retries_left - 1,
                              explanation=f"No decision within {waited}; reviewers notified again "
                                          f"({ticket.retries_left - 1} retries left).")
            return Change(ticket=t, audit=(AuditDraft(kind="retried", actor="signoff", ticket_id=t.id,
                                                      data={"retries_left": t.retries_left, "status": "pending",
                                                            "deadline": t.deadline.isoformat() if t.deadline
                                                            else None}),))
        t = ticket.evolve(status="expired", decided_at=now,
                          explanation=f"No decision within {waited} after every retry; the request expired.")
    else:
        t = ticket.evolve(status="aborted", decided_at=now,
                          explanation=f"No decision within {waited}; the policy aborts this action on timeout. "
                                      "Do not perform it; ask again or choose another way.")
    return Change(ticket=t, audit=(AuditDraft(kind=t.status, actor="signoff", ticket_id=t.id,
                                              data={"status": t.status, "explanation": t.explanation}),))


def flag(ticket: Ticket, reviewer: Reviewer, *, now: datetime, note: str = "") -> Change:
    """A reviewer flags an action that ran under ``notify``."""
    if ticket.kind != "notification":
        raise UserError(f"ticket {ticket.id} is a {ticket.kind}; only notified actions can be flagged")
    if ticket.status == "flagged":
        raise Conflict(f"ticket {ticket.id} is already flagged")
    t = ticket.evolve(status="flagged", decided_at=now, decided_by=(reviewer.name,), feedback=note)
    return Change(ticket=t, audit=(AuditDraft(kind="flagged", actor=reviewer.name, ticket_id=t.id,
                                              data={"status": "flagged", "note": note}),))


def resolve_suggestion(ticket: Ticket, reviewer: Reviewer, *, tiers: Sequence[str], now: datetime,
                       done: bool, note: str = "") -> Change:
    """A human executed the suggestion by hand (done) or decided against it (dismissed)."""
    if ticket.kind != "suggestion":
        raise UserError(f"ticket {ticket.id} is a {ticket.kind}, not a suggestion")
    if ticket.status != "suggested":
        raise Conflict(f"suggestion {ticket.id} is already {ticket.status}")
    # The same rules as an approval: the tier the rule asks for, and never the requester's own.
    _check_reviewer(ticket, reviewer, tiers)
    status = "done" if done else "dismissed"
    t = ticket.evolve(status=status, decided_at=now, decided_by=(reviewer.name,), feedback=note)
    return Change(ticket=t, audit=(AuditDraft(kind=status, actor=reviewer.name, ticket_id=t.id,
                                              data={"status": status, "note": note}),))


DEFAULT_LEASE = timedelta(minutes=15)
"""How long a claimed run may go without a finish before it is in doubt (``Gate.open(execution_lease=)``
or the caller's ``lease`` change it)."""


def claim_execution(ticket: Ticket, *, action: Action, instance: str, now: datetime, claim_id: str | None = None,
                    lease: timedelta = DEFAULT_LEASE) -> Change | None:
    """Mark an approved ticket as executing, once, until ``now + lease``.

    A retry of the same claim (``claim_id`` already holding the run) changes nothing and is answered
    with the ticket as claimed (None): the caller whose answer was lost may run the action. Any other
    claim raises AlreadyExecuted; one from another instance while the run is still going turns it
    ``unknown`` first (a crash or a concurrent run: a human must check)."""
    if ticket.status != "approved":
        raise NotAllowed(f"ticket {ticket.id} is {ticket.status}, not approved")
    if action.digest() != ticket.approved_digest:
        raise Conflict(
            f"ticket {ticket.id}: the action to run differs from what the reviewer approved "
            "(name, arguments or agent changed); refusing to run it"
        )
    same = claim_id is not None and claim_id == ticket.claim_id
    if ticket.execution == "executing" and same:
        return None
    if lease <= timedelta(0):
        raise UserError(f"an execution lease must be positive, got {lease}")
    if ticket.execution == "none":
        t = ticket.evolve(execution="executing", executor=instance, claim_id=claim_id, lease_until=now + lease)
        data: dict[str, Any] = {"instance": instance, "lease_until": (now + lease).isoformat()}
        if claim_id is not None:
            data["claim_id"] = claim_id
        return Change(ticket=t, audit=(AuditDraft(kind="executing", actor=ticket.action.agent or "agent",
                                                  ticket_id=t.id, data=data),))
    if ticket.execution == "executing" and ticket.executor != instance:
        t = ticket.evolve(execution="unknown",
                          explanation="A run of this approval started elsewhere and never reported back "
                                      "(a crash?). It may or may not have happened: a human must check.")
        return Change(ticket=t, audit=(AuditDraft(kind="execution_unknown", actor="signoff", ticket_id=t.id,
                                                  data={"previous_instance": ticket.executor}),))
    if same:
        raise AlreadyExecuted(
            f"ticket {ticket.id}: this claim is no longer running (the run is {ticket.execution}); "
            "the action was not run by this call. " + (ticket.explanation if ticket.execution == "unknown" else "")
        )
    raise AlreadyExecuted(
        f"ticket {ticket.id} was already run ({ticket.execution}); an approval runs at most once"
    )


def finish_execution(ticket: Ticket, *, ok: bool, error: str = "", claim_id: str | None = None) -> Change | None:
    """Record how the run that claimed the ticket ended. Only that run calls this, so a ticket found
    ``unknown`` was marked so by another instance (or the lease sweep) while this run was still going:
    the run did happen, and its real outcome replaces the doubt.

    Idempotent for a claim id: the same finish again (its answer was lost) changes nothing."""
    status = "executed" if ok else "failed"
    if claim_id is not None and ticket.claim_id == claim_id and ticket.execution == status:
        return None
    if ticket.execution not in ("executing", "unknown"):
        raise Conflict(f"ticket {ticket.id} is not executing (it is {ticket.execution})")
    if claim_id is not None and ticket.claim_id is not None and claim_id != ticket.claim_id:
        raise Conflict(f"ticket {ticket.id} is held by another claim; this run cannot report its end")
    data: dict[str, Any] = {"error": error} if error else {}
    if ticket.execution == "unknown":
        data["resolved_unknown"] = True
    t = ticket.evolve(execution=status, lease_until=None)
    return Change(ticket=t, audit=(AuditDraft(kind=status, actor=ticket.action.agent or "agent", ticket_id=t.id,
                                              data=data),))


def lease_expired(ticket: Ticket, *, now: datetime) -> Change | None:
    """A run still ``executing`` past its lease becomes ``unknown``: a reviewer records whether it ran.
    None when nothing is due (finished meanwhile, or the lease not over). A run claimed before leases
    existed has none; the sweeper reaches it only because the upgrade made it due (migration 0005)."""
    if ticket.execution != "executing" or (ticket.lease_until is not None and ticket.lease_until > now):
        return None
    until = (f"within its lease (until {ticket.lease_until.isoformat(timespec='seconds')})"
             if ticket.lease_until is not None else "(it was claimed before runs had leases)")
    t = ticket.evolve(execution="unknown",
                      explanation=f"The run claimed for this approval did not report back {until}. It may or may "
                                  "not have happened: a reviewer must check and record what happened.")
    return Change(ticket=t, audit=(AuditDraft(kind="execution_unknown", actor="signoff", ticket_id=t.id,
                                              data={"reason": "lease", "instance": ticket.executor,
                                                    "claim_id": ticket.claim_id,
                                                    "lease_until": ticket.lease_until.isoformat()
                                                    if ticket.lease_until else None}),))


def resolve_unknown(ticket: Ticket, reviewer: Reviewer, *, tiers: Sequence[str], now: datetime,
                    outcome: Resolution, note: str = "", via: str = "") -> Change:
    """A reviewer records what happened to a run in doubt: it ``ran``, it did ``not_run``, or
    ``reapprove``: it did not run and may run again, which is a new approval (the tier and the number
    of approvers the ticket asks for, as ``approve``) that the agent must execute anew."""
    if ticket.execution != "unknown":
        raise Conflict(f"ticket {ticket.id}: its run is {ticket.execution}, not in doubt")
    if outcome not in ("ran", "not_run", "reapprove"):
        raise UserError(f"outcome must be ran, not_run or reapprove, got {outcome!r}")
    _check_reviewer(ticket, reviewer, tiers)
    data: dict[str, Any] = {"reviewer": reviewer.name, "outcome": outcome}
    if note:
        data["note"] = note
    if via:
        data["via"] = via
    resolved = AuditDraft(kind="execution_resolved", actor=reviewer.name, ticket_id=ticket.id, data=data)
    if outcome != "reapprove":
        t = ticket.evolve(execution="executed" if outcome == "ran" else "not_run", lease_until=None,
                          explanation=f"{reviewer.name} recorded that the run "
                                      f"{'happened' if outcome == 'ran' else 'did not happen'}.")
        return Change(ticket=t, audit=(resolved,))
    span = timedelta(seconds=ticket.timeout_seconds or 1800)
    reopened = ticket.evolve(status="pending", approvals=(), decided_at=None, decided_by=(), approved_digest=None,
                             execution="none", executor=None, claim_id=None, lease_until=None,
                             deadline=now + span, explanation="")
    again = approve(reopened, reviewer, tiers=tiers, now=now, comment=note, via=via)
    return Change(ticket=again.ticket, audit=(resolved, *again.audit), learn_fingerprint=None)


def _fmt(td: timedelta) -> str:
    from signoff.policy import format_duration

    return format_duration(td)
