"""The PostgreSQL store: several stateless servers on one database, woken by LISTEN/NOTIFY.

The same behaviour as the SQLite store (one contract test suite runs on both), on async
psycopg 3 with a connection pool. How the guarantees are kept across servers:

- **Every transition exactly once.** ``update_ticket`` reads the ticket with
  ``SELECT ... FOR UPDATE`` and writes the transition in the same transaction, so two
  servers deciding the same ticket queue on the row lock; the second sees the decided
  ticket and gets ``Conflict`` from the pure transition.
- **The audit chain.** Entries are appended by the schema's ``signoff_append`` function as
  the last statement before COMMIT: it takes ``pg_advisory_xact_lock``, reads the last
  entry with a fresh snapshot, hashes (``signoff.audit.entry_hash``: the client sends the
  canonical JSON around the values only known there), inserts, rewrites the head record
  (``settings.audit_head``) and sends the NOTIFY. So seq has no gaps, entries commit in
  seq order, and the one lock all writers share is held only for that call and the COMMIT,
  never across a round trip to a client. Any other lock (a ticket row, an agent's quota, an
  idempotency key, the mode) is taken earlier in the transaction, so writers cannot deadlock.
- **Two round trips per write.** ``BEGIN; <locks>; <reads>``; Python decides (the pure
  transition); then the writes (one statement of data-modifying CTEs), ``signoff_append``
  and ``COMMIT`` in one message. Parameters are bound client-side (psycopg's ClientCursor,
  values escaped by libpq) so that several statements travel together; psycopg's pipeline
  mode would do the same but spins on the socket while it waits, which costs more CPU.
- **Wake-ups.** Each write sends ``NOTIFY signoff, '<seq>'`` (delivered at commit). A
  listener task holds its own connection doing ``LISTEN signoff``, reconnects with backoff
  when it dies, and on every notification and after every (re)connect reads the audit
  entries past ``notifier.last_seq`` and publishes them: a notification is only a hint, the
  audit log is the truth, so none is lost. Under load, notifications share catch-up queries
  (at most 100 a second, 20 while nobody in the process waits). Our own writes are
  published at once, without a query, when they follow on from what was published.
  ``poll()`` adds a safety catch-up every few seconds and otherwise never touches the
  database.
- **One sweeper.** ``sweeper_lease()`` is true while this store holds a session-level
  advisory lock on a dedicated connection; when its server dies the connection closes,
  the lock is released and another server takes it within about a second. Due tickets
  are read with ``FOR UPDATE SKIP LOCKED`` and expired through ``update_ticket``, which
  re-checks the deadline under the row lock, so no ticket is expired twice.
- **Connections are named** ``signoff-<role>/<pid>`` (pool, listen, sweeper, migrate) in
  ``pg_stat_activity``, so an operator can tell which process holds what.
- **Migrations.** The schema is created or migrated forward on ``open()`` under a
  session advisory lock: servers starting at once on an empty database queue, and the
  first one creates it.
- **Failing closed.** Every psycopg error becomes ``StoreUnavailable`` (``raise ... from``).
  A pooled connection that the server closed while it was idle is noticed before use (one
  local poll) and replaced; a transaction that died before COMMIT went out, or was chosen
  as a deadlock victim, is run again on a fresh connection; a connection lost during
  COMMIT is never retried (the outcome is unknown, and the error says so). When the pool
  cannot get a connection in time but the database answers a fresh one, the pool is
  rebuilt (its own reconnection backs off for minutes after a long outage).

URL options (stripped before connecting): ``pool_min_size`` (1), ``pool_max_size`` (10),
``pool_timeout`` (seconds to wait for a connection, 5). Everything else is libpq's, e.g.
``?options=-csearch_path%3Dsignoff`` to keep the tables in their own schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import select
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from signoff._errors import StoreUnavailable, UserError
from signoff._records import AuditEntry, Event
from signoff.store import sql
from signoff.store._base import BaseStore, Query, Row, Transaction
from signoff.store._notify import Notifier
from signoff.store._outbox import OutboxMixin
from signoff.store._pg_tx import Attempt, PgTx, check_hash_pieces, render

__all__ = ["CHANNEL", "SCHEMA_VERSION", "PostgresStore"]

log = logging.getLogger("signoff.store.postgres")
T = TypeVar("T")

SCHEMA_VERSION = sql.latest_version("postgres")
CHANNEL = "signoff"
"""The NOTIFY channel. The payload is the seq of the transaction's last audit entry, then the
tickets its entries concern (space-separated; ``-`` none; ``*`` too many to list)."""
_NOTIFY_MAX_TICKETS = 50

# Session advisory lock classes (first key); the second key is a hash of the schema the tables
# live in, so two deployments in two schemas of one database do not share locks. The locks a
# transaction names are in _pg_tx.LOCK_CLASSES.
_LOCK_AUDIT = 0x51600F1
_LOCK_MIGRATE = 0x51600F2
_LOCK_SWEEPER = 0x51600F3

_CATCH_UP_BATCH = 1000
_CATCH_UP_RATE = 20.0  # catch-ups a second for events no waiter here is concerned by (see _catcher)
_CATCH_UP_BURST = 10
_LISTEN_IDLE_CHECK = 30.0

Q = sql.queries("postgres")


def _app_name(role: str) -> str:
    """``signoff-<role>/<pid>``: which process holds which connection, in pg_stat_activity."""
    return f"signoff-{role}/{os.getpid()}"


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


_POOL_OPTIONS = ("pool_min_size", "pool_max_size", "pool_timeout")


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL and signoff's own pool options taken out of its query string."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise UserError(f"bad PostgreSQL URL {_redact(url)!r}: it must start with postgresql://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _POOL_OPTIONS}
    rest = [(k, v) for k, v in query if k not in _POOL_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


def _number(options: dict[str, str], key: str, default: float, url: str) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        value = -1
    if value <= 0:
        raise UserError(f"bad PostgreSQL URL {_redact(url)!r}: {key} must be a positive number, "
                        f"got {options[key]!r}")
    return value


def _closed_while_idle(conn: AsyncConnection[Any]) -> bool:
    """An idle pooled connection has nothing to read unless the server ended it (a FATAL message
    and EOF after a restart or pg_terminate_backend). One local poll, no round trip: a write then
    never starts on a connection known dead, where a failure would leave its outcome in doubt."""
    if conn.closed or conn.broken:
        return True
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


def _connection_lost(exc: BaseException) -> bool:
    """An error of the connection itself (no server answer), not one the server reported."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))


