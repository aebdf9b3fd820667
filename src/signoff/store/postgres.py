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
import hashlib
import json
import logging
import os
import re
import secrets
import select
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from signoff._errors import NotFound, QuotaExceeded, StoreUnavailable, UserError
from signoff._model import Ticket, canonical_json
from signoff.audit import entry_hash
from signoff.review import _submission as submission
from signoff.store import sql
from signoff.store._notify import Notifier
from signoff.store._records import (
    AuditDraft,
    AuditEntry,
    Change,
    Event,
    Reviewer,
    StoredState,
    TicketQuery,
    TokenRecord,
    decode_state,
    ticket_from_json,
    ticket_to_json,
)

__all__ = ["CHANNEL", "SCHEMA_VERSION", "PostgresStore"]

log = logging.getLogger("signoff.store.postgres")
T = TypeVar("T")

SCHEMA_VERSION = sql.latest_version("postgres")
CHANNEL = "signoff"
"""The NOTIFY channel. The payload is the seq of the transaction's last audit entry, then the
tickets its entries concern (space-separated; ``-`` none; ``*`` too many to list)."""
_NOTIFY_MAX_TICKETS = 50

# Advisory lock classes (first key); the second key is a hash of the schema the tables live
# in, so two deployments in two schemas of one database do not share locks.
_LOCK_AUDIT = 0x51600F1
_LOCK_MIGRATE = 0x51600F2
_LOCK_SWEEPER = 0x51600F3
_LOCK_AGENT = 0x51600F4  # second key: hashtext(agent); quota checks of one agent queue here
_LOCK_IDEMPOTENCY = 0x51600F5  # second key: hashtext(agent + newline + key); submissions with one key queue here
_LOCK_MODE = 0x51600F6

_CATCH_UP_BATCH = 1000
_CATCH_UP_RATE = 20.0  # catch-ups a second for events no waiter here is concerned by (see _catcher)
_CATCH_UP_BURST = 10
_LISTEN_IDLE_CHECK = 30.0

# -- queries --------------------------------------------------------------------------------
# Parameters are bound client-side (psycopg's ClientCursor: literals escaped by libpq), which
# lets a write send several statements in one message; every value still goes through %s.
Q_LAST_SEQ: LiteralString = "SELECT COALESCE(MAX(seq), 0) FROM audit"
# The chain is appended to by the schema's signoff_append function (see sql/postgres/schema.sql).
Q_APPEND: LiteralString = (
    "SELECT * FROM signoff_append(%s, %s, %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s)")
Q_CATCH_UP: LiteralString = "SELECT seq, kind, ticket_id, data FROM audit WHERE seq > %s ORDER BY seq LIMIT %s"
Q_TICKETS_INSERT: LiteralString = (
    "INSERT INTO tickets (kind, status, agent, action, group_key, batch_id, idempotency_key, tier, deadline, "
    "created_at, decided_at, body, id, state_kind, state) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], "
    "%s::bytea[])")
Q_TICKET_UPDATE: LiteralString = (
    "UPDATE tickets SET kind=%s, status=%s, agent=%s, action=%s, group_key=%s, batch_id=%s, idempotency_key=%s, "
    "tier=%s, deadline=%s, created_at=%s, decided_at=%s, body=%s WHERE id=%s")
Q_TICKET_LOCK: LiteralString = "SELECT body FROM tickets WHERE id = %s FOR UPDATE"
Q_TICKET_GET: LiteralString = "SELECT body FROM tickets WHERE id = %s"
# Idempotency keys are unique per agent: looked up by (agent, key) pairs.
Q_TICKET_BY_KEYS: LiteralString = (
    "SELECT agent, idempotency_key, body FROM tickets WHERE (agent, idempotency_key) IN "
    "(SELECT * FROM unnest(%s::text[], %s::text[]))")
Q_PENDING_BY_AGENT: LiteralString = (
    "SELECT agent, COUNT(*) FROM tickets WHERE status = 'pending' AND agent = ANY(%s::text[]) GROUP BY agent")
