"""The local Gate's standing approvals: ``allow``, ``confirm_allowance``, ``revoke_allowance``,
``list_allowances``, and the step of evaluation that applies them (``signoff._allowances``).

Every check is here, in the Gate, whichever door the call came through (the inbox, the API,
the CLI): who may give an allowance (a reviewer who may decide its ticket, and for any agent
only the top tier), what it may lower (``approve`` from the rules, never ``deny``/``suggest``
nor a mode's ``approve``), and how many reviewers it takes (the ticket's approvers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from signoff._allowances import (
    Allowance,
    AllowanceIndex,
    allowance_of,
    check_condition,
    covers,
    expiry_of,
    new_allowance_id,
    raised_by_mode,
)
from signoff._errors import Conflict, NotAuthorized, NotFound, UserError
from signoff._model import Action, Outcome, Ticket, utcnow
from signoff._records import AuditDraft, Event, Reviewer
from signoff._via import current_via
from signoff.review import _transitions as tr

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.policy import Policy
    from signoff.store import Store

__all__ = ["Allowances", "listed", "revoke_in"]

R = TypeVar("R")

_CHANGES = ("allowance_created", "allowance_confirmed", "allowance_revoked")


class Allowances:
    """Mixed into ``Gate``; relies on its policy, store, engine and reviewer lookup."""

    _allowances: AllowanceIndex

    if TYPE_CHECKING:
        policy: Policy
        store: Store
        _engine: Engine
        _tasks: list[asyncio.Task[None]]

        async def _reviewer(self, name: str | None) -> Reviewer: ...
        async def _approve(self, ticket_id: str, *, reviewer: str | None, comment: str = "") -> Ticket: ...
        def _sync(self, name: str, coro: Awaitable[R]) -> R: ...

    # -- evaluation (pure, in memory) ------------------------------------------------------------
    def _standing(self, action: Action, outcome: Outcome) -> Outcome:
        """``outcome``, lowered to ``notify`` when a standing allowance covers it."""
        index = self._allowances
        if action.name not in index.by_action or not covers(outcome):
            return outcome
        tier = outcome.reviewers.tier
        # A tier the policy no longer lists needs the top tier (fail closed, as ``tier_rank``).
        rank = -1 if tier is None else index.tier_ranks.get(tier, len(index.tier_ranks) - 1)
        found = index.match(action, outcome, tier_rank=rank)
        return index.lowered(outcome, found) if found is not None else outcome

    def _allowance_event(self, ev: Event) -> None:
        """Follow a change made by any gate on the store (its audit entry carries the record), and
        reviewers' changes (``put_reviewer``'s entry: a disabled or demoted reviewer's allowances shrink)."""
        try:
            if ev.kind in _CHANGES:
                self._allowances.put(Allowance.from_dict(ev.data["allowance"]))
            elif ev.kind == "reviewer":
                tier = ev.data.get("tier")
                self._allowances.reviewer(str(ev.data["name"]), tier=tier if isinstance(tier, str) else None,
                                          disabled=bool(ev.data.get("disabled")))
        except Exception:  # an entry we cannot read might be a revocation: hold none until reloaded
            self._allowances.load([])
            self._engine.loop.call_soon_threadsafe(self._reload_allowances)

    def _reload_allowances(self) -> None:
        """Read every allowance again from the store (engine loop), after an event we could not apply."""
        self._tasks.append(asyncio.ensure_future(self._load_allowances()))

    async def _load_allowances(self) -> None:
        """At start: the reviewers as they are, then every allowance (engine loop)."""
        for r in await self.store.list_reviewers():
            self._allowances.reviewer(r.name, tier=r.tier, disabled=r.disabled)
        self._allowances.load(await self.store.list_allowances())

    async def _audit_uses(self, made: Sequence[tuple[Ticket, bool]]) -> None:
        """An ``allowance_used`` entry for each new ticket an allowance let through (engine loop)."""
        for ticket, created in made:
            aid = allowance_of(ticket.reasons) if ticket.kind == "notification" else None
            if created and aid is not None:
                await self.store.append_audit(AuditDraft(
                    kind="allowance_used", actor=ticket.action.agent or "agent", ticket_id=ticket.id,
                    data={"allowance_id": aid, "action": ticket.action.name, "agent": ticket.action.agent}))

    # -- the reviewer's side ---------------------------------------------------------------------
    async def allow(self, ticket_id: str, *, reviewer: str | None = None, condition: str | None = None,
                    expires: str | timedelta | None = "1d", any_agent: bool = False,
                    comment: str = "") -> Allowance:
        """Approve ``ticket_id`` (if it is still pending) and let its agent repeat its action without
        asking: "approve and always allow".

        ``condition``: CEL over ``args`` that must hold (``propose_condition`` drafts one from the
        approved arguments); ``expires``: ``"1h"``, ``"1d"``, ``"7d"``, ``"never"``/None (until
        revoked) or a timedelta; ``any_agent``: every agent, for the policy's top tier only.
        On a ticket needing N approvers the allowance stands once N reviewers gave it
        (``confirm_allowance``, or ``allow`` by another reviewer with the same scope and condition).
        Audited as ``allowance_created`` (``allowance_confirmed``).

        .. versionadded:: 0.2.0
        """
        return await self._engine.run(self._allow(ticket_id, reviewer=reviewer, condition=condition,
                                                  expires=expires, any_agent=any_agent, comment=comment))

    async def _allow(self, ticket_id: str, *, reviewer: str | None, condition: str | None,
                     expires: str | timedelta | None, any_agent: bool, comment: str) -> Allowance:
        rv = await self._reviewer(reviewer)
        cond = check_condition(condition)
        now = utcnow()
        until = expiry_of(expires, now)
        tiers = self.policy.tiers
        if any_agent:
            _check_top(rv, tiers)
        t = await self.store.get_ticket(ticket_id)
        if t.kind != "approval":
            raise UserError(f"ticket {t.id} is a {t.kind}: only a request for approval can be allowed standing")
        if raised_by_mode(t.reasons):
            raise UserError(f"ticket {t.id} asks a human because of the mode in force, which an allowance never "
                            "lowers: approve it without allowing")
        _check_may(t, rv, tiers)
        if t.status == "pending" and rv.name not in t.approvals:
            t = await self._approve(ticket_id, reviewer=rv.name, comment=comment)
        elif rv.name not in t.approvals:
            raise Conflict(f"ticket {t.id} is already {t.status}; only a reviewer who approved it may allow it "
                           "standing", ticket_id=t.id, status=t.status)
        agent = None if any_agent else t.action.agent
        for other in await self.store.list_allowances():
            # A second reviewer allowing the same scope on a four-eyes ticket confirms the first's allowance.
            if other.ticket_id == t.id and other.status(now) == "pending" and rv.name not in other.reviewers \
                    and (other.agent, other.condition) == (agent, cond):
                return await self._confirm(other.id, reviewer=rv.name)
        allowance = Allowance(
            id=new_allowance_id(), action=t.action.name, agent=agent,
            condition=cond, tier=rv.tier, required=t.required_approvals, reviewers=(rv.name,), ticket_id=t.id,
            created_at=now, expires_at=until, comment=comment)
        made = await self.store.insert_allowance(allowance, actor=rv.name, via=current_via())
        self._allowances.put(made)
        return made

    async def confirm_allowance(self, allowance_id: str, *, reviewer: str | None = None) -> Allowance:
        """Add a second (third...) reviewer to an allowance: one made from a ticket that needs several
        approvers stands once that many gave it. The same checks as ``allow``. Audited.

        .. versionadded:: 0.2.0
        """
        return await self._engine.run(self._confirm(allowance_id, reviewer=reviewer))

    async def _confirm(self, allowance_id: str, *, reviewer: str | None) -> Allowance:
        rv = await self._reviewer(reviewer)
        tiers = self.policy.tiers
        found = await self._find(allowance_id)
        if found.agent is None:
            _check_top(rv, tiers)
        if found.ticket_id is not None:
            _check_may(await self.store.get_ticket(found.ticket_id), rv, tiers)

        def change(a: Allowance) -> tuple[Allowance, str]:
            status = a.status()
            if status in ("revoked", "expired"):
                raise Conflict(f"allowance {a.id} is {status}")
            if rv.name in a.reviewers:
                raise NotAuthorized(f"{rv.name!r} already gave allowance {a.id}; it needs "
                                    f"{a.required} distinct reviewers")
            lowest = a.tier if tr.reviewer_rank(tiers, a.tier) <= tr.reviewer_rank(tiers, rv.tier) else rv.tier
            return _evolve(a, reviewers=(*a.reviewers, rv.name), tier=lowest), "allowance_confirmed"

        made = await self.store.update_allowance(allowance_id, change, actor=rv.name, via=current_via())
        self._allowances.put(made)
        return made

    async def revoke_allowance(self, allowance_id: str, *, reviewer: str | None = None,
                               actor: str = "operator") -> Allowance:
        """End an allowance now; requests ask again. Any enabled reviewer may (revoking only
        restricts); without one the call is the operator's own, recorded as ``actor``. Audited.

        .. versionadded:: 0.2.0
        """
        return await self._engine.run(self._revoke(allowance_id, reviewer=reviewer, actor=actor))

    async def _revoke(self, allowance_id: str, *, reviewer: str | None, actor: str) -> Allowance:
        if reviewer is not None:
            rv = await self._reviewer(reviewer)
            if rv.disabled:
                raise NotAuthorized(f"reviewer {rv.name!r} is disabled")
            actor = rv.name
        made = await revoke_in(self.store, allowance_id, actor=actor)
        self._allowances.put(made)
        return made

    async def list_allowances(self, *, include_ended: bool = False) -> list[Allowance]:
        """Standing and pending allowances, oldest first (``include_ended``: revoked and expired too),
        each with ``uses`` and ``last_used_at``: how often and when it last let a request through.

        .. versionadded:: 0.2.0
        .. versionchanged:: 0.2.0 ``uses`` and ``last_used_at``.
        """
        return await self._engine.run(listed(self.store, include_ended=include_ended))

    # -- sync twins (keep in sync) ----------------------------------------------------------------
    def allow_sync(self, ticket_id: str, *, reviewer: str | None = None, condition: str | None = None,
                   expires: str | timedelta | None = "1d", any_agent: bool = False,
                   comment: str = "") -> Allowance:
        return self._sync("allow_sync", self.allow(ticket_id, reviewer=reviewer, condition=condition,
                                                   expires=expires, any_agent=any_agent, comment=comment))

    def confirm_allowance_sync(self, allowance_id: str, *, reviewer: str | None = None) -> Allowance:
        return self._sync("confirm_allowance_sync", self.confirm_allowance(allowance_id, reviewer=reviewer))

    def revoke_allowance_sync(self, allowance_id: str, *, reviewer: str | None = None,
                              actor: str = "operator") -> Allowance:
        return self._sync("revoke_allowance_sync", self.revoke_allowance(allowance_id, reviewer=reviewer,
                                                                         actor=actor))

    def list_allowances_sync(self, *, include_ended: bool = False) -> list[Allowance]:
        return self._sync("list_allowances_sync", self.list_allowances(include_ended=include_ended))

    async def _find(self, allowance_id: str) -> Allowance:
        for a in await self.store.list_allowances():
            if a.id == allowance_id:
                return a
        raise NotFound(f"no allowance {allowance_id!r}")


