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
- **Grouped commits** (``?commit=grouped``, opt-in). By default the chain's lock, and the lock
  PostgreSQL takes for every NOTIFY, are held until COMMIT has flushed the WAL to disk, so
  writers queue one disk flush each, in every process: that lock is what keeps 3 processes near
  1. Grouped, a transaction that appends to the chain commits with ``synchronous_commit = off``
  (both locks go as soon as the commit record is written, before the flush), then, in the same
  message, makes one small durable commit of its own (``commit_flush``, a row per session) that
  returns only once the WAL is on disk up to it, the transaction's commit included; concurrent
  writers share those flushes. A caller is still told of a write only once it is durable, and
  the chain stays one chain in commit order. What changes: for the length of that flush, another
  session can already read the committed rows (and its listener hears the NOTIFY), so should the
  database machine crash in that instant, a reader may have acted on a write that is lost.
- **Wake-ups** (``_pg_listen.Wakeups``): LISTEN on a connection of its own, a catch-up
  from the audit log on every notification and reconnect; our own writes are published
  at once.
- **One sweeper** (``_pg_lease.SweeperLease``): a session-level advisory lock on a
  dedicated connection, taken over by another server within about a second of its
  holder's death.
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
``pool_timeout`` (seconds to wait for a connection, 5), ``lock_timeout`` (seconds a request's
statement waits for a lock another transaction holds, a row or the audit chain's, 5: then
StoreUnavailable saying so; migrations and the listener are not bounded by it), ``commit``
(``each``, the default, or ``grouped``: see "Grouped commits" above). Everything else is libpq's, e.g.
``?options=-csearch_path%3Dsignoff`` to keep the tables in their own schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from signoff._errors import StoreUnavailable
from signoff._records import AuditEntry
from signoff.store import sql
from signoff.store._archive import ArchiveMixin
from signoff.store._base import BaseStore, Query, Row, Transaction
from signoff.store._notify import Notifier
from signoff.store._outbox import OutboxMixin
from signoff.store._pg_conn import (
    app_name,
    closed_while_idle,
    commit_option,
    connection_lost,
    pool_option,
    redact,
    split_url,
)
from signoff.store._pg_lease import SweeperLease
from signoff.store._pg_listen import Wakeups
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
_LOCK_MIGRATE = 0x51600F2  # (the sweeper's: _pg_lease.LOCK_SWEEPER)

Q = sql.queries("postgres")