# Advisory locks taken one by one in a fixed order (by class, then hash), so they cannot deadlock.
Q_LOCK_NAMES: LiteralString = (
    "SELECT pg_advisory_xact_lock(c, h) FROM (SELECT DISTINCT c, hashtext(n) AS h "
    "FROM unnest(%s::int[], %s::text[]) AS x(c, n) ORDER BY c, h) AS ordered")
Q_LOCK_ONE: LiteralString = "SELECT pg_advisory_xact_lock(%s, %s)"
Q_STATE_GET: LiteralString = "SELECT state_kind, state FROM tickets WHERE id = %s"
Q_DUE: LiteralString = (
    "SELECT id FROM tickets WHERE status = 'pending' AND deadline <= %s ORDER BY deadline LIMIT %s "
    "FOR UPDATE SKIP LOCKED")
Q_NEXT_DEADLINE: LiteralString = "SELECT MIN(deadline) FROM tickets WHERE status = 'pending'"
Q_FINGERPRINT_LEARN: LiteralString = (
    "INSERT INTO fingerprints (fingerprint, ticket_id, learnt_at) VALUES (%s,%s,now()) ON CONFLICT DO NOTHING")
Q_FINGERPRINTS: LiteralString = "SELECT fingerprint FROM fingerprints"
Q_REVIEWER_PUT: LiteralString = (
    "INSERT INTO reviewers (name, tier, password_hash, disabled) VALUES (%s,%s,%s,%s) "
    "ON CONFLICT (name) DO UPDATE SET tier = excluded.tier, "
    "password_hash = COALESCE(excluded.password_hash, reviewers.password_hash), disabled = excluded.disabled")
Q_REVIEWER_GET: LiteralString = "SELECT name, tier, password_hash, disabled FROM reviewers WHERE name = %s"
Q_REVIEWERS: LiteralString = "SELECT name, tier, password_hash, disabled FROM reviewers ORDER BY name"
Q_TOKEN_PUT: LiteralString = (
    "INSERT INTO tokens (token_hash, kind, name, created_at, revoked) VALUES (%s,%s,%s,%s,%s)")