async def listed(store: Store, *, include_ended: bool) -> list[Allowance]:
    """The allowances ``list_allowances`` shows, with their uses: two reads (the records, then one grouped
    count over the audit log's ``allowance_used`` entries, skipped when there is nothing to show)."""
    found = await store.list_allowances()
    now = utcnow()
    if not include_ended:
        found = [a for a in found if a.status(now) in ("active", "pending")]
    if not found:
        return found
    uses = await store.allowance_uses()
    return [a.with_uses(uses) for a in found]


async def revoke_in(store: Store, allowance_id: str, *, actor: str) -> Allowance:
    """Revoke an allowance in ``store`` (the Gate's step, and the CLI's without a policy at hand)."""
    now = utcnow()

    def change(a: Allowance) -> tuple[Allowance, str]:
        if a.revoked_at is not None:
            raise Conflict(f"allowance {a.id} is already revoked (by {a.revoked_by})")
        return _evolve(a, revoked_at=now, revoked_by=actor), "allowance_revoked"

    return await store.update_allowance(allowance_id, change, actor=actor)


def _evolve(a: Allowance, **changes: object) -> Allowance:
    from dataclasses import replace

    return replace(a, **changes)  # type: ignore[arg-type]


def _check_may(ticket: Ticket, rv: Reviewer, tiers: Sequence[str]) -> None:
    """A reviewer may allow only what they could approve: the ticket's own rule (``may_decide``)."""
    refusal = tr.may_decide(ticket, rv, tiers)
    if refusal == "disabled":
        raise NotAuthorized(f"reviewer {rv.name!r} is disabled")
    if refusal == "own_request":
        raise NotAuthorized(f"{rv.name!r} requested ticket {ticket.id} and cannot allow it")
    if refusal == "tier":
        raise NotAuthorized(f"ticket {ticket.id} needs a {ticket.tier} reviewer; {rv.name!r} is "
                            f"{rv.tier or 'without a tier'}, so cannot allow it")


def _check_top(rv: Reviewer, tiers: Sequence[str]) -> None:
    if tiers and rv.tier != tiers[-1]:
        raise NotAuthorized(f"only a {tiers[-1]} reviewer may allow an action for any agent; {rv.name!r} is "
                            f"{rv.tier or 'without a tier'}")
