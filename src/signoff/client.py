"""``Gate.remote(url, token=...)``: the Gate's interface over HTTP, against ``signoff serve``.

Every method of a local Gate that makes sense across the network is here under the same
name and signature, returns the same types (``Ticket``, ``Decision``, ``Outcome``...) and
raises the same exceptions (the server sends the exception's class in its problem+json
answers). Waits are long-polls woken by the decision on the server, repeated until a
decision or the caller's timeout; never a tight polling loop.

This module is the surface (the GateLike methods, async and ``*_sync``). Each operation is
written once as a flow in ``signoff._remote_flows`` (the HTTP calls it needs, as a generator),
which ``signoff._remote_transport`` drives with ``httpx`` (an ``AsyncClient`` for the async
methods, a ``Client`` for the twins) and whose errors it turns back into signoff's exceptions.
"""

from __future__ import annotations

import os
import secrets
import socket
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from signoff import _execution as execution
from signoff._allowances import Allowance
from signoff._decisions import BatchResult, gated
from signoff._errors import UserError
from signoff._model import Action, Decision, Outcome, Resolution, Ticket
from signoff._remote_flows import RemoteFlows
from signoff._telemetry import traced
from signoff.audit import VerifyResult
from signoff.insights import Insights
from signoff.review._flood import Surge

__all__ = ["RemoteGate"]

R = TypeVar("R")


