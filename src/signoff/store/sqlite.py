"""The embedded default store: one SQLite file, several processes, durable commits.

WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for every write and a bounded wait, so
writers queue instead of failing; a write lock another process holds for longer than
``busy_timeout`` (5 s by default) becomes StoreUnavailable naming what was busy (the gate
fails closed), never a hang.

Two connections (lanes), each with its own lock and worker thread: the writer's and a
reader's. A read runs on the writer's connection when it is free (its cache is warm after
its own commits), else on the reader's, which no write ever holds: WAL lets readers run
beside a writer, so a write stalled on another process's lock never holds up a read (a
token check, a ticket list, the poller). An in-memory database has one connection, so
there the two lanes are one.

Where calls run: SQLite is synchronous, and a query or a commit takes microseconds to a
fraction of a millisecond, less than handing it to another thread (two thread switches,
which on a busy 2-core machine cost more than the query). So a call runs inline, on the
loop that awaits it, when it cannot block: its lane's connection is free (a non-blocking
lock) and the database is not busy (the connection's busy timeout is zero, so a lock held
by another process fails at once, before anything changed, and a write rolls back).
Otherwise it is handed to its lane's worker thread, which waits until the call's deadline
(``busy_timeout`` after it was made) and no longer, so an event loop is never stalled by
another process's transaction. ``inline_safe`` tells the gate it may await these
coroutines on any loop. Other processes' commits are noticed through ``PRAGMA
data_version`` by ``poll()`` and published from the audit log.

This module is the driver only (connections, inline or worker, retries, errors, migrations,
the audit chain's append); the domain logic is ``store/_base.py`` and the SQL is
``sql/sqlite/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from signoff._errors import StoreUnavailable, UserError
from signoff._records import AuditDraft, AuditEntry, Event
from signoff.audit import chain_end, link, parse_head
from signoff.store import sql
from signoff.store._archive import ArchiveMixin
from signoff.store._base import BaseStore, Query, Row, Transaction
from signoff.store._notify import Notifier
from signoff.store._outbox import OutboxMixin

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = sql.latest_version("sqlite")
INLINE_STATE_BYTES = 2048  # keep in step with sql/sqlite/migrations/0002_ticket_states.sql
T = TypeVar("T")
BUSY_TIMEOUT_MS = 5_000
"""How long a call waits for a database another process holds, by default (``?busy_timeout=`` seconds)."""
Q = sql.queries("sqlite")


@dataclass(frozen=True, slots=True)
class _Statement:
    """A named query, prepared once when the module loads rather than on every call.

    Its ``:name`` parameters become positional ``?`` in the order they appear (``names``):
    SQLite binds a tuple faster than it looks names up in a dict, and building the tuple
    is where times are converted. A statement with ``{where}`` keeps its names (the
    filters add parameters of their own)."""

    text: str
    names: tuple[str, ...]
    """The parameter of each ``?`` in order."""
    where: bool
    """Named parameters and a ``{where}`` to fill."""
    bulk: bool
    """A write that returns no rows: several rows run as one ``executemany``."""


_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def _statement(text: str) -> _Statement:
    verb = text.lstrip().split(None, 1)[0].upper()
    bulk = verb in ("INSERT", "UPDATE", "DELETE") and "RETURNING" not in text.upper()
    if "{where}" in text:
        return _Statement(text, (), True, bulk)
    names: list[str] = []

    def positional(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)  # a string literal or a comment, as it is
        names.append(m.group(1))
        return "?"

    return _Statement(_TOKENS.sub(positional, text), tuple(names), False, bulk)


STATEMENTS = {name: _statement(text) for name, text in Q.items()}


def _positional(name: str, *names: str) -> str:
    """The text of a statement the driver binds by position itself (checked against the file)."""
    if STATEMENTS[name].names != names:
        raise RuntimeError(f"sql/sqlite/queries.sql {name}: expected parameters {names}")
    return STATEMENTS[name].text


_AUDIT_INSERT = _positional("audit_insert", "seq", "at", "kind", "ticket_id", "actor", "data", "prev_hash", "hash")
_PUT_SETTING = _positional("put_setting", "key", "value")


def _value(v: Any) -> Any:
    """SQLite keeps times as unix seconds (its datetime adapter would write text)."""
    return v.timestamp() if isinstance(v, datetime) else v


def _bind(stmt: _Statement, params: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple([v.timestamp() if isinstance(v, datetime) else v for v in map(params.__getitem__, stmt.names)])


def _where(text: str, params: Mapping[str, Any], filters: Sequence[tuple[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``text`` with ``{where}`` filled in (fixed column names; every value a named parameter)."""
    bound = {k: _value(v) for k, v in params.items()}
    clauses = []
    for i, (column, value) in enumerate(filters):
        if isinstance(value, tuple):
            names = [f"f{i}_{j}" for j in range(len(value))]
            clauses.append(f"{column} IN ({', '.join(':' + n for n in names)})")
            bound.update(zip(names, map(_value, value), strict=True))
        else:
            clauses.append(f"{column} = :f{i}")
            bound[f"f{i}"] = _value(value)
    return text.replace("{where}", ("WHERE " + " AND ".join(clauses)) if clauses else ""), bound


