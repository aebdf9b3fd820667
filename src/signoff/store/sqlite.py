"""The embedded default store: one SQLite file, several processes, durable commits.

WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for every write and a busy timeout, so
writers queue instead of failing; a lock that outlasts the timeout is retried a few
times and then becomes StoreUnavailable (the gate fails closed).

Where calls run: SQLite is synchronous, and a query or a commit takes microseconds to a
fraction of a millisecond, less than handing it to another thread (two thread switches,
which on a busy 2-core machine cost more than the query). So a call runs inline, on the
loop that awaits it, when it cannot block: the connection is free (a non-blocking lock)
and the database is not busy (the connection's busy timeout is zero, so a lock held by
another process fails at once, before anything changed, and a write rolls back). Otherwise
it is handed to the store's one worker thread, which sets the busy timeout for the call
and waits as long as it allows, so an event loop is never stalled by another process's
transaction. ``inline_safe`` tells the gate it may await these coroutines on any loop.
Other processes' commits are noticed through ``PRAGMA data_version`` by ``poll()`` and
published from the audit log.

This module is the driver only (connection, inline or worker, retries, errors, migrations,
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
_LOCK_RETRIES = 5
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


class SQLiteStore(BaseStore, OutboxMixin, ArchiveMixin):
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://`` (in memory)."""

    inline_safe = True
    """Its coroutines may be awaited on any loop and thread (see the module docstring)."""
    inline_state_bytes = INLINE_STATE_BYTES

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

    # -- the driver -------------------------------------------------------------------------
    async def _fetch(self, query: Query) -> list[Row]:
        return await self._run(partial(self._read, partial(_execute, query=query)))

    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]:
        result, entries, events = await self._run(partial(self._write, tx))
        self.notifier.publish(events)
        return result, entries

    # -- plumbing ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[[bool], T]) -> T:
        """Run ``fn(False)`` inline if that cannot block, else ``fn(True)`` on the worker thread.

        Inline, the busy timeout is zero: ``fn`` raises ``_WouldBlock`` when the database is busy,
        before it changed anything, to ask for the worker, which waits with the busy timeout."""
        if self._lock.acquire(blocking=False):
            try:
                if not self._open:
                    raise StoreUnavailable(f"store {self.url} is closed")
                return fn(False)
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
                conn = self._require()
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                except sqlite3.Error as exc:
                    raise self._unavailable(exc) from exc
                try:
                    return fn(True)
                finally:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA busy_timeout = 0")

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

    def _write(self, tx: Transaction[T], wait: bool) -> tuple[T, list[AuditEntry], list[Event]]:
        """Run ``tx`` in BEGIN IMMEDIATE ... COMMIT, retrying a lock that outlasts the busy timeout.
        With ``wait=False`` (inline), raise ``_WouldBlock`` if the database is busy, rolled back."""
        conn = self._require()
        for attempt in range(_LOCK_RETRIES):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    if not wait:
                        raise _WouldBlock from None
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise self._unavailable(exc) from exc
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
                    if not wait and _busy(exc):
                        raise _WouldBlock from None  # (a COMMIT waiting for readers without WAL)
                    raise self._unavailable(exc) from exc
                raise
            if mine and mine[0].seq == self.notifier.last_seq + 1:
                # Nothing from other processes came before ours: our entries are the events (one
                # query less per write). Anything they commit later reaches poll().
                events = [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data) for e in mine]
                return writes.result, mine, events
            return writes.result, mine, self._catch_up(conn)
        raise StoreUnavailable(f"{self.url} stayed locked by another process; nothing was written")

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

    def _read(self, fn: Callable[[sqlite3.Connection], T], wait: bool) -> T:
        conn = self._require()
        try:
            return fn(conn)
        except sqlite3.Error as exc:
            if not wait and _busy(exc):
                raise _WouldBlock from None
            raise self._unavailable(exc) from exc

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable(f"store {self.url} is not open")
        return self._conn

    def _catch_up(self, conn: sqlite3.Connection) -> list[Event]:
        rows = conn.execute(Q["catch_up"], {"after": self.notifier.last_seq}).fetchall()
        return [Event(seq=r[0], kind=r[1], ticket_id=r[2], data=json.loads(r[3])) for r in rows]

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
            self.notifier.last_seq = int(conn.execute(Q["last_seq"]).fetchone()[0])
            self._data_version = conn.execute(Q["data_version"]).fetchone()[0]
            conn.execute("PRAGMA busy_timeout = 0")  # inline calls never wait (see _run)
        except BaseException as exc:
            conn.close()  # a store that failed to open holds no file handle
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(exc) from exc
            raise
        self._conn = conn

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
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)  # idle: every call holds the lock we just had

    async def poll(self) -> None:
        def check(conn: sqlite3.Connection) -> list[Event]:
            version = conn.execute(Q["data_version"]).fetchone()[0]
            if version == self._data_version:
                return []
            events = self._catch_up(conn)
            self._data_version = version  # only once read: a busy read is run again on the worker
            return events

        events = await self._run(partial(self._read, check))
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
