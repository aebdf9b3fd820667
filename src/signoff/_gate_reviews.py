"""The local Gate's reviewer decisions: ``approve``, ``reject``, ``decide_many``/``_group``/``_batch``,
``flag``, ``resolve_suggestion`` and ``record_execution``.

Each is a pure transition of ``review._transitions`` that the store applies to one ticket, with
the reviewer's record read in that ticket's own transaction (``Store.update_ticket_by``): who may
decide is checked in the Gate, whichever door the call came through. ``Gate`` inherits them;
they live apart so ``gate.py`` stays about gating.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from signoff._decisions import BatchResult
from signoff._errors import Conflict, NotAuthorized, SignoffError, UserError, public_message
from signoff._model import Action, Outcome, Resolution, Ticket, utcnow
from signoff._records import Change, Reviewer
from signoff._seen import current_seen, with_seen
from signoff._telemetry import traced
from signoff._via import current_via
from signoff.review import _transitions as tr
from signoff.review._flood import Surge, held_back
from signoff.review._grouping import shown_ids

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.policy import Policy
    from signoff.store import Store

__all__ = ["Reviews"]

P = ParamSpec("P")
R = TypeVar("R")

_NEED_REVIEWER = "a local gate needs reviewer=NAME (a RemoteGate decides as its token's reviewer)"


def _on_engine(method: Callable[Concatenate[Reviews, P], Coroutine[Any, Any, R]],
               ) -> Callable[Concatenate[Reviews, P], Coroutine[Any, Any, R]]:
    """Run a whole gate method on the engine loop: its store calls (e.g. the reviewer lookup and
    the update) then cost one thread switch there and back instead of one per call."""

    @functools.wraps(method)
    async def wrapper(self: Reviews, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._engine.run(method(self, *args, **kwargs))

    return cast("Callable[Concatenate[Reviews, P], Coroutine[Any, Any, R]]", wrapper)


class Reviews:
    """Mixed into ``Gate``; relies on its policy, store, engine, ``_judge``, ticket reads and ``surges``."""

    if TYPE_CHECKING:
        policy: Policy
        store: Store
        _engine: Engine

        def _judge(self, action: Action) -> Outcome: ...
        async def surges(self) -> dict[str, Surge]: ...
        async def get_ticket(self, ticket_id: str) -> Ticket: ...
        async def list_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                               agent: str | None = None, action: str | None = None, group: str | None = None,
                               batch: str | None = None, limit: int = 500, offset: int = 0,
                               newest_first: bool = False) -> list[Ticket]: ...

    async def _reviewer(self, name: str | None) -> Reviewer:
        if not name:
            raise UserError(_NEED_REVIEWER)
        return _known(name, await self._engine.run(self.store.get_reviewer(name)))

    async def _by_reviewer(self, ticket_id: str, name: str | None,
                           step: Callable[[Ticket, Reviewer], Change | None]) -> Ticket:
        """A reviewer's change to one ticket, their record read in the ticket's own transaction."""
        if not name:
            raise UserError(_NEED_REVIEWER)
        return await self._engine.run(self.store.update_ticket_by(
            ticket_id, name, lambda t, rv: step(t, _known(name, rv))))

    @traced("signoff.decide")
    @_on_engine
    async def approve(self, ticket_id: str, *, reviewer: str | None = None, args: Mapping[str, Any] | None = None,
                      comment: str = "") -> Ticket:
        """Approve (optionally with edited arguments, which the policy checks again).

        The audit records the door it came through (``signoff._via``: the inbox, Slack... set it)."""
        return await self._approve(ticket_id, reviewer=reviewer, args=args, comment=comment)

    async def _approve(self, ticket_id: str, *, reviewer: str | None, args: Mapping[str, Any] | None = None,
                       comment: str = "", hold: Mapping[str, Surge] | None = None) -> Ticket:
        """``approve``; a ticket of an agent in ``hold`` (approved with others while it surges) is refused."""
        via = current_via()
        seen = current_seen()  # signoff._seen: how long the reviewer had it open
        tiers = self.policy.tiers

        def change(t: Ticket, rv: Reviewer) -> Any:
            if hold and t.action.agent in hold:
                raise Conflict(held_back(hold[t.action.agent]))
            c = tr.approve(t, rv, tiers=tiers, now=utcnow(), args=args, evaluate=self._judge, comment=comment,
                           via=via)
            if c.learn_fingerprint:
                c = _with_fingerprint(c)
            return with_seen(c, seen)

        return await self._by_reviewer(ticket_id, reviewer, change)

    @traced("signoff.decide")
    @_on_engine
    async def reject(self, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        """Reject with feedback; the agent receives the words."""
        via = current_via()
        tiers = self.policy.tiers
        seen = current_seen()
        return await self._by_reviewer(ticket_id, reviewer, lambda t, rv: with_seen(
            tr.reject(t, rv, tiers=tiers, now=utcnow(), feedback=feedback, via=via), seen))

    async def decide_many(self, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        """Approve or reject several tickets; each is decided on its own (a failure skips only it).

        Approving several at once leaves out the tickets of agents the flood guard flags (``surges``):
        they are listed in ``failed`` with the reason, to be decided one by one."""
        if not reviewer:
            raise UserError(_NEED_REVIEWER)
        ids = list(ticket_ids)
        hold = await self.surges() if approve and len(ids) > 1 else {}
        decided: list[Ticket] = []
        failed: dict[str, str] = {}
        for tid in ids:
            try:
                if approve:
                    decided.append(await self._approve(tid, reviewer=reviewer, comment=feedback, hold=hold))
                else:
                    decided.append(await self.reject(tid, reviewer=reviewer, feedback=feedback))
            except SignoffError as exc:
                failed[tid] = public_message(exc)  # results travel: never a store's own words
        return BatchResult(decided=decided, failed=failed)

    async def decide_group(self, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None, approve: bool,
                           feedback: str = "") -> BatchResult:
        """Decide the tickets of ``group`` that the reviewer was shown, ``ticket_ids``, and no other.

        Never "whatever is pending in the group now": a ticket that joined the group after the
        reviewer looked is not decided. Each id is decided on its own; one not in the group, or
        already decided, is listed in ``failed``.
        """
        ids = shown_ids(ticket_ids)
        members: list[str] = []
        failed: dict[str, str] = {}
        for tid in ids:
            try:
                t = await self.get_ticket(tid)
            except SignoffError as exc:
                failed[tid] = public_message(exc)  # results travel: never a store's own words
                continue
            if t.group_key != group:  # group keys never change, so this check cannot go stale
                failed[tid] = f"ticket {tid} is not in group {group!r}"
            else:
                members.append(tid)
        result = await self.decide_many(members, reviewer=reviewer, approve=approve, feedback=feedback)
        failed.update(result.failed)
        return BatchResult(decided=result.decided, failed={tid: failed[tid] for tid in ids if tid in failed})

    async def decide_batch(self, batch: str, *, reviewer: str | None = None, approve: bool,
                           feedback: str = "") -> BatchResult:
        pending = await self.list_tickets(status="pending", batch=batch, limit=10_000)
        return await self.decide_many([t.id for t in pending], reviewer=reviewer, approve=approve, feedback=feedback)

    @_on_engine
    async def flag(self, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        """Flag an action that ran under ``notify`` for a closer look."""
        return await self._by_reviewer(ticket_id, reviewer, lambda t, rv: tr.flag(t, rv, now=utcnow(), note=note))

    @_on_engine
    async def resolve_suggestion(self, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                 note: str = "") -> Ticket:
        """Mark a suggestion done (a human executed it) or dismissed."""
        tiers = self.policy.tiers
        return await self._by_reviewer(ticket_id, reviewer, lambda t, rv: tr.resolve_suggestion(
            t, rv, tiers=tiers, now=utcnow(), done=done, note=note))

    async def record_execution(self, ticket_id: str, *, reviewer: str | None = None, outcome: Resolution,
                               note: str = "") -> Ticket:
        """Record what happened to a run in doubt (``execution == "unknown"``): it ``ran``, it did
        ``not_run``, or ``reapprove``: a new approval (the ticket's tier, as ``approve``) that the agent
        must execute again; nothing re-runs by itself."""
        tiers = self.policy.tiers
        via = current_via()
        return await self._by_reviewer(ticket_id, reviewer, lambda t, rv: tr.resolve_unknown(
            t, rv, tiers=tiers, now=utcnow(), outcome=outcome, note=note, via=via))


def _known(name: str, reviewer: Reviewer | None) -> Reviewer:
    """The reviewer as stored, if they may act at all: unknown or disabled, nothing (fail closed)."""
    if reviewer is None:
        raise NotAuthorized(f"unknown reviewer {name!r}: add them with `signoff reviewer add` or gate.add_reviewer()")
    if reviewer.disabled:
        raise NotAuthorized(f"reviewer {name!r} is disabled")
    return reviewer


def _with_fingerprint(change: Any) -> Any:
    from dataclasses import replace

    drafts = tuple(replace(d, data={**d.data, "fingerprint": change.learn_fingerprint})
                   if d.kind == "approved" else d for d in change.audit)
    return replace(change, audit=drafts)