def _execute(conn: sqlite3.Connection, query: Query) -> list[Row]:
    """Run ``query`` (once per row of ``many``) and return its rows."""
    stmt = STATEMENTS[query.name]
    if query.many is None:
        if stmt.where:
            return conn.execute(*_where(stmt.text, query.params, query.filters)).fetchall()
        return conn.execute(stmt.text, _bind(stmt, query.params)).fetchall()
    base = query.params
    each = [{**base, **one} for one in query.many] if base else query.many
    if stmt.where:
        rows: list[Row] = []
        for params in each:
            rows += conn.execute(*_where(stmt.text, params, query.filters)).fetchall()
        return rows
    if len(each) == 1:
        return conn.execute(stmt.text, _bind(stmt, each[0])).fetchall()
    if stmt.bulk:
        conn.executemany(stmt.text, [_bind(stmt, params) for params in each])
        return []
    rows = []
    for params in each:
        rows += conn.execute(stmt.text, _bind(stmt, params)).fetchall()
    return rows


class _WouldBlock(Exception):
    """The inline attempt would have to wait (connection or database lock busy): use the worker."""


def _busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _seconds_option(url: str, text: str | None) -> int:
    """``busy_timeout`` from the URL (seconds, > 0) as milliseconds; the default when absent."""
    if text is None:
        return BUSY_TIMEOUT_MS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise UserError(f"bad SQLite URL {url!r}: busy_timeout={text!r} must be seconds between 0 and 3600, "
                        "e.g. busy_timeout=5")
    return max(1, int(seconds * 1000))


@dataclass(eq=False)
class _Lane:
    """A connection, the lock that lets one call at a time use it, and the worker that waits for it."""

    role: str
    """``write`` or ``read``: named in errors, so a message says which side was kept waiting."""
    conn: sqlite3.Connection
    lock: threading.Lock
    executor: ThreadPoolExecutor


def _set_busy(conn: sqlite3.Connection, deadline: float) -> None:
    """The connection's busy timeout: what is left until ``deadline`` (SQLite waits that long at most)."""
    conn.execute(f"PRAGMA busy_timeout = {max(1, int((deadline - time.monotonic()) * 1000))}")