Q_TOKEN_GET: LiteralString = "SELECT token_hash, kind, name, created_at, revoked FROM tokens WHERE token_hash = %s"
Q_SETTING_GET: LiteralString = "SELECT value FROM settings WHERE key = %s"
Q_SETTING_PUT: LiteralString = (
    "INSERT INTO settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
# Logged-out inbox sessions; a revocation also clears the ones whose cookies have expired anyway.
Q_SESSION_REVOKE: LiteralString = (
    "INSERT INTO revoked_sessions (sid_hash, expires_at) VALUES (%s, %s) ON CONFLICT (sid_hash) "
    "DO UPDATE SET expires_at = GREATEST(revoked_sessions.expires_at, excluded.expires_at)")
Q_SESSIONS_PURGE: LiteralString = "DELETE FROM revoked_sessions WHERE expires_at <= now() AND sid_hash <> %s"
Q_SESSION_REVOKED: LiteralString = "SELECT 1 FROM revoked_sessions WHERE sid_hash = %s"
Q_AUDIT_LIST: LiteralString = (
    "SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit WHERE seq > %s")


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


@dataclass
class _Attempt:
    """Whether COMMIT went out: after that a lost connection is never retried (the outcome is unknown)."""

    commit_sent: bool = False


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


class _Tx:
    """One write transaction in two round trips: ``begin`` (row locks and reads), then ``commit``.

    Between them the caller decides in Python and queues its writes (``write``) and audit
    entries (``append``); ``commit`` sends, in one message, the writes (one statement of
    data-modifying CTEs), ``signoff_append`` (the chain: lock, hash, insert, head record,
    NOTIFY) and COMMIT. The chain's lock is thus held only from that call to the end of COMMIT.
    """

    def __init__(self, conn: AsyncConnection[Any], lock_key: tuple[int, int]) -> None:
        self.conn = conn
        self.lock_key = lock_key
        self.base_seq = 0
        self.entries: list[AuditEntry] = []
        self._drafts: list[tuple[AuditDraft, dict[str, Any], tuple[str, str, str, str]]] = []
        self._ctes: list[tuple[str, Sequence[Any]]] = []
        self._began = False

    async def begin(self, locks: Sequence[tuple[LiteralString, Sequence[Any]]] = (),
                    reads: Sequence[tuple[LiteralString, Sequence[Any]]] = ()) -> list[list[tuple[Any, ...]]]:
        """BEGIN; ``locks`` (row or advisory locks); ``reads`` (each with a snapshot taken after every
        lock was granted). One round trip; returns the rows of each statement, in order."""
        statements = [*locks, *reads]
        sql = "; ".join(["BEGIN", *(q for q, _ in statements)])
        params = [p for _, ps in statements for p in ps]
        self._began = True
        cur = await self.conn.execute(sql, params)  # joined fixed statements
        results: list[list[tuple[Any, ...]]] = []
        for _ in statements:
            cur.nextset()
            results.append(await cur.fetchall())
        return results

    def write(self, sql: LiteralString, params: Sequence[Any]) -> None:
        """Queue a data-modifying statement for ``commit``."""
        self._ctes.append((sql, params))

    def append(self, draft: AuditDraft) -> None:
        """Queue an audit entry; ``commit`` appends it to the chain (``entries`` then holds it)."""
        data = dict(draft.data)
        self._drafts.append((draft, data, _hash_pieces(draft, data)))

    async def commit(self, attempt: _Attempt) -> None:
        """The writes, the chain's append and COMMIT, in one message."""
        statements: list[str] = [] if self._began else ["BEGIN"]
        params: list[Any] = []
        if self._ctes:
            statements.append("WITH " + ", ".join(f"w{i} AS ({q})" for i, (q, _) in enumerate(self._ctes))
                              + " SELECT 1")
            params += [p for _, ps in self._ctes for p in ps]
        drafts = self._drafts
        if drafts:
            statements.append(Q_APPEND)
            params += [*self.lock_key, [d.kind for d, _, _ in drafts], [d.ticket_id for d, _, _ in drafts],
                       [d.actor for d, _, _ in drafts], [json.dumps(data, sort_keys=True) for _, data, _ in drafts],
                       *([p[k] for _, _, p in drafts] for k in range(4)), _notify_tickets(drafts)]
        statements.append("COMMIT")
        attempt.commit_sent = True
        cur = await self.conn.execute("; ".join(statements), params)  # joined fixed statements
        if not drafts:
            return
        for _ in range(int(not self._began) + int(bool(self._ctes))):
            cur.nextset()  # past BEGIN and the writes, to signoff_append's rows
        rows = await cur.fetchall()
        if len(rows) != len(drafts):
            raise psycopg.DataError(f"signoff_append returned {len(rows)} entries for {len(drafts)}")
        for (draft, data, _), (seq, at, prev, h) in zip(drafts, rows, strict=True):
            self.entries.append(AuditEntry(seq=int(seq), at=str(at), kind=draft.kind, ticket_id=draft.ticket_id,
                                           actor=draft.actor, data=data, prev_hash=str(prev), hash=str(h)))
        self.base_seq = self.entries[0].seq - 1

    def events(self) -> list[Event]:
        return [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data) for e in self.entries]


def _notify_tickets(drafts: Sequence[tuple[AuditDraft, Any, Any]]) -> str:
    """The NOTIFY payload's second part: the tickets concerned (``-`` none, ``*`` too many to list)."""
    ids = sorted({d.ticket_id for d, _, _ in drafts if d.ticket_id})
    if len(ids) > _NOTIFY_MAX_TICKETS:
        return "*"
    return " ".join(ids) or "-"


