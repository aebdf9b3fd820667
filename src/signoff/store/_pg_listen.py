"""The PostgreSQL store's wake-ups: LISTEN, NOTIFY handling and catch-up from the audit log.

Each write sends ``NOTIFY signoff, '<seq> <tickets>'`` (delivered at commit). ``Wakeups``
holds its own connection doing ``LISTEN signoff``, reconnects with backoff when it dies,
and on every notification and after every (re)connect reads the audit entries past
``notifier.last_seq`` and publishes them: a notification is only a hint, the audit log is
the truth, so none is lost. Under load, notifications share catch-up queries (at most 100
a second, 20 while nobody in the process waits). The store's own writes are published at
once, without a query, when they follow on from what was published (``committed``).
``poll()`` adds a safety catch-up every few seconds and otherwise never touches the
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from signoff._errors import StoreUnavailable
from signoff._records import Event
from signoff.store import sql
from signoff.store._base import Query, Row
from signoff.store._notify import Notifier

__all__ = ["Wakeups"]

log = logging.getLogger("signoff.store.postgres")

_CATCH_UP_BATCH = 1000
_CATCH_UP_RATE = 20.0  # catch-ups a second for events no waiter here is concerned by (see _catcher)
_CATCH_UP_BURST = 10
_LISTEN_IDLE_CHECK = 30.0

Q = sql.queries("postgres")


class Wakeups:
    """LISTEN and catch-up for one store: ``start`` after the pool is open, ``stop`` on close.

    ``connect(role)`` opens a dedicated connection; ``fetch`` runs a named query on the pool."""

    def __init__(self, notifier: Notifier, connect: Callable[[str], Awaitable[AsyncConnection[Any]]],
                 fetch: Callable[[Query], Awaitable[list[Row]]], *, safety_interval: float) -> None:
        self.notifier = notifier
        self._connect = connect
        self._fetch = fetch
        self._safety_interval = safety_interval
        self.writing: dict[int, int] = {}
        """Backend pid -> our writes in flight on it: their NOTIFY needs no catch-up (the writer publishes)."""
        self._own: dict[int, list[Event]] = {}  # committed here, not published yet: head seq before -> events
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._kicked: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self._listening: asyncio.Event | None = None
        self._last_catch_up = 0.0
        self.pid: int | None = None
        """Backend pid of the LISTEN connection (None while reconnecting)."""
        self.connects = 0
        """How many times the listener (re)connected."""

    async def start(self, timeout: float) -> None:
        """Start listening; return once LISTEN is in place (or after ``timeout``), so that a
        decision made right after open() wakes us at once."""
        self._stopping = False
        self._kicked = asyncio.Event()
        self._urgent = asyncio.Event()
        self._listening = asyncio.Event()
        self._last_catch_up = time.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="signoff-pg-listen"),
                       loop.create_task(self._catcher(), name="signoff-pg-catch-up")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=timeout)

    async def stop(self) -> None:
        # A flag as well as cancel(): on Python 3.11 asyncio.wait_for (used inside psycopg_pool) can
        # swallow a cancellation, and a task that missed it must still end.
        self._stopping = True
        self.kick()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=10)
            for task in stuck:
                log.warning("task %s did not stop", task.get_name())

    def kick(self, urgent: bool = True) -> None:
        """Ask for a catch-up; ``urgent`` skips the rate limit (a waiter here is concerned)."""
        if self._kicked is not None and self._urgent is not None:
            if urgent:
                self._urgent.set()
            self._kicked.set()

    def committed(self, base_seq: int, events: list[Event]) -> None:
        """Our write committed ``events`` after the head ``base_seq``: publish what follows on from
        what was published; a gap (another server's entries not seen yet) is filled by a catch-up,
        which publishes ours too."""
        own = self._own
        own[base_seq] = events
        while own and (batch := own.pop(self.notifier.last_seq, None)) is not None:
            self.notifier.publish(batch)
        for base in [b for b in own if b < self.notifier.last_seq]:
            del own[base]  # a catch-up published them already
        if own:
            tickets = [e.ticket_id for batch in own.values() for e in batch if e.ticket_id]
            self.kick(urgent=self.notifier.concerned(tickets or ["-"]))

    def poll(self) -> None:
        """A safety catch-up every ``safety_interval`` seconds; LISTEN does the real work."""
        if time.monotonic() - self._last_catch_up >= self._safety_interval:
            self._last_catch_up = time.monotonic()
            self.kick()

    async def _listen(self) -> None:
        """Hold a LISTEN connection; on each notification (and each reconnect) ask for a catch-up."""
        assert self._listening is not None
        delay = 0.05
        while not self._stopping:
            try:
                conn = await self._connect("listen")
            except psycopg.Error as exc:
                log.warning("LISTEN connection failed (retrying in %.2fs): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            try:
                await conn.execute(Q["listen"])
                self.pid = conn.info.backend_pid
                self.connects += 1
                self._listening.set()
                delay = 0.05
                self.kick()  # whatever was committed while we were not listening
                quiet_since = time.monotonic()
                while not self._stopping:
                    # Short waits so that a stop is seen promptly; no database traffic while waiting.
                    async for note in conn.notifies(timeout=1.0):
                        quiet_since = time.monotonic()
                        self._on_notify(note.payload, note.pid)
                    if time.monotonic() - quiet_since > _LISTEN_IDLE_CHECK:
                        await conn.execute(Q["ping"])  # quiet for a while: prove the connection lives
                        quiet_since = time.monotonic()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (reconnecting): %s", exc)
            finally:
                self._listening.clear()
                self.pid = None
                with contextlib.suppress(Exception):
                    await conn.close()
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _on_notify(self, payload: str, pid: int) -> None:
        """A NOTIFY: ask for a catch-up unless it is ours (published by the writer) or already seen."""
        seq_text, _, tickets = payload.partition(" ")
        try:
            seq = int(seq_text)
        except ValueError:
            self.kick()
            return
        if seq <= self.notifier.last_seq or pid in self.writing:
            return
        self.kick(urgent=self.notifier.concerned(tickets.split() or ["*"]))

    async def _catcher(self) -> None:
        assert self._kicked is not None
        delay = 0.1
        # A token bucket for events nobody here waits for: under load, other servers' writes
        # arrive faster than one query per round trip, and a few dozen milliseconds of them share
        # one query (only the gate's caches of mode and known fingerprints need them). An event a
        # waiter or a live feed here is concerned by is caught up at once.
        assert self._urgent is not None
        tokens, refilled = float(_CATCH_UP_BURST), time.monotonic()
        while not self._stopping:
            await self._kicked.wait()
            now = time.monotonic()
            tokens = min(float(_CATCH_UP_BURST), tokens + (now - refilled) * _CATCH_UP_RATE)
            refilled = now
            if tokens < 1.0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), (1.0 - tokens) / _CATCH_UP_RATE)
                tokens, refilled = max(tokens, 1.0), time.monotonic()
            tokens = max(0.0, tokens - 1.0)
            self._urgent.clear()
            self._kicked.clear()
            if self._stopping:
                return
            try:
                await self.catch_up()
                delay = 0.1
            except StoreUnavailable as exc:
                log.warning("catch-up failed (retrying in %.1fs): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._kicked.set()

    async def catch_up(self) -> None:
        """Publish every committed audit entry past ``notifier.last_seq``, in order."""
        self._last_catch_up = time.monotonic()
        while True:
            rows = await self._fetch(Query("catch_up", {"after": self.notifier.last_seq, "limit": _CATCH_UP_BATCH}))
            self.notifier.publish([Event(seq=int(r[0]), kind=r[1], ticket_id=r[2], data=json.loads(r[3]))
                                   for r in rows])
            if len(rows) < _CATCH_UP_BATCH:
                for base in [b for b in self._own if b < self.notifier.last_seq]:
                    del self._own[base]
                return
