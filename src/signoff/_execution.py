"""Claim, run, finish: how an approved action runs at most once, written once for every gate.

``execution_flow`` is a generator, as ``httpx.Auth.auth_flow`` is: it yields each step it
needs (claim the one run, call the tool, record how it ended) and receives the answers, so
the rules live here and nowhere else. A gate only supplies the I/O: a local ``Gate`` claims
through its store, a ``RemoteGate`` through ``POST /tickets/{id}/execution/claim``. ``drive``
runs the flow for ``execute`` (the tool awaited if it returns an awaitable) and
``drive_sync`` for ``execute_sync`` (the tool called in the caller's thread, which may be
the only one allowed to touch what it touches).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from signoff._decisions import raise_for
from signoff._errors import AlreadyExecuted
from signoff._model import Action, Decision, Ticket

__all__ = ["Claim", "Finish", "Run", "drive", "drive_sync", "execution_flow"]


@dataclass(frozen=True)
class Claim:
    """Claim the one run of ``ticket_id`` for ``action`` (what the reviewer approved); answer: the Ticket."""

    ticket_id: str
    action: Action


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


Step = Claim | Run | Finish
ExecutionFlow = Generator[Step, Any, Any]
AsyncClaim = Callable[[str, Action], Awaitable[Ticket]]
AsyncFinish = Callable[[str, bool, str], Awaitable[Ticket]]
SyncClaim = Callable[[str, Action], Ticket]
SyncFinish = Callable[[str, bool, str], Ticket]


def execution_flow(decision: Decision) -> ExecutionFlow:
    """Run ``decision``'s action if it may run, at most once per approval; returns the tool's result."""
    raise_for(decision)
    if decision.ticket_id is None or decision.status == "notified":
        # Nothing to claim: ``auto`` left no ticket, and a feed record is not an approval to spend.
        return (yield Run(decision.args))
    tid = decision.ticket_id
    claimed: Ticket = yield Claim(tid, decision.action)
    if claimed.execution == "unknown":
        # Another instance claimed it and never said how it ended: it may have run; a human checks.
        raise AlreadyExecuted(f"ticket {tid}: {claimed.explanation}", decision=decision)
    try:
        result = yield Run(decision.args)
    except BaseException as exc:
        yield Finish(tid, ok=False, error=f"{type(exc).__name__}: {exc}")
        raise
    yield Finish(tid, ok=True)
    return result


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
        if isinstance(step, Claim):
            answer = await claim(step.ticket_id, step.action)
        elif isinstance(step, Finish):
            answer = await finish(step.ticket_id, step.ok, step.error)
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
        if isinstance(step, Claim):
            answer = claim(step.ticket_id, step.action)
        elif isinstance(step, Finish):
            answer = finish(step.ticket_id, step.ok, step.error)
        else:
            try:
                answer = fn(**step.args)
            except BaseException as exc:
                error = exc
