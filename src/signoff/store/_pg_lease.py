"""The PostgreSQL store's sweeper lease: one server at a time expires due tickets.

The lease is a session-level advisory lock on a dedicated connection: it lasts as long as
that connection, so a server that dies (or loses the database) frees it at once and another
server's next check takes it over. Due tickets are read with ``FOR UPDATE SKIP LOCKED`` and
expired through ``update_ticket``, which re-checks the deadline under the row lock, so no
ticket is expired twice even if two servers briefly both believe they hold it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from signoff.store import sql

__all__ = ["LOCK_SWEEPER", "SweeperLease"]

log = logging.getLogger("signoff.store.postgres")
LOCK_SWEEPER = 0x51600F3
"""The lease's advisory lock class; its second key is the store's schema key."""

Q = sql.queries("postgres")


class SweeperLease:
    """``held()`` is true while this store holds the lease (asked at most once per ``interval``)."""

    def __init__(self, connect: Callable[[str], Awaitable[AsyncConnection[Any]]], *, interval: float) -> None:
        self._connect = connect
        self._interval = interval
        self.schema_key = 0
        """The second key of the lock: set by the store at open (one lease per schema)."""
        self._conn: AsyncConnection[Any] | None = None
        self._held = False
        self._checked = float("-inf")

    async def held(self) -> bool:
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._held
        self._checked = now
        try:
            if self._conn is None or self._conn.closed:
                self._held = False
                self._conn = await self._connect("sweeper")
                await self._conn.execute(Q["lease_keepalive"])
            if self._held:
                await self._conn.execute(Q["ping"])
            else:
                cur = await self._conn.execute(Q["lease_try"], {"lock_class": LOCK_SWEEPER,
                                                                "lock_key": self.schema_key})
                row = await cur.fetchone()
                self._held = bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("sweeper lease lost: %s", exc)
            self._held = False
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
            self._conn = None
        return self._held

    async def release(self) -> None:
        """Close the lease's connection (the lock goes with it)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
            self._held = False
