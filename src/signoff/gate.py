"""The Gate: evaluate an action, and when a human is needed, queue it durably and wait.

``evaluate`` is pure and fast (policy + in-memory caches of mode and known fingerprints).
Everything else goes through the store on the gate's engine loop (see ``_engine``);
waiting happens on the caller's loop and is woken by the decision itself. Sync callers
use the ``*_sync`` twins.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from signoff import _execution as execution
from signoff._allowances import AllowanceIndex
from signoff._decisions import BatchResult, decision_of, gated, intent, raise_for
from signoff._engine import Engine, check_no_running_loop
from signoff._errors import StillPending, UserError
from signoff._gate_allowances import Allowances
from signoff._gate_deadlines import Deadlines, deadline_before
from signoff._gate_doors import ServerDoors
from signoff._gate_figures import Figures
from signoff._gate_modes import Modes
from signoff._gate_reviews import Reviews
from signoff._gate_sync import SyncTwins
from signoff._model import Action, Decision, Level, Outcome, Ticket, utcnow
from signoff._shadow import ShadowRecorder, flush, run_flusher
from signoff._telemetry import traced
from signoff.client import RemoteGate
from signoff.policy import Policy, PolicySpec
from signoff.review import _submission as submission
from signoff.review import _transitions as tr
from signoff.store import Store, open_store
from signoff.store._records import (
    AuditDraft,
    Event,
    Reviewer,
    StoredState,
    TicketQuery,
    encode_state,
)

__all__ = ["BatchResult", "Gate", "decision_of", "intent", "raise_for"]

P = ParamSpec("P")
R = TypeVar("R")
_GRACE = timedelta(milliseconds=250)


def _new_id() -> str:
    return "tk_" + secrets.token_hex(8)


class Gate(SyncTwins, Deadlines, ServerDoors, Reviews, Allowances, Figures, Modes):
    """The approval gate. Open with ``Gate.open(policy=..., store=...)``; close with ``close()``."""

    def __init__(self, policy: Policy, store: Store, *, sweep: bool = True, poll_interval: float = 0.02,
                 instance: str | None = None, shadow: ShadowRecorder | None = None) -> None:
        self.policy = policy
        self._shadow = shadow  # a candidate policy evaluated beside this one (signoff._shadow)
        self.store = store
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._known: set[str] = set()
        self._engine = Engine()
        self._engine.inline = bool(getattr(store, "inline_safe", False))
        self._tasks: list[asyncio.Task[None]] = []
        self._sweep = sweep
        self._poll_interval = poll_interval
        self._closed = False
        self._wake_sweeper: asyncio.Event | None = None
        self._next_sweep = 0.0  # when the sweeper wakes next (unix time); 0 while it sweeps
        self._allowances = AllowanceIndex(policy.tiers)  # standing approvals (signoff._gate_allowances)
        self.store.notifier.add_callback(self._on_event)

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def open(cls, policy: Policy | PolicySpec | Mapping[str, Any] | str | Path,
             store: Store | str | None = "sqlite:///signoff.db", *, sweep: bool = True,
             poll_interval: float = 0.02,
             shadow_policy: Policy | PolicySpec | Mapping[str, Any] | str | Path | None = None) -> Gate:
        """Load the policy, open the store, start the sweeper; usable as ``async with`` too.

        ``shadow_policy``: a candidate evaluated beside ``policy`` on every action, with no effect
        on any decision; where it disagrees is recorded for ``insights`` (``signoff._shadow``).

        .. versionchanged:: 0.2.0 ``shadow_policy``.
        """
        pol = Policy.coerce(policy)
        shadow = ShadowRecorder(Policy.coerce(shadow_policy)) if shadow_policy is not None else None
        st = open_store(store or "sqlite://") if isinstance(store, str) or store is None else store
        gate = cls(pol, st, sweep=sweep, poll_interval=poll_interval, shadow=shadow)
        try:
            gate._engine.run_sync(gate._start())
        except BaseException:
            gate._engine.stop()
            raise
        return gate

    @classmethod
    def remote(cls, url: str, *, token: str, timeout: float = 30.0) -> RemoteGate:
        """The same interface (``signoff.GateLike``) against a running ``signoff serve``, with an
        agent or a reviewer token."""
        return RemoteGate(url, token=token, timeout=timeout)

    async def _start(self) -> None:
        await self.store.open()
        self._known = await self.store.known_fingerprints()
        await self._load_mode()
        await self._load_allowances()
        if self.policy.spec.notifications is not None:
            # Ticket events from now on are announced, whoever opens the store first (an agent's gate
            # or a server); history from before notifications were configured is not.
            await self.store.init_outbox()
        self._wake_sweeper = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._poller()))
        if self._sweep:
            self._tasks.append(loop.create_task(self._sweeper()))
        if self._shadow is not None:
            self._tasks.append(loop.create_task(run_flusher(self._shadow, self.store)))

    def close(self) -> None:
        """Stop the sweeper and close the store. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._engine.alive:
            try:
                self._engine.run_sync(self._stop(), timeout=10)
            except Exception:
                pass
        self._engine.stop()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._engine.run_here(self._stop())  # its tasks live on the engine loop
        await asyncio.get_running_loop().run_in_executor(None, self._engine.stop)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._shadow is not None:
            try:
                await flush(self._shadow, self.store)
            except Exception:  # closing goes on: shadow figures are best effort
                pass
        await self.store.close()

    async def __aenter__(self) -> Gate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Gate policy={self.policy.source} store={self.store.url} mode={self._mode}>"

    # -- background work (engine loop) ------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if ev.kind == "approved":
            fp = ev.data.get("fingerprint")
            if fp:
                self._known.add(str(fp))
        elif ev.kind == "mode":
            self._mode_event(ev)
        elif ev.kind.startswith("allowance_") or ev.kind == "reviewer":
            self._allowance_event(ev)
        if ev.kind in ("submitted", "escalated", "retried") and self._wake_sweeper is not None \
                and deadline_before(ev.data.get("deadline"), self._next_sweep):
            self._engine.loop.call_soon_threadsafe(self._wake_sweeper.set)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, action: Action) -> Outcome:
        """Pure and fast: the level, reasons, matched rules and reviewers needed for ``action``."""
        outcome = self.policy.evaluate(action, mode=self._mode, is_known=self._known.__contains__)
        if self._allowances.by_action and outcome.level is Level.APPROVE:
            outcome = self._standing(action, outcome)  # a standing approval lets it run (notify)
        if self._shadow is not None and outcome.level in _NO_TICKET:
            self._shadow.untracked(action, outcome, mode=self._mode, is_known=self._known.__contains__)
        return outcome

    def _judge(self, action: Action) -> Outcome:
        """``evaluate`` without the shadow's count: for actions that make a ticket (counted by id)
        and for a reviewer's edited arguments (not a new action)."""
        return self.policy.evaluate(action, mode=self._mode, is_known=self._known.__contains__)

    def _shadow_tickets(self, made: Sequence[tuple[Ticket, bool]], outcomes: Sequence[Outcome]) -> None:
        if self._shadow is not None:
            for (ticket, created), outcome in zip(made, outcomes, strict=True):
                if created:
                    self._shadow.ticket(ticket, outcome, mode=self._mode, is_known=self._known.__contains__)

    async def evaluate_async(self, action: Action) -> Outcome:
        """``evaluate`` for code written against ``GateLike`` (a RemoteGate asks its server)."""
        return self.evaluate(action)

    # -- agent side -------------------------------------------------------------------------
    def _ticket_for(self, action: Action, outcome: Outcome, *, now: datetime, idempotency_key: str | None,
                    batch_id: str | None, state: StoredState | None) -> Ticket:
        return submission.new_ticket(action, outcome, ticket_id=_new_id(), now=now, idempotency_key=idempotency_key,
                                     batch_id=batch_id, has_state=state is not None)

    def _check_submission(self, action: Action, outcome: Outcome) -> None:
        submission.check(action, outcome)

    def _instant_decision(self, action: Action, outcome: Outcome) -> Decision:
        return submission.instant_decision(action, outcome)

    @traced("signoff.submit")
    async def submit(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        """Queue ``action`` durably and return at once. The same idempotency key returns the same ticket."""
        return (await self._submit([action], states=[state], keys=[idempotency_key], batch=False))[0]

    async def submit_many(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                          idempotency_keys: Sequence[str | None] | None = None,
                          require_review: Sequence[bool] | None = None) -> list[Ticket]:
        """Queue several actions as one batch (reviewed together); one transaction.

        ``require_review[i]`` makes a person approve action ``i`` even where the policy would let it
        run with a feed record (``notify``): how an adapter keeps a tool its author gated gated.
        It never lowers anything (``deny`` and ``suggest`` stay).

        .. versionchanged:: 0.2.0 ``require_review``.
        """
        return await self._submit(list(actions), states=list(states or [None] * len(actions)),
                                  keys=list(idempotency_keys or [None] * len(actions)), batch=True,
                                  review=list(require_review or [False] * len(actions)))

    async def _submit(self, actions: list[Action], *, states: list[Any], keys: list[str | None],
                      batch: bool, review: list[bool] | None = None) -> list[Ticket]:
        review = review if review is not None else [False] * len(actions)
        if len(states) != len(actions) or len(keys) != len(actions) or len(review) != len(actions):
            raise UserError("states, idempotency_keys and require_review must have one entry per action")
        now = utcnow()
        batch_id = ("bt_" + secrets.token_hex(6)) if batch else None
        rows = []
        judged = []
        for action, state, key, ask in zip(actions, states, keys, review, strict=True):
            outcome = self._judge(action)
            judged.append(outcome)
            if self._allowances.by_action and outcome.level is Level.APPROVE:
                outcome = self._standing(action, outcome)
            self._check_submission(action, outcome)
            if outcome.level is Level.AUTO or (ask and outcome.level is Level.NOTIFY):
                outcome = _force_approval(outcome)  # an explicit submit always asks a human
            stored = encode_state(state)
            rows.append((self._ticket_for(action, outcome, now=now, idempotency_key=key, batch_id=batch_id,
                                          state=stored), stored))
        results = await self._engine.run(self.store.insert_tickets(
            rows, max_pending=self.policy.spec.defaults.max_pending_per_agent))
        self._shadow_tickets(results, judged)
        if self._allowances.by_action:
            await self._engine.run(self._audit_uses(results))
        return [t for t, _ in results]

    @traced("signoff.guard")
    async def guard(self, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                    timeout: float | None = None) -> Decision:
        """Evaluate; if a human is needed, submit and wait until decided or timed out. Never raises
        for a refusal: the Decision says (``raise_for`` or ``gated`` turn it into an error)."""
        outcome = self.evaluate(action)
        if outcome.level is Level.AUTO:
            return self._instant_decision(action, outcome)
        if outcome.level is Level.DENY:
            decision = self._instant_decision(action, outcome)
            await self._engine.run(self.store.append_audit(AuditDraft(
                kind="denied", actor=action.agent or "agent",
                data={"action": action.name, "digest": action.digest(), "rules": list(outcome.matched_rules)})))
            return decision
        self._check_submission(action, outcome)
        stored = encode_state(state)
        ticket = self._ticket_for(action, outcome, now=utcnow(), idempotency_key=idempotency_key,
                                  batch_id=None, state=stored)
        made = await self._engine.run(self.store.insert_tickets(
            [(ticket, stored)], max_pending=self.policy.spec.defaults.max_pending_per_agent))
        self._shadow_tickets(made, [outcome])
        if outcome.level is Level.NOTIFY and self._allowances.by_action:
            await self._engine.run(self._audit_uses(made))
        [(ticket, _)] = made
        if ticket.kind != "approval":
            return decision_of(ticket)
        return await self.wait(ticket.id, timeout=timeout)

    @traced("signoff.wait")
    async def wait(self, ticket_id: str, timeout: float | None = None) -> Decision:
        """Wait for the decision. Returns when decided, expired or aborted (the deadline is enforced
        here too, within a second); raises StillPending when ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout if timeout is not None else None
        notifier = self.store.notifier
        while True:
            fut = notifier.waiter(ticket_id)
            try:
                t = await self._engine.run(self.store.get_ticket(ticket_id))
                if t.status != "pending":
                    return decision_of(t)
                wake = None
                if t.deadline is not None:
                    wake = loop.time() + max(0.0, (t.deadline + _GRACE - utcnow()).total_seconds())
                if give_up is not None:
                    wake = give_up if wake is None else min(wake, give_up)
                try:
                    if wake is None:
                        await fut
                    else:
                        async with asyncio.timeout_at(wake):
                            await asyncio.shield(fut)
                    continue
                except TimeoutError:
                    pass
                if give_up is not None and loop.time() >= give_up:
                    raise StillPending(f"ticket {ticket_id} is still pending after {timeout:g}s",
                                       ticket_id=ticket_id)
                # The deadline passed: apply the timeout ourselves rather than trust the sweeper.
                await self._expire(ticket_id)
            finally:
                notifier.discard(ticket_id, fut)

    async def resume(self, ticket_id: str) -> tuple[Decision, Any]:
        """The decision (waiting if needed) and the state stored at submission; from any process."""
        # A decided ticket (the usual case) costs one trip to the engine, not two.
        decided = await self._engine.run(self._decided_with_state(ticket_id))
        if decided is not None:
            decision, state = decided
        else:
            decision = await self.wait(ticket_id)
            state = await self._engine.run(self.store.get_state(ticket_id))
        return decision, state.value() if state is not None else None

    async def _decided_with_state(self, ticket_id: str) -> tuple[Decision, StoredState | None] | None:
        t, state = await self.store.get_ticket_with_state(ticket_id)
        return None if t.status == "pending" else (decision_of(t), state)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        return await self._engine.run(self.store.get_ticket(ticket_id))

    async def list_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                           agent: str | None = None, action: str | None = None, group: str | None = None,
                           batch: str | None = None, limit: int = 500, offset: int = 0,
                           newest_first: bool = False) -> list[Ticket]:
        """Tickets matching every filter given."""
        q = TicketQuery(status=status if isinstance(status, (str, type(None))) else tuple(status), kind=kind,
                        agent=agent, action=action, group=group, batch=batch, limit=limit, offset=offset,
                        newest_first=newest_first)
        return await self._engine.run(self.store.list_tickets(q))

    async def find_ticket(self, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        """The ticket ``agent`` submitted under ``idempotency_key``, if any: how a restarted agent finds its
        request. Keys belong to one agent (``Action.agent``; ``""`` when the actions name none)."""
        found = await self._engine.run(self.store.list_tickets(TicketQuery(idempotency_key=idempotency_key,
                                                                           agent=agent, limit=1)))
        return found[0] if found else None

    async def cancel(self, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        return await self._engine.run(self.store.update_ticket(
            ticket_id, lambda t: tr.cancel(t, actor=actor, now=utcnow(), reason=reason)))

    # -- executing approved actions ---------------------------------------------------------
    @traced("signoff.execute")
    async def execute(self, decision: Decision, fn: Callable[..., Any], *, lease: float | None = None) -> Any:
        """Run ``fn(**decision.args)`` if the decision allows it, at most once per approval
        (claim, run, finish: ``signoff._execution``, shared with ``RemoteGate``). ``lease``: the seconds
        the run may take before it is in doubt (default: the policy's ``lease``, else ``execution_lease``)."""
        return await execution.drive(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action, cid: self.claim_execution(tid, action=action, claim_id=cid, lease=lease),
            finish=lambda tid, ok, error, cid: self.finish_execution(tid, ok=ok, error=error, claim_id=cid))

    def gated(self, name: str | None = None, *, agent: str = "", tags: Iterable[str] = (),
              external: bool = False, timeout: float | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Wrap a tool (sync or async): it runs only when allowed, with the reviewer's edited arguments;
        otherwise raises Denied / Suggested / Rejected / Expired. Give reasoning with ``signoff.intent``."""
        return gated(self, name, agent=agent, tags=tags, external=external, timeout=timeout)

    # -- reviewer side (their decisions: signoff._gate_reviews) ----------------------------
    def add_reviewer(self, name: str, *, tier: str | None = None, password: str | None = None,
                     actor: str = "admin") -> None:
        """Create or update a reviewer (stored with its tier; the password hashed with argon2)."""
        if tier is not None and tier not in self.policy.tiers:
            raise UserError(f"unknown tier {tier!r}; the policy's tiers are {self.policy.tiers or 'none'}")
        hashed = None
        if password is not None:
            from signoff._passwords import hash_password

            hashed = hash_password(password)
        self._engine.run_sync(self.store.put_reviewer(Reviewer(name=name, tier=tier, password_hash=hashed),
                                                      actor=actor))

    # -- sync twins: the methods are in signoff._gate_sync; this runs each on the engine ---------
    def _sync(self, name: str, coro: Awaitable[R]) -> R:
        try:
            check_no_running_loop(name)
            if not self._engine.alive:
                raise UserError("the gate is closed")
        except UserError:
            cast(Any, coro).close()
            raise
        return self._engine.run_sync(_in_engine(coro))


async def _in_engine(coro: Awaitable[R]) -> R:
    return await coro


_NO_TICKET = frozenset((Level.AUTO, Level.DENY))  # outcomes the shadow counts at evaluation


def _force_approval(outcome: Outcome) -> Outcome:
    from dataclasses import replace

    from signoff._model import Reason

    return replace(outcome, level=Level.APPROVE, reasons=(*outcome.reasons, Reason(
        code="policy_boundary", level=Level.APPROVE,
        message="Submitted explicitly for review by the agent.")))


if TYPE_CHECKING:  # mypy --strict proves both sides implement GateLike
    from signoff._gatelike import GateLike

    _local: type[GateLike] = Gate
    _remote: type[GateLike] = RemoteGate