def _hash_pieces(draft: AuditDraft, data: dict[str, Any]) -> tuple[str, str, str, str]:
    """The entry's canonical JSON (what ``entry_hash`` hashes) cut around at, prev_hash and seq.

    ``signoff_append`` fills in the three values under the chain's lock and hashes the joined
    text, so the hash is exactly ``signoff.audit.entry_hash`` of the stored entry.
    """
    while True:
        marks = [f"@{secrets.token_hex(12)}@" for _ in range(3)]
        text = canonical_json({"seq": marks[2], "at": marks[0], "kind": draft.kind, "ticket_id": draft.ticket_id,
                               "actor": draft.actor, "data": data, "prev_hash": marks[1]})
        if all(text.count(m) == 1 for m in marks):
            break
    head, rest = text.split(marks[0])
    middle, rest = rest.split(marks[1])
    tail_a, tail_b = rest.split(f'"{marks[2]}"')  # seq is a number: no quotes around it
    return head, middle, tail_a, tail_b


def _check_hash_pieces() -> None:
    """The pieces must rebuild exactly what ``entry_hash`` hashes; a change to the hashed fields
    in signoff.audit would otherwise write entries that fail verification. Checked at open()."""
    draft = AuditDraft(kind="k", actor="a", ticket_id="t", data={"x": [1, "é"]})
    p0, p1, p2, p3 = _hash_pieces(draft, dict(draft.data))
    at, prev, seq = "2026-01-01T00:00:00.000001+00:00", "ab" * 32, 42
    ours = hashlib.sha256((p0 + at + p1 + prev + p2 + str(seq) + p3).encode()).hexdigest()
    if ours != entry_hash(seq=seq, at=at, kind="k", ticket_id="t", actor="a", data=draft.data, prev_hash=prev):
        raise StoreUnavailable("signoff.audit.entry_hash no longer matches how the PostgreSQL store hashes "
                               "audit entries (store/postgres.py _hash_pieces): refusing to write a broken chain")


class _QuotaHit(Exception):
    """Raised inside the insert transaction to roll it back; carries the error to raise after."""

    def __init__(self, err: QuotaExceeded) -> None:
        super().__init__(str(err))
        self.err = err


