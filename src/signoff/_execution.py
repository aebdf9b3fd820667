"""Claim, run, finish: how an approved action runs at most once, written once for every gate.

``execution_flow`` is a generator, as ``httpx.Auth.auth_flow`` is: it yields each step it
needs (claim the one run, call the tool, record how it ended) and receives the answers, so
the rules live here and nowhere else. A gate only supplies the I/O: a local ``Gate`` claims
through its store, a ``RemoteGate`` through ``POST /tickets/{id}/execution/claim``. ``drive``
runs the flow for ``execute`` (the tool awaited if it returns an awaitable) and
``drive_sync`` for ``execute_sync`` (the tool called in the caller's thread, which may be
the only one allowed to touch what it touches).

Each run makes its own claim id. Both writes are idempotent for it, so the drivers retry them
when the store or the server did not answer (the write may have happened): a claim answered
late still runs the tool exactly once, and a finish lost after the tool ran is sent again. When
the retries run out, the error says what is known (did the tool run?), and the claim's lease
makes sure a run that never reports back becomes ``unknown`` for a reviewer.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from signoff._decisions import raise_for
from signoff._errors import AlreadyExecuted, StoreUnavailable
from signoff._model import Action, Decision, Ticket

__all__ = ["RETRY_DELAYS", "Claim", "Finish", "Run", "drive", "drive_sync", "execution_flow", "new_claim_id"]

RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
"""The pauses between tries of a claim or a finish that got no answer: five tries over about 4 s."""


def new_claim_id() -> str:
    """A claim id: made by the caller, once per execute attempt, reused by every retry of it."""
    return "cl_" + secrets.token_hex(10)


@dataclass(frozen=True)
class Claim:
    """Claim the one run of ``ticket_id`` for ``action`` (what the reviewer approved); answer: the Ticket."""

    ticket_id: str
    action: Action
    claim_id: str = ""


@dataclass(frozen=True)
class Run:
    """Call the tool with ``args``; answer: its result (an exception is thrown into the flow)."""

    args: Mapping[str, Any]


@dataclass(frozen=True)
class Finish:
    """Record how the claimed run ended; answer: the Ticket."""

    ticket_id: str
    ok: bool
    error: str = ""
    claim_id: str = ""


Step = Claim | Run | Finish
ExecutionFlow = Generator[Step, Any, Any]
AsyncClaim = Callable[[str, Action, str], Awaitable[Ticket]]
AsyncFinish = Callable[[str, bool, str, str], Awaitable[Ticket]]
SyncClaim = Callable[[str, Action, str], Ticket]
SyncFinish = Callable[[str, bool, str, str], Ticket]


def execution_flow(decision: Decision) -> ExecutionFlow:
    """Run ``decision``'s action if it may run, at most once per approval; returns the tool's result."""
    raise_for(decision)
    if decision.ticket_id is None or decision.status == "notified":
        # Nothing to claim: ``auto`` left no ticket, and a feed record is not an approval to spend.
        return (yield Run(decision.args))
    tid = decision.ticket_id
    cid = new_claim_id()
    claimed: Ticket = yield Claim(tid, decision.action, cid)
    if claimed.execution == "unknown":
        # Another instance claimed it and never said how it ended: it may have run; a human checks.
        raise AlreadyExecuted(f"ticket {tid}: {claimed.explanation}", decision=decision)
    try:
        result = yield Run(decision.args)
    except BaseException as exc:
        yield Finish(tid, ok=False, error=f"{type(exc).__name__}: {exc}", claim_id=cid)
        raise
    yield Finish(tid, ok=True, claim_id=cid)
    return result


def _in_doubt(step: Claim | Finish, exc: StoreUnavailable) -> StoreUnavailable:
    """What is known when a claim or a finish got no answer after every retry."""
    if isinstance(step, Claim):
        said = (f"ticket {step.ticket_id}: the claim of its run (claim id {step.claim_id}) got no answer after "
                f"{len(RETRY_DELAYS) + 1} tries ({exc}). The tool was NOT run. If the claim was recorded, the run "
                "becomes 'unknown' when its lease ends and a reviewer records what happened.")
    else:
        ended = "completed" if step.ok else f"raised {step.error}"
        said = (f"ticket {step.ticket_id}: the tool RAN and {ended}, but recording that got no answer after "
                f"{len(RETRY_DELAYS) + 1} tries ({exc}). Finishing again with claim id {step.claim_id} is safe "
                "(finish_execution); otherwise the run becomes 'unknown' when its lease ends and a reviewer "
                "records what happened.")
    return StoreUnavailable(said, ticket_id=step.ticket_id, claim_id=step.claim_id)


async def _io(step: Claim | Finish, claim: AsyncClaim, finish: AsyncFinish) -> Ticket:
    for delay in (*RETRY_DELAYS, None):
        try:
            if isinstance(step, Claim):
                return await claim(step.ticket_id, step.action, step.claim_id)
            return await finish(step.ticket_id, step.ok, step.error, step.claim_id)
        except StoreUnavailable as exc:
            if delay is None:
                raise _in_doubt(step, exc) from exc
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _io_sync(step: Claim | Finish, claim: SyncClaim, finish: SyncFinish) -> Ticket:
    """Keep in sync with ``_io``."""
    for delay in (*RETRY_DELAYS, None):
        try:
            if isinstance(step, Claim):
                return claim(step.ticket_id, step.action, step.claim_id)
            return finish(step.ticket_id, step.ok, step.error, step.claim_id)
        except StoreUnavailable as exc:
            if delay is None:
                raise _in_doubt(step, exc) from exc
            time.sleep(delay)
    raise AssertionError("unreachable")


async def drive(flow: ExecutionFlow, fn: Callable[..., Any], *, claim: AsyncClaim, finish: AsyncFinish) -> Any:
    """Run ``flow`` with async I/O; ``fn`` may be sync or async."""
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(answer) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        if isinstance(step, (Claim, Finish)):
            answer = await _io(step, claim, finish)
        else:
            try:
                answer = fn(**step.args)
                if inspect.isawaitable(answer):
                    answer = await answer
            except BaseException as exc:
                error = exc


def drive_sync(flow: ExecutionFlow, fn: Callable[..., Any], *, claim: SyncClaim, finish: SyncFinish) -> Any:
    """Run ``flow`` with blocking I/O; ``fn`` runs in the calling thread (keep in sync with ``drive``)."""
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(answer) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        if isinstance(step, (Claim, Finish)):
            answer = _io_sync(step, claim, finish)
        else:
            try:
                answer = fn(**step.args)
            except BaseException as exc:
                error = exc