class RemoteGate(RemoteFlows):
    """A Gate on the other side of HTTP. Make one with ``signoff.Gate.remote(url, token=...)``.

    An agent token submits and waits as its agent; a reviewer token decides as its reviewer
    (the ``reviewer=`` arguments may be left out; when given they must name the token's
    reviewer). Close with ``close()`` / ``await aclose()`` or use it as a context manager.
    """

    def __init__(self, url: str, *, token: str, timeout: float = 30.0, poll_seconds: float = 25.0) -> None:
        super().__init__(url, token=token, timeout=timeout)
        self._poll = poll_seconds
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    def __repr__(self) -> str:
        return f"<RemoteGate {self.url}>"

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> RemoteGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RemoteGate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, action: Action) -> Outcome:
        """The policy's outcome for ``action``, computed by the server (one HTTP round trip)."""
        return self._drive_sync(self._f_evaluate(action))

    async def evaluate_async(self, action: Action) -> Outcome:
        return await self._drive(self._f_evaluate(action))

    @property
    def mode(self) -> str | None:
        """Deprecated: a property that blocks on HTTP. Use ``get_mode()`` / ``get_mode_sync()``.

        .. deprecated:: 0.2.0
        """
        warnings.warn("RemoteGate.mode blocks on an HTTP round trip; use `await gate.get_mode()` or "
                      "`gate.get_mode_sync()`", DeprecationWarning, stacklevel=2)
        return self.get_mode_sync()

    async def get_mode(self) -> str | None:
        """The mode in force on the server (one HTTP round trip)."""
        return await self._drive(self._f_get_mode())

    def get_mode_sync(self) -> str | None:
        return self._twin("get_mode_sync", self._f_get_mode())

    # -- agent side -----------------------------------------------------------------------------
    @traced("signoff.guard")
    async def guard(self, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                    timeout: float | None = None) -> Decision:
        """Evaluate; if a human is needed, submit and wait until decided (or ``timeout``: StillPending)."""
        return await self._drive(self._f_guard(action, state, idempotency_key, timeout))

    @traced("signoff.submit")
    async def submit(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        return await self._drive(self._f_submit(action, state, idempotency_key))

    async def submit_many(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                          idempotency_keys: Sequence[str | None] | None = None,
                          require_review: Sequence[bool] | None = None) -> list[Ticket]:
        return await self._drive(self._f_submit_many(actions, states, idempotency_keys, require_review))

    @traced("signoff.wait")
    async def wait(self, ticket_id: str, timeout: float | None = None) -> Decision:
        """Long-poll until decided; StillPending when ``timeout`` seconds pass first."""
        return await self._drive(self._f_wait_decision(ticket_id, timeout))

    async def resume(self, ticket_id: str) -> tuple[Decision, Any]:
        """The decision (waiting if needed) and the state stored at submission (JSON value or bytes)."""
        return await self._drive(self._f_resume(ticket_id))

    async def get_ticket(self, ticket_id: str) -> Ticket:
        return await self._drive(self._f_get(ticket_id))

    async def list_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                           agent: str | None = None, action: str | None = None, group: str | None = None,
                           batch: str | None = None, limit: int = 500, offset: int = 0,
                           newest_first: bool = False) -> list[Ticket]:
        return await self._drive(self._f_list(status, kind, agent, action, group, batch, limit, offset,
                                              newest_first))

    async def find_ticket(self, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        """The ticket submitted under ``idempotency_key`` (an agent token: its own agent's only)."""
        return await self._drive(self._f_find(idempotency_key, agent))

    async def cancel(self, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        """Withdraw a pending ticket (the server records the token's agent as the actor)."""
        return await self._drive(self._f_cancel(ticket_id, reason))

    @traced("signoff.execute")
    async def execute(self, decision: Decision, fn: Callable[..., Any], *, lease: float | None = None) -> Any:
        """Run ``fn(**decision.args)`` if the decision allows it, at most once per approval
        (claim, run, finish: ``signoff._execution``, shared with the local Gate); ``lease`` as there."""
        return await execution.drive(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action, cid: self._drive(self._f_claim(tid, action, cid, lease)),
            finish=lambda tid, ok, error, cid: self._drive(self._f_finish(tid, ok, error, cid)))

    def gated(self, name: str | None = None, *, agent: str = "", tags: Iterable[str] = (),
              external: bool = False, timeout: float | None = None) -> Callable[[Callable[..., R]], Callable[..., R]]:
        """Wrap a tool like ``Gate.gated``: it runs only when allowed, with the reviewer's edited arguments."""
        # Gate.gated only calls guard/execute and their _sync twins, which this class has with the
        # same signatures: reuse it rather than keep a copy in step.
        return gated(self, name, agent=agent, tags=tags, external=external, timeout=timeout)

    # -- reviewer side --------------------------------------------------------------------------
    @traced("signoff.decide")
    async def approve(self, ticket_id: str, *, reviewer: str | None = None, args: Mapping[str, Any] | None = None,
                      comment: str = "") -> Ticket:
        return await self._drive(self._f_approve(ticket_id, reviewer, args, comment))

    @traced("signoff.decide")
    async def reject(self, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        return await self._drive(self._f_reject(ticket_id, reviewer, feedback))

    async def decide_many(self, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        return await self._drive(self._f_decide_many(list(ticket_ids), reviewer, approve, feedback))

    async def decide_group(self, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None,
                           approve: bool, feedback: str = "") -> BatchResult:
        """Decide the tickets of ``group`` the reviewer was shown (``ticket_ids``), and no other."""
        return await self._drive(self._f_decide_group(group, ticket_ids, reviewer, approve, feedback))

    async def decide_batch(self, batch: str, *, reviewer: str | None = None, approve: bool,
                           feedback: str = "") -> BatchResult:
        return await self._drive(self._f_decide_batch(batch, reviewer, approve, feedback))

    async def flag(self, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        return await self._drive(self._f_flag(ticket_id, reviewer, note))

    async def resolve_suggestion(self, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                 note: str = "") -> Ticket:
        return await self._drive(self._f_resolve(ticket_id, reviewer, done, note))

    async def surges(self) -> dict[str, Surge]:
        """Agents the flood guard flags, by name (a reviewer token; ``Gate.surges``)."""
        return await self._drive(self._f_surges())

    async def runs_in_doubt(self, *, limit: int = 100) -> list[Ticket]:
        """Approved tickets whose run is in doubt, oldest first (a reviewer token)."""
        return await self._drive(self._f_in_doubt(limit))

    async def record_execution(self, ticket_id: str, *, reviewer: str | None = None, outcome: Resolution,
                               note: str = "") -> Ticket:
        """Record what happened to a run in doubt (``Gate.record_execution``)."""
        return await self._drive(self._f_record_execution(ticket_id, reviewer, outcome, note))

    async def set_mode_async(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Switch a mode on (``None``: off). The token's reviewer is the actor and must be of the policy's
        top tier (the server answers 403 otherwise); ``actor`` and ``reviewer`` are accepted for the
        local Gate's signature, and a ``reviewer`` other than the token's is refused."""
        await self._drive(self._f_mode(mode, reviewer))

    def set_mode(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Sync-first like ``evaluate`` (the 0.1 contract's ``gate.set_mode("incident")``), and like a local
        Gate's it may be called anywhere, a running loop included (it then blocks that loop for one round
        trip, as ``evaluate`` does); async code should prefer ``set_mode_async``."""
        self._drive_sync(self._f_mode(mode, reviewer))

    async def insights(self, *, min_volume: int = 20) -> Insights:
        return await self._drive(self._f_insights(min_volume))

    async def verify_audit(self) -> VerifyResult:
        return await self._drive(self._f_verify())

    async def allow(self, ticket_id: str, *, reviewer: str | None = None, condition: str | None = None,
                    expires: str | timedelta | None = "1d", any_agent: bool = False,
                    comment: str = "") -> Allowance:
        """Approve and always allow (``Gate.allow``); ``expires`` is one of 1h, 1d, 7d, never here."""
        return await self._drive(self._f_allow(ticket_id, reviewer, condition, expires, any_agent, comment))

    def allow_sync(self, ticket_id: str, *, reviewer: str | None = None, condition: str | None = None,
                   expires: str | timedelta | None = "1d", any_agent: bool = False,
                   comment: str = "") -> Allowance:
        return self._twin("allow_sync", self._f_allow(ticket_id, reviewer, condition, expires, any_agent, comment))

    async def confirm_allowance(self, allowance_id: str, *, reviewer: str | None = None) -> Allowance:
        return await self._drive(self._f_allowance(allowance_id, "confirm", reviewer))

    def confirm_allowance_sync(self, allowance_id: str, *, reviewer: str | None = None) -> Allowance:
        return self._twin("confirm_allowance_sync", self._f_allowance(allowance_id, "confirm", reviewer))

    async def revoke_allowance(self, allowance_id: str, *, reviewer: str | None = None,
                               actor: str = "operator") -> Allowance:
        """End an allowance; the token's reviewer is recorded (``actor`` is for the local Gate)."""
        return await self._drive(self._f_allowance(allowance_id, "revoke", reviewer))

    def revoke_allowance_sync(self, allowance_id: str, *, reviewer: str | None = None,
                              actor: str = "operator") -> Allowance:
        return self._twin("revoke_allowance_sync", self._f_allowance(allowance_id, "revoke", reviewer))

    async def list_allowances(self, *, include_ended: bool = False) -> list[Allowance]:
        return await self._drive(self._f_allowances(include_ended))

    def list_allowances_sync(self, *, include_ended: bool = False) -> list[Allowance]:
        return self._twin("list_allowances_sync", self._f_allowances(include_ended))

    def add_reviewer(self, name: str, *, tier: str | None = None, password: str | None = None,
                     actor: str = "admin") -> None:
        """Not over HTTP: reviewers are managed where the database is (``signoff reviewer add``)."""
        raise UserError("reviewers cannot be added through the API; run `signoff reviewer add --db URL NAME` "
                        "where the server's database is")

    # -- sync twins (keep in sync with the async methods above) ---------------------------------
    @traced("signoff.guard")
    def guard_sync(self, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                   timeout: float | None = None) -> Decision:
        return self._twin("guard_sync", self._f_guard(action, state, idempotency_key, timeout))

    @traced("signoff.submit")
    def submit_sync(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        return self._twin("submit_sync", self._f_submit(action, state, idempotency_key))

    def submit_many_sync(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                         idempotency_keys: Sequence[str | None] | None = None,
                         require_review: Sequence[bool] | None = None) -> list[Ticket]:
        return self._twin("submit_many_sync", self._f_submit_many(actions, states, idempotency_keys, require_review))

    @traced("signoff.wait")
    def wait_sync(self, ticket_id: str, timeout: float | None = None) -> Decision:
        return self._twin("wait_sync", self._f_wait_decision(ticket_id, timeout))

    def resume_sync(self, ticket_id: str) -> tuple[Decision, Any]:
        return self._twin("resume_sync", self._f_resume(ticket_id))

    def get_ticket_sync(self, ticket_id: str) -> Ticket:
        return self._twin("get_ticket_sync", self._f_get(ticket_id))

    def list_tickets_sync(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                          agent: str | None = None, action: str | None = None, group: str | None = None,
                          batch: str | None = None, limit: int = 500, offset: int = 0,
                          newest_first: bool = False) -> list[Ticket]:
        return self._twin("list_tickets_sync", self._f_list(status, kind, agent, action, group, batch, limit,
                                                             offset, newest_first))

    def find_ticket_sync(self, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        return self._twin("find_ticket_sync", self._f_find(idempotency_key, agent))

    def cancel_sync(self, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        return self._twin("cancel_sync", self._f_cancel(ticket_id, reason))

    @traced("signoff.decide")
    def approve_sync(self, ticket_id: str, *, reviewer: str | None = None, args: Mapping[str, Any] | None = None,
                     comment: str = "") -> Ticket:
        return self._twin("approve_sync", self._f_approve(ticket_id, reviewer, args, comment))

    @traced("signoff.decide")
    def reject_sync(self, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        return self._twin("reject_sync", self._f_reject(ticket_id, reviewer, feedback))

    def decide_many_sync(self, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                         feedback: str = "") -> BatchResult:
        return self._twin("decide_many_sync", self._f_decide_many(list(ticket_ids), reviewer, approve, feedback))

    def decide_group_sync(self, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None,
                          approve: bool, feedback: str = "") -> BatchResult:
        return self._twin("decide_group_sync", self._f_decide_group(group, ticket_ids, reviewer, approve, feedback))

    def decide_batch_sync(self, batch: str, *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        return self._twin("decide_batch_sync", self._f_decide_batch(batch, reviewer, approve, feedback))

    def flag_sync(self, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        return self._twin("flag_sync", self._f_flag(ticket_id, reviewer, note))

    def resolve_suggestion_sync(self, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                note: str = "") -> Ticket:
        return self._twin("resolve_suggestion_sync", self._f_resolve(ticket_id, reviewer, done, note))

    def surges_sync(self) -> dict[str, Surge]:
        return self._twin("surges_sync", self._f_surges())

    def runs_in_doubt_sync(self, *, limit: int = 100) -> list[Ticket]:
        return self._twin("runs_in_doubt_sync", self._f_in_doubt(limit))

    def record_execution_sync(self, ticket_id: str, *, reviewer: str | None = None, outcome: Resolution,
                              note: str = "") -> Ticket:
        return self._twin("record_execution_sync", self._f_record_execution(ticket_id, reviewer, outcome, note))

    def insights_sync(self, *, min_volume: int = 20) -> Insights:
        return self._twin("insights_sync", self._f_insights(min_volume))

    def verify_audit_sync(self) -> VerifyResult:
        return self._twin("verify_audit_sync", self._f_verify())

    @traced("signoff.execute")
    def execute_sync(self, decision: Decision, fn: Callable[..., Any], *, lease: float | None = None) -> Any:
        """Sync twin of ``execute``: ``fn`` runs in the calling thread."""
        return execution.drive_sync(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action, cid: self._twin("execute_sync", self._f_claim(tid, action, cid, lease)),
            finish=lambda tid, ok, error, cid: self._twin("execute_sync", self._f_finish(tid, ok, error, cid)))