class PostgresStore:
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
    def _unavailable(self, exc: BaseException, attempt: _Attempt | None = None) -> StoreUnavailable:
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
    def _retryable(exc: psycopg.Error, attempt: _Attempt) -> bool:
        """Safe to run the whole transaction again: it was rolled back (a deadlock or serialization
        failure), or the connection died before COMMIT went out (a pooled connection that a
        database restart or pg_terminate_backend had closed)."""
        if isinstance(exc, PoolTimeout):
            return False
        if exc.sqlstate in ("40001", "40P01"):
            return True
        return not attempt.commit_sent and _connection_lost(exc)

    async def _with_conn(self, fn: Callable[[AsyncConnection[Any], _Attempt], Awaitable[T]]) -> T:
        # After a database restart every idle pooled connection is dead: allow one retry per
        # pooled connection (each failed one is discarded), plus one after a pool rebuild.
        retries = self._max_size + 1
        recovered = False
        while True:
            pool = self._require()
            attempt = _Attempt()
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

    async def _read(self, sql: LiteralString, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def run(conn: AsyncConnection[Any], _: _Attempt) -> list[tuple[Any, ...]]:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

        return await self._with_conn(run)

    async def _write(self, fn: Callable[[_Tx], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction; publish its audit entries once committed."""
        done: list[_Tx] = []
        writing: list[int] = []

        async def run(conn: AsyncConnection[Any], attempt: _Attempt) -> T:
            pid = conn.info.backend_pid
            # Our own NOTIFY needs no catch-up query: we publish these entries ourselves below.
            self._writing[pid] = self._writing.get(pid, 0) + 1
            writing.append(pid)
            tx = _Tx(conn, (_LOCK_AUDIT, self._schema_key))
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
        _check_hash_pieces()
        try:
            conn = await self._connect("migrate")
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            async with conn:
                cur = await conn.execute("SELECT current_schema()")
                row = await cur.fetchone()
                schema = str(row[0]) if row and row[0] else "public"
                self._schema_key = zlib.crc32(schema.encode()) - 2**31  # a signed int4
                await self._migrate(conn)
                cur = await conn.execute(Q_LAST_SEQ)
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
        key = (_LOCK_MIGRATE, self._schema_key)
        await conn.execute("SELECT pg_advisory_lock(%s, %s)", key)
        try:
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            row = await cur.fetchone()
            version = 0
            if row and row[0]:
                cur = await conn.execute("SELECT version FROM schema_version")
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
                await conn.execute("INSERT INTO schema_version (one, version) VALUES (true, %s) "
                                   "ON CONFLICT (one) DO UPDATE SET version = excluded.version", (SCHEMA_VERSION,))
            log.info("schema of %s migrated to version %d", self._display, SCHEMA_VERSION)
        finally:
            if not conn.broken:
                await conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)

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
                await conn.execute(f"LISTEN {CHANNEL}")
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
                        await conn.execute("SELECT 1")  # quiet for a while: prove the connection lives
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
            rows = await self._read(Q_CATCH_UP, (self.notifier.last_seq, _CATCH_UP_BATCH))
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
        await self._read("SELECT 1")

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
                # Should this machine vanish without closing the connection (power, network), the
                # server notices within about 25 s and frees the lease (its default: 2 hours).
                await self._lease_conn.execute(
                    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3")
            if self._lease_held:
                await self._lease_conn.execute("SELECT 1")
            else:
                cur = await self._lease_conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                                     (_LOCK_SWEEPER, self._schema_key))
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

    # -- audit ------------------------------------------------------------------------------
    async def append_audit(self, draft: AuditDraft) -> AuditEntry:
        done: list[_Tx] = []

        async def tx(t: _Tx) -> None:
            t.append(draft)
            done[:] = [t]

        await self._write(tx)
        return done[-1].entries[0]

    async def audit_entries(self, *, after: int = 0, limit: int | None = None,
                            ticket_id: str | None = None) -> list[AuditEntry]:
        sql = Q_AUDIT_LIST
        params: list[Any] = [after]
        if ticket_id is not None:
            sql += " AND ticket_id = %s"
            params.append(ticket_id)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        rows = await self._read(sql, params)
        return [AuditEntry(seq=int(r[0]), at=r[1], kind=r[2], ticket_id=r[3], actor=r[4], data=json.loads(r[5]),
                           prev_hash=r[6], hash=r[7]) for r in rows]

    async def audit_head(self) -> tuple[int, str] | None:
        rows = await self._read(Q_SETTING_GET, ("audit_head",))
        if not rows or not rows[0][0]:
            return None
        seq, _, h = str(rows[0][0]).partition(":")
        return int(seq), h

    # -- tickets ----------------------------------------------------------------------------
    @staticmethod
    def _row_values(t: Ticket) -> tuple[Any, ...]:
        return (t.kind, t.status, t.action.agent, t.action.name, t.group_key, t.batch_id, t.idempotency_key,
                t.tier, t.deadline if t.status == "pending" else None, t.created_at, t.decided_at,
                ticket_to_json(t))

    async def insert_tickets(self, tickets: Sequence[tuple[Ticket, StoredState | None]], *,
                             max_pending: int | None = None,
                             audit_kind: str = "submitted") -> list[tuple[Ticket, bool]]:
        keys = submission.keys_of(tickets)
        agents = submission.quota_agents(tickets, max_pending)
        check_quota = bool(agents)

        async def tx(t: _Tx) -> list[tuple[Ticket, bool]]:
            # Submissions with the same idempotency key, or for an agent whose quota is checked,
            # queue on an advisory lock; the reads that follow then see every such submission
            # committed before ours.
            names = [(_LOCK_IDEMPOTENCY, f"{a}\n{k}") for a, k in keys]
            names += [(_LOCK_AGENT, a) for a in agents] if check_quota else []
            locks: list[tuple[LiteralString, Sequence[Any]]] = []
            if names:
                locks.append((Q_LOCK_NAMES, ([c for c, _ in names], [n for _, n in names])))
            reads: list[tuple[LiteralString, Sequence[Any]]] = []
            if keys:
                reads.append((Q_TICKET_BY_KEYS, ([a for a, _ in keys], [k for _, k in keys])))
            if check_quota:
                reads.append((Q_PENDING_BY_AGENT, (agents,)))
            results = iter((await t.begin(locks=locks, reads=reads))[len(locks):])
            existing = {(str(a), str(k)): ticket_from_json(body) for a, k, body in next(results)} if keys else {}
            pending = {str(a): int(n) for a, n in next(results)} if check_quota else {}
            try:
                plan = submission.plan(tickets, existing=existing, pending=pending, max_pending=max_pending,
                                       audit_kind=audit_kind)
            except QuotaExceeded as err:
                raise _QuotaHit(err) from None
            rows = [(*self._row_values(ticket), ticket.id, state.kind if state else None,
                     state.data if state else None) for ticket, state in plan.inserts]
            for draft in plan.audit:
                t.append(draft)
            if rows:
                t.write(Q_TICKETS_INSERT, [list(column) for column in zip(*rows, strict=True)])
            return list(plan.results)

        try:
            return await self._write(tx)
        except _QuotaHit as hit:
            # Nothing of the batch was written; the refusal itself is audited.
            await self.append_audit(submission.quota_refused(hit.err, max_pending))
            raise hit.err from None

    async def get_ticket(self, ticket_id: str) -> Ticket:
        rows = await self._read(Q_TICKET_GET, (ticket_id,))
        if not rows:
            raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
        return ticket_from_json(rows[0][0])

    async def get_state(self, ticket_id: str) -> StoredState | None:
        rows = await self._read(Q_STATE_GET, (ticket_id,))
        if not rows:
            raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
        return decode_state(rows[0][0], rows[0][1])

    @staticmethod
    def _where(query: TicketQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.status is not None:
            statuses = [query.status] if isinstance(query.status, str) else list(query.status)
            clauses.append("status = ANY(%s)")
            params.append(statuses)
        for col, value in (("kind", query.kind), ("agent", query.agent), ("action", query.action),
                           ("group_key", query.group), ("batch_id", query.batch),
                           ("idempotency_key", query.idempotency_key)):
            if value is not None:
                clauses.append(f"{col} = %s")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    async def list_tickets(self, query: TicketQuery) -> list[Ticket]:
        where, params = self._where(query)
        order = "DESC" if query.newest_first else "ASC"
        # Composed from fixed column names and ASC/DESC only; values are parameters.
        sql = f"SELECT body FROM tickets{where} ORDER BY created_at {order}, pos {order} LIMIT %s OFFSET %s"
        rows = await self._read(sql, [*params, query.limit, query.offset])
        return [ticket_from_json(r[0]) for r in rows]

    async def count_tickets(self, query: TicketQuery) -> int:
        where, params = self._where(query)
        rows = await self._read(f"SELECT COUNT(*) FROM tickets{where}", params)
        return int(rows[0][0])

    async def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Change | None]) -> Ticket:
        async def tx(t: _Tx) -> Ticket:
            # The ticket's row lock: two servers deciding one ticket queue here, and the second
            # sees the first one's decision (and gets Conflict from ``change``).
            [rows] = await t.begin(locks=[(Q_TICKET_LOCK, (ticket_id,))])
            if not rows:
                raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
            current = ticket_from_json(rows[0][0])
            result = change(current)
            if result is None:
                return current
            new = result.ticket
            t.write(Q_TICKET_UPDATE, (*self._row_values(new), new.id))
            for draft in result.audit:
                t.append(draft)
            if result.learn_fingerprint:
                t.write(Q_FINGERPRINT_LEARN, (result.learn_fingerprint, new.id))
            return new

        return await self._write(tx)

    async def due_tickets(self, now: datetime, limit: int = 100) -> list[str]:
        # SKIP LOCKED: a ticket being decided right now is left to that transaction; update_ticket
        # re-checks the deadline under the row lock, so a ticket is never expired twice.
        return [str(r[0]) for r in await self._read(Q_DUE, (now, limit))]

    async def next_deadline(self) -> datetime | None:
        rows = await self._read(Q_NEXT_DEADLINE)
        value = rows[0][0] if rows else None
        return value.astimezone(UTC) if isinstance(value, datetime) else None

    # -- people, tokens, settings ------------------------------------------------------------
    async def put_reviewer(self, reviewer: Reviewer, *, actor: str = "admin") -> None:
        async def tx(t: _Tx) -> None:
            t.write(Q_REVIEWER_PUT, (reviewer.name, reviewer.tier, reviewer.password_hash, reviewer.disabled))
            t.append(AuditDraft(kind="reviewer", actor=actor,
                                data={"name": reviewer.name, "tier": reviewer.tier, "disabled": reviewer.disabled}))

        await self._write(tx)

    async def get_reviewer(self, name: str) -> Reviewer | None:
        rows = await self._read(Q_REVIEWER_GET, (name,))
        if not rows:
            return None
        r = rows[0]
        return Reviewer(name=r[0], tier=r[1], password_hash=r[2], disabled=bool(r[3]))

    async def list_reviewers(self) -> list[Reviewer]:
        return [Reviewer(name=r[0], tier=r[1], password_hash=r[2], disabled=bool(r[3]))
                for r in await self._read(Q_REVIEWERS)]

    async def put_token(self, token: TokenRecord) -> None:
        async def tx(t: _Tx) -> None:
            t.write(Q_TOKEN_PUT, (token.token_hash, token.kind, token.name, token.created_at, token.revoked))
            t.append(AuditDraft(kind="token_created", actor="admin",
                                data={"kind": token.kind, "name": token.name, "hash_prefix": token.token_hash[:8]}))

        await self._write(tx)

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        rows = await self._read(Q_TOKEN_GET, (token_hash,))
        if not rows:
            return None
        r = rows[0]
        return TokenRecord(token_hash=r[0], kind=r[1], name=r[2], created_at=r[3].astimezone(UTC),
                           revoked=bool(r[4]))

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None:
        async def tx(t: _Tx) -> None:
            t.write(Q_SESSION_REVOKE, (session_hash, expires_at))
            t.write(Q_SESSIONS_PURGE, (session_hash,))

        await self._write(tx)

    async def session_revoked(self, session_hash: str) -> bool:
        return bool(await self._read(Q_SESSION_REVOKED, (session_hash,)))

    async def known_fingerprints(self) -> set[str]:
        return {str(r[0]) for r in await self._read(Q_FINGERPRINTS)}

    async def get_mode(self) -> str | None:
        rows = await self._read(Q_SETTING_GET, ("mode",))
        return str(rows[0][0]) if rows and rows[0][0] else None

    async def set_mode(self, mode: str | None, *, actor: str) -> None:
        async def tx(t: _Tx) -> None:
            # Mode switches queue on a lock, so "previous" is the mode really replaced.
            _, rows = await t.begin(locks=[(Q_LOCK_ONE, (_LOCK_MODE, self._schema_key))],
                                    reads=[(Q_SETTING_GET, ("mode",))])
            previous = rows[0][0] if rows and rows[0][0] else None
            t.write(Q_SETTING_PUT, ("mode", mode))
            t.append(AuditDraft(kind="mode", actor=actor, data={"mode": mode, "previous": previous}))

        await self._write(tx)