class PostgresStore(BaseStore, OutboxMixin):
    """``postgresql://user:password@host:5432/dbname`` (``postgres://`` too); see the module docstring.

    ``timeout``: seconds a call waits for a pooled connection before StoreUnavailable;
    ``safety_interval``: seconds between catch-ups ``poll()`` asks for besides LISTEN;
    ``lease_interval``: how often ``sweeper_lease()`` asks the database (a takeover takes this long).
    """

    def __init__(self, url: str, *, min_size: int | None = None, max_size: int | None = None,
                 timeout: float | None = None, connect_timeout: int = 5, safety_interval: float = 2.0,
                 lease_interval: float = 1.0) -> None:
        self.url = url
        self._display = _redact(url)
        self._conninfo, options = _split_url(url)
        self._min_size = int(min_size if min_size is not None else _number(options, "pool_min_size", 1, url))
        self._max_size = int(max_size if max_size is not None else _number(options, "pool_max_size", 10, url))
        self._max_size = max(self._max_size, self._min_size)
        self._timeout = timeout if timeout is not None else _number(options, "pool_timeout", 5.0, url)
        self._connect_kwargs: dict[str, Any] = {
            "connect_timeout": connect_timeout, "keepalives": 1, "keepalives_idle": 10,
            "keepalives_interval": 5, "keepalives_count": 3,
        }
        self._safety_interval = safety_interval
        self._lease_interval = lease_interval
        self.notifier = Notifier()
        self._pool: AsyncConnectionPool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._writing: dict[int, int] = {}  # backend pid -> our writes in flight on it
        self._own: dict[int, list[Event]] = {}  # committed here, not published yet: head seq before -> events
        self._closing: set[asyncio.Task[None]] = set()
        self._recover_lock = asyncio.Lock()
        self._kicked: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self._listening: asyncio.Event | None = None
        self._last_catch_up = 0.0
        self._schema_key = 0
        self._lease_conn: AsyncConnection[Any] | None = None
        self._lease_held = False
        self._lease_checked = float("-inf")
        self.listener_pid: int | None = None
        """Backend pid of the LISTEN connection (None while reconnecting); for operators and tests."""
        self.listener_connects = 0
        """How many times the listener (re)connected."""

    def __repr__(self) -> str:
        return f"<PostgresStore {self._display}>"

    # -- plumbing ---------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException, attempt: Attempt | None = None) -> StoreUnavailable:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, PoolTimeout):
            text = f"no database connection within {self._timeout:g}s ({text})"
        elif attempt is not None and attempt.commit_sent and _connection_lost(exc):
            text += "; the connection failed during COMMIT, so the change may or may not have been written"
        return StoreUnavailable(f"{self._display}: {text}")

    def _require(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise StoreUnavailable(f"store {self._display} is not open")
        return self._pool

    @staticmethod
    def _retryable(exc: psycopg.Error, attempt: Attempt) -> bool:
        """Safe to run the whole transaction again: it was rolled back (a deadlock or serialization
        failure), or the connection died before COMMIT went out (a pooled connection that a
        database restart or pg_terminate_backend had closed)."""
        if isinstance(exc, PoolTimeout):
            return False
        if exc.sqlstate in ("40001", "40P01"):
            return True
        return not attempt.commit_sent and _connection_lost(exc)

    async def _with_conn(self, fn: Callable[[AsyncConnection[Any], Attempt], Awaitable[T]]) -> T:
        # After a database restart every idle pooled connection is dead: allow one retry per
        # pooled connection (each failed one is discarded), plus one after a pool rebuild.
        retries = self._max_size + 1
        recovered = False
        while True:
            pool = self._require()
            attempt = Attempt()
            try:
                async with pool.connection() as conn:
                    if _closed_while_idle(conn):
                        await conn.close()  # the pool discards it; take another
                        if retries > 0:
                            retries -= 1
                            continue
                    return await fn(conn, attempt)
            except PoolTimeout as exc:
                if not recovered and await self._recover_pool(pool):
                    recovered = True
                    continue
                raise self._unavailable(exc, attempt) from exc
            except psycopg.Error as exc:
                if retries > 0 and self._retryable(exc, attempt):
                    retries -= 1
                    log.info("retrying on a fresh connection after: %s", exc)
                    continue
                raise self._unavailable(exc, attempt) from exc

    def _new_pool(self) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            self._conninfo, min_size=self._min_size, max_size=self._max_size, open=False, timeout=self._timeout,
            name="signoff", kwargs={"autocommit": True, "application_name": _app_name("pool"),
                                    "cursor_factory": AsyncClientCursor, **self._connect_kwargs})

    async def _recover_pool(self, pool: AsyncConnectionPool) -> bool:
        """The pool found no connection in time. If the database answers a fresh connection now,
        replace the pool: its own reconnection backs off exponentially, which after a long outage
        would keep the store unavailable for minutes after the database came back."""
        async with self._recover_lock:
            if pool is not self._pool:
                return self._pool is not None  # another caller already replaced it
            try:
                probe = await self._connect("probe")
            except psycopg.Error:
                return False
            await probe.close()
            fresh = self._new_pool()
            await fresh.open(wait=False)
            self._pool = fresh
            log.warning("database %s reachable again: connection pool rebuilt", self._display)
            task = asyncio.get_running_loop().create_task(pool.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return True

    async def _fetch(self, query: Query) -> list[Row]:
        if query.many is not None and not query.many:
            return []
        text, params = render(query)

        async def run(conn: AsyncConnection[Any], _: Attempt) -> list[Row]:
            cur = await conn.execute(text, params)
            return await cur.fetchall()

        return await self._with_conn(run)

    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]:
        done: list[PgTx] = []

        async def run(t: PgTx) -> T:
            writes = tx.decide(await t.begin(tx.locks, tx.reads))
            for q in writes.writes:
                t.write(q)
            for draft in writes.audit:
                t.append(draft)
            done[:] = [t]
            return writes.result

        result = await self._write(run)
        return result, done[-1].entries

    async def _write(self, fn: Callable[[PgTx], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction; publish its audit entries once committed."""
        done: list[PgTx] = []
        writing: list[int] = []

        async def run(conn: AsyncConnection[Any], attempt: Attempt) -> T:
            pid = conn.info.backend_pid
            # Our own NOTIFY needs no catch-up query: we publish these entries ourselves below.
            self._writing[pid] = self._writing.get(pid, 0) + 1
            writing.append(pid)
            tx = PgTx(conn, (_LOCK_AUDIT, self._schema_key))
            try:
                result = await fn(tx)
                await tx.commit(attempt)
            except BaseException:
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        await conn.execute("ROLLBACK")
                raise
            done.append(tx)
            return result

        try:
            result = await self._with_conn(run)
        except StoreUnavailable:
            self._kick()  # COMMIT may have gone through: let the listener's catch-up find out
            raise
        finally:
            for pid in writing:
                left = self._writing.get(pid, 0) - 1
                if left > 0:
                    self._writing[pid] = left
                else:
                    self._writing.pop(pid, None)
        if done and done[-1].entries:
            self._own[done[-1].base_seq] = done[-1].events()
            self._flush_own()
        return result

    def _flush_own(self) -> None:
        """Publish our committed entries that follow on from what was published; a gap (another
        server's entries not seen yet) is filled by a catch-up, which publishes ours too."""
        own = self._own
        while own and (batch := own.pop(self.notifier.last_seq, None)) is not None:
            self.notifier.publish(batch)
        for base in [b for b in own if b < self.notifier.last_seq]:
            del own[base]  # a catch-up published them already
        if own:
            tickets = [e.ticket_id for batch in own.values() for e in batch if e.ticket_id]
            self._kick(urgent=self.notifier.concerned(tickets or ["-"]))

    async def _connect(self, role: str) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(self._conninfo, autocommit=True, application_name=_app_name(role),
                                             **self._connect_kwargs)

    # -- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        check_hash_pieces()
        try:
            conn = await self._connect("migrate")
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            async with conn:
                cur = await conn.execute(Q["current_schema"])
                row = await cur.fetchone()
                schema = str(row[0]) if row and row[0] else "public"
                self._schema_key = zlib.crc32(schema.encode()) - 2**31  # a signed int4
                await self._migrate(conn)
                cur = await conn.execute(Q["last_seq"])
                row = await cur.fetchone()
                self.notifier.last_seq = int(row[0]) if row else 0
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc
        pool = self._new_pool()
        try:
            await pool.open(wait=True, timeout=self._timeout)
        except psycopg.Error as exc:
            await pool.close()
            raise self._unavailable(exc) from exc
        self._pool = pool
        self._stopping = False
        self._kicked = asyncio.Event()
        self._urgent = asyncio.Event()
        self._listening = asyncio.Event()
        self._last_catch_up = time.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="signoff-pg-listen"),
                       loop.create_task(self._catcher(), name="signoff-pg-catch-up")]
        # Return once LISTEN is in place, so that a decision made right after open() wakes us at once.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=self._timeout)

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        """Create or migrate the schema, one server at a time (a session advisory lock)."""
        key = {"lock_class": _LOCK_MIGRATE, "lock_key": self._schema_key}
        await conn.execute(Q["migrate_lock"], key)
        try:
            cur = await conn.execute(Q["schema_version_exists"])
            row = await cur.fetchone()
            version = 0
            if row and row[0]:
                cur = await conn.execute(Q["schema_version"])
                vrow = await cur.fetchone()
                version = int(vrow[0]) if vrow else 0
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self._display} has schema version {version}, newer than this signoff ({SCHEMA_VERSION}): "
                    "upgrade signoff")
            if version == SCHEMA_VERSION:
                return
            async with conn.transaction():
                if version == 0:
                    await conn.execute(sql.schema("postgres").encode())  # a fixed script, no params
                else:
                    for v in range(version + 1, SCHEMA_VERSION + 1):
                        await conn.execute(sql.migrations("postgres")[v].encode())
                await conn.execute(Q["set_schema_version"], {"version": SCHEMA_VERSION})
            log.info("schema of %s migrated to version %d", self._display, SCHEMA_VERSION)
        finally:
            if not conn.broken:
                await conn.execute(Q["migrate_unlock"], key)

    async def close(self) -> None:
        # A flag as well as cancel(): on Python 3.11 asyncio.wait_for (used inside psycopg_pool) can
        # swallow a cancellation, and a task that missed it must still end.
        self._stopping = True
        self._kick()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=10)
            for task in stuck:
                log.warning("task %s did not stop", task.get_name())
        if self._lease_conn is not None:
            with contextlib.suppress(Exception):
                await self._lease_conn.close()
            self._lease_conn = None
            self._lease_held = False
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        await asyncio.gather(*self._closing, return_exceptions=True)

    # -- wake-ups ---------------------------------------------------------------------------
    def _kick(self, urgent: bool = True) -> None:
        """Ask for a catch-up; ``urgent`` skips the rate limit (a waiter here is concerned)."""
        if self._kicked is not None and self._urgent is not None:
            if urgent:
                self._urgent.set()
            self._kicked.set()

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
                self.listener_pid = conn.info.backend_pid
                self.listener_connects += 1
                self._listening.set()
                delay = 0.05
                self._kick()  # whatever was committed while we were not listening
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
                self.listener_pid = None
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
            self._kick()
            return
        if seq <= self.notifier.last_seq or pid in self._writing:
            return
        self._kick(urgent=self.notifier.concerned(tickets.split() or ["*"]))

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
                await self._catch_up()
                delay = 0.1
            except StoreUnavailable as exc:
                log.warning("catch-up failed (retrying in %.1fs): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._kicked.set()

    async def _catch_up(self) -> None:
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

    async def poll(self) -> None:
        """A safety catch-up every ``safety_interval`` seconds; LISTEN does the real work."""
        if time.monotonic() - self._last_catch_up >= self._safety_interval:
            self._last_catch_up = time.monotonic()
            self._kick()

    async def ping(self) -> None:
        """One round trip to the database (readiness checks); StoreUnavailable when it does not answer.
        Unbounded in time like every call here: callers that must answer quickly bound it themselves."""
        await self._fetch(Query("ping"))

    async def sweeper_lease(self) -> bool:
        """True while this store holds the sweeper lease (checked at most once a second).

        The lease is a session-level advisory lock on a dedicated connection: it lasts as long
        as that connection, so a server that dies (or loses the database) frees it at once and
        another server's next check takes it over.
        """
        now = time.monotonic()
        if now - self._lease_checked < self._lease_interval:
            return self._lease_held
        self._lease_checked = now
        try:
            if self._lease_conn is None or self._lease_conn.closed:
                self._lease_held = False
                self._lease_conn = await self._connect("sweeper")
                await self._lease_conn.execute(Q["lease_keepalive"])
            if self._lease_held:
                await self._lease_conn.execute(Q["ping"])
            else:
                cur = await self._lease_conn.execute(Q["lease_try"], {"lock_class": _LOCK_SWEEPER,
                                                                      "lock_key": self._schema_key})
                row = await cur.fetchone()
                self._lease_held = bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("sweeper lease lost: %s", exc)
            self._lease_held = False
            if self._lease_conn is not None:
                with contextlib.suppress(Exception):
                    await self._lease_conn.close()
            self._lease_conn = None
        return self._lease_held
