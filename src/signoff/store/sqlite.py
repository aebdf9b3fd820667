"""The embedded default store: one SQLite file, several processes, durable commits.

WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for every write and a busy timeout, so
writers queue instead of failing; a lock that outlasts the timeout is retried a few
times and then becomes StoreUnavailable (the gate fails closed).

Where calls run: SQLite is synchronous, and a query or a commit takes microseconds to a
fraction of a millisecond, less than handing it to another thread (two thread switches,
which on a busy 2-core machine cost more than the query). So a call runs inline, on the
loop that awaits it, when it cannot block: the connection is free (a non-blocking lock)
and, for a write, the database's write lock is free (``BEGIN IMMEDIATE`` with a zero busy
timeout). Otherwise it is handed to the store's one worker thread, which waits as long as
the busy timeout allows, so an event loop is never stalled by another process's
transaction. ``inline_safe`` tells the gate it may await these coroutines on any loop.
Other processes' commits are noticed through ``PRAGMA data_version`` by ``poll()`` and
published from the audit log.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from signoff._errors import NotFound, QuotaExceeded, StoreUnavailable, UserError
from signoff._model import Ticket, utcnow
from signoff.audit import GENESIS, entry_hash
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

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = sql.latest_version("sqlite")
INLINE_STATE_BYTES = 2048  # keep in step with sql/sqlite/migrations/0002_ticket_states.sql
T = TypeVar("T")
_LOCK_RETRIES = 5


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


class _WouldBlock(Exception):
    """The inline attempt would have to wait (connection or database lock busy): use the worker."""


class SQLiteStore:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://`` (in memory)."""

    inline_safe = True
    """Its coroutines may be awaited on any loop and thread (see the module docstring)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000, durable: bool = True) -> None:
        self.url = url
        path = url.removeprefix("sqlite:")
        if path in ("", "//", "///:memory:", "//:memory:"):
            self.path = ":memory:"
        elif path.startswith("///"):
            self.path = path[3:]
        elif path.startswith("//"):
            raise UserError(f"bad SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db")
        else:
            self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        # durable=False (synchronous=NORMAL) is for benchmarks that separate signoff's own cost
        # from the disk's: a commit may then be lost on power failure. Never the default.
        self.durable = durable
        self.notifier = Notifier()
        self._conn: sqlite3.Connection | None = None
        self._open = False
        self._lock = threading.Lock()  # one call at a time on the connection, whichever thread asks
        self._executor: ThreadPoolExecutor | None = None  # for the calls that would block
        self._data_version = -1
        self._appended: list[AuditEntry] = []  # entries written by the transaction in progress

    # -- plumbing ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[[], T], fast: Callable[[], T] | None = None) -> T:
        """Run ``fast`` (or ``fn``) inline if that cannot block, else ``fn`` on the worker thread.

        ``fast`` may raise ``_WouldBlock`` before it changes anything, to ask for the worker."""
        if self._lock.acquire(blocking=False):
            try:
                if not self._open:
                    raise StoreUnavailable(f"store {self.url} is closed")
                return (fast or fn)()
            except _WouldBlock:
                pass
            finally:
                self._lock.release()
        executor = self._executor
        if executor is None:
            raise StoreUnavailable(f"store {self.url} is closed")

        def locked() -> T:
            with self._lock:
                if not self._open:
                    raise StoreUnavailable(f"store {self.url} is closed")
                return fn()

        return await asyncio.get_running_loop().run_in_executor(executor, locked)

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.exists():
                raise StoreUnavailable(f"cannot open {self.url}: directory {parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.url}: {exc}") from exc
        return conn

    def _write(self, fn: Callable[[sqlite3.Connection], T], *, wait: bool = True) -> tuple[T, list[Event]]:
        """Run ``fn`` in BEGIN IMMEDIATE ... COMMIT, retrying a lock that outlasts the busy timeout.
        With ``wait=False``, raise ``_WouldBlock`` at once if another connection holds the lock."""
        conn = self._require()
        for attempt in range(_LOCK_RETRIES):
            try:
                if wait:
                    conn.execute("BEGIN IMMEDIATE")
                else:
                    conn.execute("PRAGMA busy_timeout = 0")
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                    finally:
                        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    if not wait:
                        raise _WouldBlock from None
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise self._unavailable(exc) from exc
            self._appended = []
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise self._unavailable(exc) from exc
                raise
            mine = self._appended
            if mine and mine[0].seq == self.notifier.last_seq + 1:
                # Nothing from other processes came before ours: our entries are the events (one
                # query less per write). Anything they commit later reaches poll().
                return result, [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data) for e in mine]
            return result, self._catch_up(conn)
        raise StoreUnavailable(f"{self.url} stayed locked by another process; nothing was written")

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        text = str(exc)
        if "full" in text:
            return StoreUnavailable(f"{self.url}: the disk or database is full ({text}); nothing was written")
        return StoreUnavailable(f"{self.url}: {text}")

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._require()
        try:
            return fn(conn)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable(f"store {self.url} is not open")
        return self._conn

    def _catch_up(self, conn: sqlite3.Connection) -> list[Event]:
        rows = conn.execute(
            "SELECT seq, kind, ticket_id, data FROM audit WHERE seq > ? ORDER BY seq",
            (self.notifier.last_seq,),
        ).fetchall()
        return [Event(seq=r[0], kind=r[1], ticket_id=r[2], data=json.loads(r[3])) for r in rows]

    async def _write_async(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result, events = await self._run(lambda: self._write(fn), lambda: self._write(fn, wait=False))
        self.notifier.publish(events)
        return result

    # -- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        with self._lock:
            if self._open:
                return
            self._open_sync()
            self._open = True
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signoff-sqlite")

    def _open_sync(self) -> None:
        conn = self._connect()
        try:
            self._migrate(conn)
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()
            self.notifier.last_seq = int(row[0])
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        except BaseException as exc:
            conn.close()  # a store that failed to open holds no file handle
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(exc) from exc
            raise
        self._conn = conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.url} has schema version {version}, newer than this signoff "
                    f"({SCHEMA_VERSION}): upgrade signoff"
                )
            if version == 0:
                for stmt in split_sql(sql.schema("sqlite")):
                    conn.execute(stmt)
            else:
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    for stmt in split_sql(sql.migrations("sqlite")[v]):
                        conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        with self._lock:
            self._open = False
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)  # idle: every call holds the lock we just had

    async def poll(self) -> None:
        def check(conn: sqlite3.Connection) -> list[Event]:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return []
            self._data_version = version
            return self._catch_up(conn)

        events = await self._run(lambda: self._read(check))
        if events:
            self.notifier.publish(events)

    async def ping(self) -> None:
        """A read transaction on the database file (readiness checks); StoreUnavailable when it fails."""
        def q(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

        await self._run(lambda: self._read(q))

    # -- audit ------------------------------------------------------------------------------
    def _append(self, conn: sqlite3.Connection, draft: AuditDraft) -> AuditEntry:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        at = utcnow().isoformat()
        data = dict(draft.data)
        h = entry_hash(seq=seq, at=at, kind=draft.kind, ticket_id=draft.ticket_id, actor=draft.actor,
                       data=data, prev_hash=prev)
        conn.execute(
            "INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
            (seq, at, draft.kind, draft.ticket_id, draft.actor, json.dumps(data, sort_keys=True), prev, h),
        )
        conn.execute("INSERT INTO settings (key, value) VALUES ('audit_head', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (f"{seq}:{h}",))
        entry = AuditEntry(seq=seq, at=at, kind=draft.kind, ticket_id=draft.ticket_id, actor=draft.actor,
                           data=data, prev_hash=prev, hash=h)
        self._appended.append(entry)
        return entry

    async def append_audit(self, draft: AuditDraft) -> AuditEntry:
        return await self._write_async(lambda c: self._append(c, draft))

    async def audit_entries(self, *, after: int = 0, limit: int | None = None,
                            ticket_id: str | None = None) -> list[AuditEntry]:
        def q(conn: sqlite3.Connection) -> list[AuditEntry]:
            sql = "SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit WHERE seq > ?"
            params: list[Any] = [after]
            if ticket_id is not None:
                sql += " AND ticket_id = ?"
                params.append(ticket_id)
            sql += " ORDER BY seq"
            if limit is not None:
                sql += " LIMIT ?"
                params.append(limit)
            return [AuditEntry(seq=r[0], at=r[1], kind=r[2], ticket_id=r[3], actor=r[4], data=json.loads(r[5]),
                               prev_hash=r[6], hash=r[7]) for r in conn.execute(sql, params)]

        return await self._run(lambda: self._read(q))

    async def audit_head(self) -> tuple[int, str] | None:
        def q(conn: sqlite3.Connection) -> tuple[int, str] | None:
            row = conn.execute("SELECT value FROM settings WHERE key = 'audit_head'").fetchone()
            if not row or not row[0]:
                return None
            seq, _, h = str(row[0]).partition(":")
            return int(seq), h

        return await self._run(lambda: self._read(q))

    # -- tickets ----------------------------------------------------------------------------
    def _row_values(self, t: Ticket) -> tuple[Any, ...]:
        return (t.kind, t.status, t.action.agent, t.action.name, t.group_key, t.batch_id, t.idempotency_key,
                t.tier, _ts(t.deadline) if t.status == "pending" else None, _ts(t.created_at),
                _ts(t.decided_at), ticket_to_json(t))

    async def insert_tickets(self, tickets: Sequence[tuple[Ticket, StoredState | None]], *,
                             max_pending: int | None = None,
                             audit_kind: str = "submitted") -> list[tuple[Ticket, bool]]:
        def tx(conn: sqlite3.Connection) -> list[tuple[Ticket, bool]]:
            existing: dict[tuple[str, str], Ticket] = {}
            for agent, key in submission.keys_of(tickets):
                row = conn.execute("SELECT body FROM tickets WHERE agent = ? AND idempotency_key = ?",
                                   (agent, key)).fetchone()
                if row is not None:
                    existing[(agent, key)] = ticket_from_json(row[0])
            pending = {agent: int(conn.execute("SELECT COUNT(*) FROM tickets WHERE agent = ? AND status = 'pending'",
                                               (agent,)).fetchone()[0])
                       for agent in submission.quota_agents(tickets, max_pending)}
            # Raises Conflict or QuotaExceeded: the whole batch rolls back (none of it is queued).
            plan = submission.plan(tickets, existing=existing, pending=pending, max_pending=max_pending,
                                   audit_kind=audit_kind)
            for t, state in plan.inserts:
                conn.execute(
                    "INSERT INTO tickets (kind, status, agent, action, group_key, batch_id, idempotency_key, tier, "
                    "deadline, created_at, decided_at, body, id, state_kind, state) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*self._row_values(t), t.id, *(_inline(state) or (None, None))),
                )
                if state is not None and _inline(state) is None:
                    conn.execute("INSERT INTO ticket_states (ticket_id, kind, data) VALUES (?,?,?)",
                                 (t.id, state.kind, state.data))
            for draft in plan.audit:
                self._append(conn, draft)
            return list(plan.results)

        try:
            return await self._write_async(tx)
        except QuotaExceeded as err:
            await self.append_audit(submission.quota_refused(err, max_pending))
            raise

    async def get_ticket(self, ticket_id: str) -> Ticket:
        def q(conn: sqlite3.Connection) -> Ticket:
            row = conn.execute("SELECT body FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
            return ticket_from_json(row[0])

        return await self._run(lambda: self._read(q))

    async def get_state(self, ticket_id: str) -> StoredState | None:
        def q(conn: sqlite3.Connection) -> StoredState | None:
            row = conn.execute("SELECT state_kind, state FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
            if row[1] is not None:
                return decode_state(row[0], row[1])
            row = conn.execute("SELECT kind, data FROM ticket_states WHERE ticket_id = ?", (ticket_id,)).fetchone()
            return decode_state(row[0], row[1]) if row is not None else None

        return await self._run(lambda: self._read(q))

    def _where(self, query: TicketQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.status is not None:
            statuses = (query.status,) if isinstance(query.status, str) else tuple(query.status)
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        for col, value in (("kind", query.kind), ("agent", query.agent), ("action", query.action),
                           ("group_key", query.group), ("batch_id", query.batch),
                           ("idempotency_key", query.idempotency_key)):
            if value is not None:
                clauses.append(f"{col} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    async def list_tickets(self, query: TicketQuery) -> list[Ticket]:
        def q(conn: sqlite3.Connection) -> list[Ticket]:
            where, params = self._where(query)
            order = "DESC" if query.newest_first else "ASC"
            sql = f"SELECT body FROM tickets{where} ORDER BY created_at {order}, rowid {order} LIMIT ? OFFSET ?"
            return [ticket_from_json(r[0]) for r in conn.execute(sql, [*params, query.limit, query.offset])]

        return await self._run(lambda: self._read(q))

    async def count_tickets(self, query: TicketQuery) -> int:
        def q(conn: sqlite3.Connection) -> int:
            where, params = self._where(query)
            return int(conn.execute(f"SELECT COUNT(*) FROM tickets{where}", params).fetchone()[0])

        return await self._run(lambda: self._read(q))

    async def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Change | None]) -> Ticket:
        def tx(conn: sqlite3.Connection) -> Ticket:
            row = conn.execute("SELECT body FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
            current = ticket_from_json(row[0])
            result = change(current)
            if result is None:
                return current
            t = result.ticket
            conn.execute(
                # Only the columns a transition can change: an index whose columns are not SET is
                # left alone, which keeps a decision's commit (and its fsync) a few pages smaller.
                "UPDATE tickets SET status=?, tier=?, deadline=?, decided_at=?, body=? WHERE id=?",
                (t.status, t.tier, _ts(t.deadline) if t.status == "pending" else None, _ts(t.decided_at),
                 ticket_to_json(t), t.id),
            )
            for draft in result.audit:
                self._append(conn, draft)
            if result.learn_fingerprint:
                conn.execute("INSERT OR IGNORE INTO fingerprints (fingerprint, ticket_id, learnt_at) VALUES (?,?,?)",
                             (result.learn_fingerprint, t.id, time.time()))
            return t

        return await self._write_async(tx)

    async def due_tickets(self, now: datetime, limit: int = 100) -> list[str]:
        def q(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute(
                "SELECT id FROM tickets WHERE status = 'pending' AND deadline <= ? ORDER BY deadline LIMIT ?",
                (now.timestamp(), limit))]

        return await self._run(lambda: self._read(q))

    async def next_deadline(self) -> datetime | None:
        def q(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute("SELECT MIN(deadline) FROM tickets WHERE status = 'pending'").fetchone()
            return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None

        return await self._run(lambda: self._read(q))

    # -- people, tokens, settings ------------------------------------------------------------
    async def put_reviewer(self, reviewer: Reviewer, *, actor: str = "admin") -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO reviewers (name, tier, password_hash, disabled) VALUES (?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET tier = excluded.tier, "
                "password_hash = COALESCE(excluded.password_hash, reviewers.password_hash), "
                "disabled = excluded.disabled",
                (reviewer.name, reviewer.tier, reviewer.password_hash, int(reviewer.disabled)),
            )
            self._append(conn, AuditDraft(kind="reviewer", actor=actor,
                                          data={"name": reviewer.name, "tier": reviewer.tier,
                                                "disabled": reviewer.disabled}))

        await self._write_async(tx)

    async def get_reviewer(self, name: str) -> Reviewer | None:
        def q(conn: sqlite3.Connection) -> Reviewer | None:
            row = conn.execute("SELECT name, tier, password_hash, disabled FROM reviewers WHERE name = ?",
                               (name,)).fetchone()
            return Reviewer(name=row[0], tier=row[1], password_hash=row[2], disabled=bool(row[3])) if row else None

        return await self._run(lambda: self._read(q))

    async def list_reviewers(self) -> list[Reviewer]:
        def q(conn: sqlite3.Connection) -> list[Reviewer]:
            return [Reviewer(name=r[0], tier=r[1], password_hash=r[2], disabled=bool(r[3])) for r in
                    conn.execute("SELECT name, tier, password_hash, disabled FROM reviewers ORDER BY name")]

        return await self._run(lambda: self._read(q))

    async def put_token(self, token: TokenRecord) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO tokens (token_hash, kind, name, created_at, revoked) VALUES (?,?,?,?,?)",
                         (token.token_hash, token.kind, token.name, token.created_at.timestamp(),
                          int(token.revoked)))
            self._append(conn, AuditDraft(kind="token_created", actor="admin",
                                          data={"kind": token.kind, "name": token.name,
                                                "hash_prefix": token.token_hash[:8]}))

        await self._write_async(tx)

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        def q(conn: sqlite3.Connection) -> TokenRecord | None:
            row = conn.execute("SELECT token_hash, kind, name, created_at, revoked FROM tokens WHERE token_hash = ?",
                               (token_hash,)).fetchone()
            if row is None:
                return None
            return TokenRecord(token_hash=row[0], kind=row[1], name=row[2],
                               created_at=datetime.fromtimestamp(row[3], UTC), revoked=bool(row[4]))

        return await self._run(lambda: self._read(q))

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM revoked_sessions WHERE expires_at <= ? AND sid_hash <> ?",
                         (time.time(), session_hash))
            conn.execute("INSERT INTO revoked_sessions (sid_hash, expires_at) VALUES (?, ?) ON CONFLICT(sid_hash) "
                         "DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                         (session_hash, expires_at.timestamp()))

        await self._write_async(tx)

    async def session_revoked(self, session_hash: str) -> bool:
        return await self._run(lambda: self._read(lambda c: c.execute(
            "SELECT 1 FROM revoked_sessions WHERE sid_hash = ?", (session_hash,)).fetchone() is not None))

    async def known_fingerprints(self) -> set[str]:
        return await self._run(lambda: self._read(
            lambda c: {r[0] for r in c.execute("SELECT fingerprint FROM fingerprints")}))

    async def get_mode(self) -> str | None:
        def q(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM settings WHERE key = 'mode'").fetchone()
            return row[0] if row and row[0] else None

        return await self._run(lambda: self._read(q))

    async def set_mode(self, mode: str | None, *, actor: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT value FROM settings WHERE key = 'mode'").fetchone()
            previous = row[0] if row and row[0] else None
            conn.execute("INSERT INTO settings (key, value) VALUES ('mode', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (mode,))
            self._append(conn, AuditDraft(kind="mode", actor=actor, data={"mode": mode, "previous": previous}))

        await self._write_async(tx)


def _inline(state: StoredState | None) -> tuple[str, bytes] | None:
    """(kind, data) when ``state`` is small enough to live in the ticket row, else None."""
    if state is None or len(state.data) > INLINE_STATE_BYTES:
        return None
    return state.kind, state.data


def split_sql(script: str) -> list[str]:
    """Statements of a .sql file (comments may contain semicolons)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    return out

