"""The one server-sent-event loop: what a client missed, from the audit log, then changes as they commit.

Both event streams use it: the API's ``GET /api/v1/events`` and the inbox's ``/ui/events``;
they differ only in how an event is framed. The subscription is taken before the
backlog is read, so a change committed in between is neither lost nor sent twice (the
audit sequence numbers say which were sent). Live events come from the gate's
subscription (the same wake-ups that end waits), never from polling the database per
client. A comment line is sent every ``heartbeat`` seconds so proxies keep the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from signoff.store._records import Event

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = ["BACKLOG_PAGE", "event_stream"]

BACKLOG_PAGE = 500
"""Audit entries read per query while replaying what a client missed."""


async def event_stream(gate: Gate, *, after: int | None, frame: Callable[[Event], bytes], heartbeat: float,
                       stop: asyncio.Event | None = None, hello: bytes = b"",
                       lifetime: float | None = None) -> AsyncIterator[bytes]:
    """``hello``, then every change after sequence ``after`` (None: only new ones), each ``frame``d,
    until ``stop`` is set or ``lifetime`` seconds have passed (the client then reconnects)."""
    loop = asyncio.get_running_loop()
    end = None if lifetime is None else loop.time() + lifetime
    async with gate.subscribe() as queue:
        if hello:
            yield hello
        last = -1 if after is None else after
        if after is not None:
            while True:
                page = await gate.audit_entries(after=last, limit=BACKLOG_PAGE)
                for e in page:
                    yield frame(Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data))
                    last = e.seq
                if len(page) < BACKLOG_PAGE:
                    break
        stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
        get: asyncio.Future[Event] | None = None
        try:
            while stopped is None or not stopped.done():
                wait = heartbeat
                if end is not None:
                    if loop.time() >= end:
                        break
                    wait = min(heartbeat, max(0.05, end - loop.time()))
                if get is None:
                    get = asyncio.ensure_future(queue.get())
                waiting: set[asyncio.Future[Any]] = {get} if stopped is None else {get, stopped}
                done, _ = await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    if stopped is None or not stopped.done():
                        yield b": keep-alive\n\n"
                    continue
                ev, get = get.result(), None
                if ev.seq <= last:
                    continue
                last = ev.seq
                yield frame(ev)
        finally:
            for task in (stopped, get):
                if task is not None:
                    task.cancel()
