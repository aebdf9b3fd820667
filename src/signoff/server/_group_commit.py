"""Group commit for submissions: concurrent ``POST /tickets`` share one durable transaction.

Why: every submission is a durable commit (SQLite ``synchronous=FULL`` fsyncs the WAL), and
on this kind of machine an fsync costs 0.3-1 ms. Committed one by one, submissions top out
near 1,000/s whatever the HTTP layer does. Here, submissions that arrive while a commit is
in flight wait for it and then go together in the next transaction, so one fsync serves
many agents, as databases do with their own group commit. Nothing is acknowledged before
its commit, so durability is unchanged; a lone submission is not delayed at all.

The commits run on the gate's engine thread, never on the server's event loop: an fsync
there would stall every connection, while on the engine thread it releases the GIL and the
loop goes on parsing the requests that form the next group.

Each ticket keeps its own outcome: when a shared transaction fails (one action is denied,
one agent is over its quota, a key conflicts), its members are retried one by one, so the
failure reaches only the submission it belongs to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signoff._errors import SignoffError
from signoff._model import Action, Ticket

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = ["GroupCommit"]

MAX_GROUP = 64


@dataclass
class _Item:
    action: Action
    state: Any
    key: str | None
    future: asyncio.Future[Ticket]


class GroupCommit:
    """Coalesces ``submit`` calls made on one event loop."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._queue: list[_Item] = []
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        future: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(action, state, idempotency_key, future))
        if not self._busy:
            self._busy = True
            self._spawn()
        return await future

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            # Let the submissions that arrived in the same loop iteration join the first group.
            await asyncio.sleep(0)
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                group = [i for i in group if not i.future.done()]  # drop requests that went away
                if group:
                    await self._commit(group)
        finally:
            self._busy = False

    async def _commit(self, group: list[_Item]) -> None:
        if len(group) > 1:
            try:
                tickets = await self._gate.offload(self._gate.submit_together(
                    [i.action for i in group], states=[i.state for i in group],
                    idempotency_keys=[i.key for i in group]))
            except SignoffError:
                pass  # one member spoils the group: each goes alone below, to get its own answer
            except BaseException as exc:
                for item in group:
                    _settle(item.future, exc=exc)
                if not isinstance(exc, Exception):
                    raise
                return
            else:
                for item, ticket in zip(group, tickets, strict=True):
                    _settle(item.future, ticket)
                return
        for item in group:
            try:
                ticket = await self._gate.offload(self._gate.submit(item.action, state=item.state,
                                                                    idempotency_key=item.key))
            except BaseException as exc:
                _settle(item.future, exc=exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                _settle(item.future, ticket)


def _settle(future: asyncio.Future[Ticket], ticket: Ticket | None = None, *, exc: BaseException | None = None) -> None:
    if future.done():
        return  # the request went away (client disconnected)
    if exc is not None:
        future.set_exception(exc)
    else:
        assert ticket is not None
        future.set_result(ticket)
