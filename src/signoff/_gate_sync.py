"""The ``*_sync`` twins of the local Gate's methods, for callers without an event loop.

Each twin runs its async method on the gate's engine (``Gate._sync``) and returns its result,
so the twins hold no logic of their own: one line each, kept here so ``gate.py`` stays about
gating. ``tests/unit/test_gatelike.py`` pins that both Gates have the same twins with the
same signatures, and ``tests/contract/test_sync_twins.py`` runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from signoff import _execution as execution
from signoff._decisions import BatchResult
from signoff._gatelike import GateLike
from signoff._model import Action, Decision, Resolution, Ticket
from signoff.audit import VerifyResult
from signoff.insights import Insights
from signoff.review._flood import Surge

__all__ = ["SyncTwins"]

R = TypeVar("R")


class _AsyncGate(GateLike, Protocol):
    """What the twins need of the Gate they are mixed into: its async methods, ``_sync`` and
    the execution claims (``signoff._gate_doors``)."""

    def _sync(self, name: str, coro: Awaitable[R]) -> R: ...
    async def claim_execution(self, ticket_id: str, *, action: Action, instance: str | None = None,
                              claim_id: str | None = None, lease: float | None = None) -> Ticket: ...
    async def finish_execution(self, ticket_id: str, *, ok: bool, error: str = "",
                               claim_id: str | None = None) -> Ticket: ...


class SyncTwins:
    """Mixed into ``Gate``: ``<method>_sync`` for each async method of the GateLike surface."""

    def guard_sync(self: _AsyncGate, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                   timeout: float | None = None) -> Decision:
        return self._sync("guard_sync", self.guard(action, state=state, idempotency_key=idempotency_key,
                                                   timeout=timeout))

    def submit_sync(self: _AsyncGate, action: Action, *, state: Any = None,
                    idempotency_key: str | None = None) -> Ticket:
        return self._sync("submit_sync", self.submit(action, state=state, idempotency_key=idempotency_key))

    def submit_many_sync(self: _AsyncGate, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                         idempotency_keys: Sequence[str | None] | None = None,
                         require_review: Sequence[bool] | None = None) -> list[Ticket]:
        return self._sync("submit_many_sync", self.submit_many(
            actions, states=states, idempotency_keys=idempotency_keys, require_review=require_review))

    def wait_sync(self: _AsyncGate, ticket_id: str, timeout: float | None = None) -> Decision:
        return self._sync("wait_sync", self.wait(ticket_id, timeout=timeout))

    def resume_sync(self: _AsyncGate, ticket_id: str) -> tuple[Decision, Any]:
        return self._sync("resume_sync", self.resume(ticket_id))

    def get_ticket_sync(self: _AsyncGate, ticket_id: str) -> Ticket:
        return self._sync("get_ticket_sync", self.get_ticket(ticket_id))

    def list_tickets_sync(self: _AsyncGate, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                          agent: str | None = None, action: str | None = None, group: str | None = None,
                          batch: str | None = None, limit: int = 500, offset: int = 0,
                          newest_first: bool = False) -> list[Ticket]:
        return self._sync("list_tickets_sync", self.list_tickets(
            status=status, kind=kind, agent=agent, action=action, group=group, batch=batch, limit=limit,
            offset=offset, newest_first=newest_first))

    def find_ticket_sync(self: _AsyncGate, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        return self._sync("find_ticket_sync", self.find_ticket(idempotency_key=idempotency_key, agent=agent))

    def cancel_sync(self: _AsyncGate, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        return self._sync("cancel_sync", self.cancel(ticket_id, actor=actor, reason=reason))

    def approve_sync(self: _AsyncGate, ticket_id: str, *, reviewer: str | None = None,
                     args: Mapping[str, Any] | None = None, comment: str = "") -> Ticket:
        return self._sync("approve_sync", self.approve(ticket_id, reviewer=reviewer, args=args, comment=comment))

    def reject_sync(self: _AsyncGate, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        return self._sync("reject_sync", self.reject(ticket_id, reviewer=reviewer, feedback=feedback))

    def decide_many_sync(self: _AsyncGate, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                         feedback: str = "") -> BatchResult:
        return self._sync("decide_many_sync", self.decide_many(ticket_ids, reviewer=reviewer, approve=approve,
                                                                feedback=feedback))

    def decide_group_sync(self: _AsyncGate, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None,
                          approve: bool, feedback: str = "") -> BatchResult:
        return self._sync("decide_group_sync", self.decide_group(group, ticket_ids=ticket_ids, reviewer=reviewer,
                                                                  approve=approve, feedback=feedback))

    def decide_batch_sync(self: _AsyncGate, batch: str, *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        return self._sync("decide_batch_sync", self.decide_batch(batch, reviewer=reviewer, approve=approve,
                                                                  feedback=feedback))

    def flag_sync(self: _AsyncGate, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        return self._sync("flag_sync", self.flag(ticket_id, reviewer=reviewer, note=note))

    def resolve_suggestion_sync(self: _AsyncGate, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                note: str = "") -> Ticket:
        return self._sync("resolve_suggestion_sync", self.resolve_suggestion(ticket_id, reviewer=reviewer,
                                                                              done=done, note=note))

    def record_execution_sync(self: _AsyncGate, ticket_id: str, *, reviewer: str | None = None,
                              outcome: Resolution, note: str = "") -> Ticket:
        return self._sync("record_execution_sync", self.record_execution(ticket_id, reviewer=reviewer,
                                                                          outcome=outcome, note=note))

    def surges_sync(self: _AsyncGate) -> dict[str, Surge]:
        return self._sync("surges_sync", self.surges())

    def insights_sync(self: _AsyncGate, *, min_volume: int = 20) -> Insights:
        return self._sync("insights_sync", self.insights(min_volume=min_volume))

    def verify_audit_sync(self: _AsyncGate) -> VerifyResult:
        return self._sync("verify_audit_sync", self.verify_audit())

    def execute_sync(self: _AsyncGate, decision: Decision, fn: Callable[..., Any], *,
                     lease: float | None = None) -> Any:
        """Sync twin of ``execute``: claimed and finished on the engine, ``fn`` runs in the calling
        thread (the tool may be slow or thread-bound)."""
        return execution.drive_sync(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action, cid: self._sync("execute_sync", self.claim_execution(
                tid, action=action, claim_id=cid, lease=lease)),
            finish=lambda tid, ok, error, cid: self._sync("execute_sync", self.finish_execution(
                tid, ok=ok, error=error, claim_id=cid)))