class SQLiteStore(BaseStore, OutboxMixin, ArchiveMixin):
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://`` (in memory)."""

    inline_safe = True
    """Its coroutines may be awaited on any loop and thread (see the module docstring)."""
    inline_state_bytes = INLINE_STATE_BYTES

    def __init__(self, url: str, *, busy_timeout_ms: int | None = None, durable: bool = True) -> None:
        self.url = url
        path, _, query = url.removeprefix("sqlite:").partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(set(options) - {"busy_timeout"})
        if unknown:
            raise UserError(f"bad SQLite URL {url!r}: unknown option {unknown[0]!r} (the only one is busy_timeout, "
                            "in seconds)")
        if busy_timeout_ms is None:
            busy_timeout_ms = _seconds_option(url, options.get("busy_timeout"))
        if path in ("", "//", "///:memory:", "//:memory:"):
            self.path = ":memory:"
        elif path.startswith("///"):
            self.path = path[3:]
        elif path.startswith("//"):
            raise UserError(f"bad SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db")
        else:
            self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        """The bound on any call's wait for a database another process holds (then StoreUnavailable)."""
        # durable=False (synchronous=NORMAL) is for benchmarks that separate signoff's own cost
        # from the disk's: a commit may then be lost on power failure. Never the default.
        self.durable = durable
        self.notifier = Notifier()
        self._open = False
        self._lock = threading.Lock()  # opening and closing
        self._writer: _Lane | None = None
        self._reader: _Lane | None = None  # the writer's lane for an in-memory database
        self._data_versions: dict[int, int] = {}  # PRAGMA data_version is per connection: by id(conn)

    # -- the driver -------------------------------------------------------------------------
    async def _fetch(self, query: Query) -> list[Row]:
        return await self._read_any(partial(_execute, query=query))

    async def _read_any(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` inline on the writer's connection when it is free (its page cache is warm after its
        own commits: a cycle of writes and reads stays as fast as on one connection), else on the
        reader's lane, which no write ever holds."""
        writer = self._writer
        if writer is not None and writer is not self._reader and writer.lock.acquire(blocking=False):
            try:
                if self._open:
                    return self._read(fn, writer.conn, None)
            except _WouldBlock:
                pass
            finally:
                writer.lock.release()
        return await self._run(self._reader, partial(self._read, fn))

    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]:
        result, entries, events = await self._run(self._writer, partial(self._write, tx))
        self.notifier.publish(events)
        return result, entries

    # -- plumbing ---------------------------------------------------------------------------
    async def _run(self, lane: _Lane | None, fn: Callable[[sqlite3.Connection, float | None], T]) -> T:
        """Run ``fn(conn, None)`` inline if that cannot block, else ``fn(conn, deadline)`` on the lane's worker.

        Inline, the busy timeout is zero: ``fn`` raises ``_WouldBlock`` when the database is busy,
        before it changed anything, to ask for the worker. The worker waits for the lane (behind
        earlier calls) and for the database until ``deadline``, ``busy_timeout_ms`` after this
        call was made, and then raises StoreUnavailable: no call waits much longer than that."""
        if lane is None or not self._open:
            raise StoreUnavailable(f"store {self.url} is closed")
        if lane.lock.acquire(blocking=False):
            try:
                if not self._open:
                    raise StoreUnavailable(f"store {self.url} is closed")
                return fn(lane.conn, None)
            except _WouldBlock:
                pass
            finally:
                lane.lock.release()
        deadline = time.monotonic() + self.busy_timeout_ms / 1000

        def waited() -> T:
            if not lane.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise self._timed_out(lane, "this process's earlier calls")
            try:
                if not self._open:
                    raise StoreUnavailable(f"store {self.url} is closed")
                try:
                    _set_busy(lane.conn, deadline)
                except sqlite3.Error as exc:
                    raise self._unavailable(exc) from exc
                try:
                    return fn(lane.conn, deadline)
                finally:
                    with contextlib.suppress(sqlite3.Error):
                        lane.conn.execute("PRAGMA busy_timeout = 0")
            finally:
                lane.lock.release()

        try:
            return await asyncio.get_running_loop().run_in_executor(lane.executor, waited)
        except RuntimeError as exc:  # the executor was shut down: the store closed meanwhile
            raise StoreUnavailable(f"store {self.url} is closed") from exc

    def _timed_out(self, lane: _Lane, holder: str) -> StoreUnavailable:
        done = "nothing was written" if lane.role == "write" else "nothing was read"
        return StoreUnavailable(f"{self.url}: a {lane.role} waited {self.busy_timeout_ms / 1000:g} s (busy_timeout) "
                                f"for {holder} and gave up; {done}")

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

    def _write(self, tx: Transaction[T], conn: sqlite3.Connection,
               deadline: float | None) -> tuple[T, list[AuditEntry], list[Event]]:
        """Run ``tx`` in BEGIN IMMEDIATE ... COMMIT, waiting for another process's lock until ``deadline``.
        With no deadline (inline), raise ``_WouldBlock`` if the database is busy, rolled back."""
        attempt = 0
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise self._unavailable(exc) from exc
                if deadline is None:
                    raise _WouldBlock from None
                # SQLite may answer "busy" before its timeout (a WAL snapshot moved on): try again.
                attempt += 1
                if time.monotonic() + 0.01 >= deadline:
                    raise self._locked(exc) from None
                time.sleep(min(0.01 * attempt, max(0.0, deadline - time.monotonic())))
                try:
                    _set_busy(conn, deadline)
                except sqlite3.Error as exc2:
                    raise self._unavailable(exc2) from exc2
        try:
            # BEGIN IMMEDIATE holds the database's write lock: tx.locks are covered by it.
            writes = tx.decide([_execute(conn, q) for q in tx.reads])
            for q in writes.writes:
                _execute(conn, q)
            mine = self._append(conn, writes.audit) if writes.audit else []
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                if deadline is None and _busy(exc):
                    raise _WouldBlock from None  # (a COMMIT waiting for readers without WAL)
                raise (self._locked(exc) if _busy(exc) else self._unavailable(exc)) from exc
            raise
        if mine and mine[0].seq == self.notifier.last_seq + 1:
            # Nothing from other processes came before ours: our entries are the events (one
            # query less per write). Anything they commit later reaches poll().
            events = [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data) for e in mine]
            return writes.result, mine, events
        return writes.result, mine, self._catch_up(conn)

    def _locked(self, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"{self.url}: another process held the database's write lock for more than "
                                f"{self.busy_timeout_ms / 1000:g} s (busy_timeout; {exc}); nothing was written")

    def _append(self, conn: sqlite3.Connection, drafts: Sequence[AuditDraft]) -> list[AuditEntry]:
        """The next links of the chain, under the write lock, and the head record after them."""
        row = conn.execute(Q["audit_last"]).fetchone()
        last = chain_end(parse_head(row[0]), (int(row[1]), str(row[2])) if row[1] is not None else None)
        entries = []
        for draft in drafts:
            e = link(draft, last)
            entries.append(e)
            last = (e.seq, e.hash)
        rows = [(e.seq, e.at, e.kind, e.ticket_id, e.actor, json.dumps(e.data, sort_keys=True), e.prev_hash, e.hash)
                for e in entries]
        if len(rows) == 1:
            conn.execute(_AUDIT_INSERT, rows[0])
        else:
            conn.executemany(_AUDIT_INSERT, rows)
        conn.execute(_PUT_SETTING, ("audit_head", f"{e.seq}:{e.hash}"))
        return entries

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        text = str(exc)
        if "full" in text:
            return StoreUnavailable(f"{self.url}: the disk or database is full ({text}); nothing was written")
        return StoreUnavailable(f"{self.url}: {text}")

    def _read(self, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, deadline: float | None) -> T:
        try:
            return fn(conn)
        except sqlite3.Error as exc:
            if _busy(exc):
                if deadline is None:
                    raise _WouldBlock from None
                raise StoreUnavailable(f"{self.url}: the database stayed locked by another process for more than "
                                       f"{self.busy_timeout_ms / 1000:g} s (busy_timeout; {exc}); nothing was "
                                       "read") from exc
            raise self._unavailable(exc) from exc

    def _catch_up(self, conn: sqlite3.Connection) -> list[Event]:
        rows = conn.execute(Q["catch_up"], {"after": self.notifier.last_seq}).fetchall()
        return [Event(seq=r[0], kind=r[1], ticket_id=r[2], data=json.loads(r[3])) for r in rows]

    # -- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        with self._lock:
            if self._open:
                return
            writer = self._open_sync()
            reader = writer
            if self.path != ":memory:":
                try:
                    conn = self._connect()
                    conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA query_only = 1")  # reads only: writes take the writer's lane
                except BaseException:
                    writer.close()
                    raise
                reader = conn
            self._data_versions = {id(c): c.execute(Q["data_version"]).fetchone()[0] for c in (writer, reader)}
            self._writer = _Lane("write", writer, threading.Lock(),
                                 ThreadPoolExecutor(max_workers=1, thread_name_prefix="signoff-sqlite-write"))
            self._reader = self._writer if reader is writer else _Lane(
                "read", reader, threading.Lock(),
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="signoff-sqlite-read"))
            self._open = True

    def _open_sync(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            self._migrate(conn)
            self.notifier.last_seq = int(conn.execute(Q["last_seq"]).fetchone()[0])
            conn.execute("PRAGMA busy_timeout = 0")  # inline calls never wait (see _run)
        except BaseException as exc:
            conn.close()  # a store that failed to open holds no file handle
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(exc) from exc
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute(Q["user_version"]).fetchone()[0]
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
            lanes = {id(lane): lane for lane in (self._writer, self._reader) if lane is not None}
            self._writer = self._reader = None
        for lane in lanes.values():
            # A call on the worker gives up by its deadline; it holds the lane's lock until then.
            with lane.lock:
                lane.conn.close()
            lane.executor.shutdown(wait=False)

    async def poll(self) -> None:
        def check(conn: sqlite3.Connection) -> list[Event]:
            version = conn.execute(Q["data_version"]).fetchone()[0]
            if version == self._data_versions.get(id(conn)):
                return []
            events = self._catch_up(conn)
            self._data_versions[id(conn)] = version  # only once read: a busy read is run again on the worker
            return events

        events = await self._read_any(check)
        if events:
            self.notifier.publish(events)

    async def ping(self) -> None:
        """A read transaction on the database file (readiness checks); StoreUnavailable when it fails."""
        await self._fetch(Query("ping"))


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