class PostgresStore(BaseStore, OutboxMixin, ArchiveMixin):
    """``postgresql://user:password@host:5432/dbname`` (``postgres://`` too); see the module docstring.

    ``timeout``: seconds a call waits for a pooled connection before StoreUnavailable;
    ``safety_interval``: seconds between catch-ups ``poll()`` asks for besides LISTEN;
    ``lease_interval``: how often ``sweeper_lease()`` asks the database (a takeover takes this long);
    ``grouped_commit``: the URL's ``commit=grouped`` (see the module docstring).

    .. versionchanged:: 0.2.0
       ``grouped_commit`` and the URL option ``commit``.
    """

    def __init__(self, url: str, *, min_size: int | None = None, max_size: int | None = None,
                 timeout: float | None = None, connect_timeout: int = 5, safety_interval: float = 2.0,
                 lease_interval: float = 1.0, grouped_commit: bool | None = None) -> None:
        self.url = url
        self._display = redact(url)
        self._conninfo, options = split_url(url)
        self._min_size = int(min_size if min_size is not None else pool_option(options, "pool_min_size", 1, url))
        self._max_size = int(max_size if max_size is not None else pool_option(options, "pool_max_size", 10, url))
        self._max_size = max(self._max_size, self._min_size)
        self._timeout = timeout if timeout is not None else pool_option(options, "pool_timeout", 5.0, url)
        self._grouped = grouped_commit if grouped_commit is not None else commit_option(options, url)
        self._lock_timeout = pool_option(options, "lock_timeout", 5.0, url)
        self._connect_kwargs: dict[str, Any] = {
            "connect_timeout": connect_timeout, "keepalives": 1, "keepalives_idle": 10,
            "keepalives_interval": 5, "keepalives_count": 3,
        }
        self.notifier = Notifier()
        self._pool: AsyncConnectionPool | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._recover_lock = asyncio.Lock()
        self._schema_key = 0
        # Through the store, late-bound: what opens a connection or runs a query stays one method here.
        self._wakeups = Wakeups(self.notifier, lambda role: self._connect(role), lambda q: self._fetch(q),
                                safety_interval=safety_interval)
        self._lease = SweeperLease(lambda role: self._connect(role), interval=lease_interval)

    @property
    def listener_pid(self) -> int | None:
        """Backend pid of the LISTEN connection (None while reconnecting); for operators and tests."""
        return self._wakeups.pid

    @property
    def listener_connects(self) -> int:
        """How many times the listener (re)connected."""
        return self._wakeups.connects

    def __repr__(self) -> str:
        return f"<PostgresStore {self._display}>"

    # -- plumbing ---------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException, attempt: Attempt | None = None) -> StoreUnavailable:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, PoolTimeout):
            text = f"no database connection within {self._timeout:g}s ({text})"
        elif getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout ran out
            text = (f"another transaction held a lock this request needs for more than {self._lock_timeout:g}s "
                    "(lock_timeout); nothing was written")
        elif attempt is not None and attempt.commit_sent and connection_lost(exc):
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
        return not attempt.commit_sent and connection_lost(exc)

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
                    if closed_while_idle(conn):
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
            configure=self._configure, name="signoff", kwargs={"autocommit": True, "application_name": app_name("pool"),
                                    "cursor_factory": AsyncClientCursor, **self._connect_kwargs})

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        """A request's connection waits at most ``lock_timeout`` for a lock (a row a stuck transaction
        holds, the audit chain's advisory lock): a bounded wait, then StoreUnavailable."""
        await conn.execute(pgsql.SQL("SET lock_timeout = {}").format(pgsql.Literal(int(self._lock_timeout * 1000))))

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
        in_flight = self._wakeups.writing

        async def run(conn: AsyncConnection[Any], attempt: Attempt) -> T:
            pid = conn.info.backend_pid
            # Our own NOTIFY needs no catch-up query: we publish these entries ourselves below.
            in_flight[pid] = in_flight.get(pid, 0) + 1
            writing.append(pid)
            tx = PgTx(conn, (_LOCK_AUDIT, self._schema_key), grouped=self._grouped)
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
            self._wakeups.kick()  # COMMIT may have gone through: let the listener's catch-up find out
            raise
        finally:
            for pid in writing:
                left = in_flight.get(pid, 0) - 1
                if left > 0:
                    in_flight[pid] = left
                else:
                    in_flight.pop(pid, None)
        if done and done[-1].entries:
            self._wakeups.committed(done[-1].base_seq, done[-1].events())
        return result

    async def _connect(self, role: str) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(self._conninfo, autocommit=True, application_name=app_name(role),
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
                self._lease.schema_key = self._schema_key
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
        await self._wakeups.start(self._timeout)

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
        await self._wakeups.stop()
        await self._lease.release()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        await asyncio.gather(*self._closing, return_exceptions=True)

    # -- wake-ups and the sweeper ------------------------------------------------------------
    async def poll(self) -> None:
        """A safety catch-up every few seconds; LISTEN does the real work (``_pg_listen``)."""
        self._wakeups.poll()

    async def ping(self) -> None:
        """One round trip to the database (readiness checks); StoreUnavailable when it does not answer.
        Unbounded in time like every call here: callers that must answer quickly bound it themselves."""
        await self._fetch(Query("ping"))

    async def sweeper_lease(self) -> bool:
        """True while this store holds the sweeper lease (``_pg_lease``; checked at most once per
        ``lease_interval``)."""
        return await self._lease.held()
