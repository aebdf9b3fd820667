"""In-process wake-ups: waiters and subscribers on any event loop, woken by committed events.

Stores publish every committed audit entry as an Event (their own writes at once, other
processes' writes when their poller or LISTEN connection sees them). A waiter is a
future on its own loop, woken with ``call_soon_threadsafe``, so a Gate used from several
loops and threads never touches another loop's objects.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from signoff._records import Event

__all__ = ["Notifier"]


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Event]]]] = {}
        self._subs: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self.last_seq = 0

    def add_callback(self, fn: Callable[[Event], None]) -> None:
        """Called synchronously, in the publishing thread, for every event (keep it tiny)."""
        with self._lock:
            self._callbacks.append(fn)

    def publish(self, events: Iterable[Event]) -> None:
        for ev in events:
            with self._lock:
                if ev.seq <= self.last_seq:
                    continue
                self.last_seq = ev.seq
                waiters = self._waiters.pop(ev.ticket_id, []) if ev.ticket_id else []
                subs = list(self._subs)
                callbacks = list(self._callbacks)
            for fn in callbacks:
                fn(ev)
            for loop, fut in waiters:
                _deliver(loop, fut.set_result, fut, ev)
            for loop, q in subs:
                _deliver(loop, q.put_nowait, None, ev)

    def concerned(self, ticket_ids: Iterable[str]) -> bool:
        """Does anyone here wait for one of ``ticket_ids`` (``*``: any ticket), or follow every event
        (a subscriber)? A store asks to catch up at once on what matters here, and lazily otherwise."""
        with self._lock:
            if self._subs:
                return True
            ids = list(ticket_ids)
            if "*" in ids:
                return bool(self._waiters)
            return any(t in self._waiters for t in ids)

    def waiter(self, ticket_id: str) -> asyncio.Future[Event]:
        """A future for the next event of ``ticket_id``; register it before re-reading the ticket."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Event] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(ticket_id, []).append((loop, fut))
        return fut

    def discard(self, ticket_id: str, fut: asyncio.Future[Event]) -> None:
        with self._lock:
            lst = self._waiters.get(ticket_id)
            if lst:
                lst[:] = [(lp, f) for lp, f in lst if f is not fut]
                if not lst:
                    del self._waiters[ticket_id]

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Event] = asyncio.Queue(maxsize=10000)
        entry = (loop, q)
        with self._lock:
            self._subs.append(entry)
        try:
            yield q
        finally:
            with self._lock:
                self._subs.remove(entry)


def _deliver(loop: asyncio.AbstractEventLoop, fn: Callable[[Event], object],
             fut: asyncio.Future[Event] | None, ev: Event) -> None:
    def run() -> None:
        if fut is not None and fut.done():
            return
        try:
            fn(ev)
        except asyncio.QueueFull:
            pass  # a subscriber that stopped reading loses live events, never blocks the store

    try:
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(run)
    except RuntimeError:
        pass  # loop closed between the check and the call
