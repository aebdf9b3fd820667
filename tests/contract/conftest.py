"""The store contract: every behaviour of the review queue is written once and run on every store.

``store_url`` gives each test a fresh, empty store of each kind (a new SQLite file; a new
PostgreSQL database on the session's throwaway server). Tests talk to the store only
through ``signoff.Gate``; the few helpers here that reach under it (``read_audit``,
``tamper``, ``store_outage``) have one variant per store kind, so a new store adds its
variant next to the SQLite one and inherits every test.

The ``remote`` backend runs the same tests through ``RemoteGate``s against a real ``signoff
serve`` on the test's own SQLite store (``tests/remote.py``): every test whose ``gate`` is all
it drives (it may still read the store's audit log through ``store_url``). Tests that open
their own gates or take the store away (``open_gate``, ``outage_gate``, ``unreachable_url``)
are left out at collection, and ``@pytest.mark.local_only("why")`` leaves out a test that
needs what only a local Gate has.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pytest

from signoff import Gate
from signoff.audit import entry_hash
from signoff.store import AuditEntry, open_store
from tests.remote import RemoteTeam, serve

STORE_KINDS = ["sqlite", "postgres", "memory", "remote"]
# Fixtures that reach under the gate: a test taking one of them never runs on the remote backend.
LOCAL_FIXTURES = {"open_gate", "outage_gate", "unreachable_url"}

# One policy for the whole suite: every rule is there for a test that names it.
POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto", "timeout": "30m", "on_timeout": "escalate"},
    "tiers": ["junior", "senior", "lead"],
    "rules": [
        {"name": "refunds", "match": {"action": "issue_refund"}, "level": "approve",
         "reviewers": {"tier": "junior"}},
        {"name": "big-refunds", "match": {"action": "issue_refund"}, "when": "args.amount > 1000",
         "level": "approve", "reviewers": {"tier": "senior"}},
        {"name": "absurd-refunds", "match": {"action": "issue_refund"}, "when": "args.amount > 100000",
         "level": "deny"},
        {"name": "payments", "match": {"action": "send_payment"}, "level": "approve",
         "reviewers": {"tier": "senior", "count": 2}},
        {"name": "digest", "match": {"action": "send_digest"}, "level": "notify"},
        {"name": "iam", "match": {"action": "iam.*"}, "level": "suggest"},
        {"name": "no-drop", "match": {"action": "drop_database"}, "level": "deny", "reason": "policy_boundary"},
        {"name": "escalating", "match": {"action": "slow_escalate"}, "level": "approve",
         "reviewers": {"tier": "junior"}, "timeout": "300ms", "on_timeout": "escalate"},
        {"name": "retrying", "match": {"action": "slow_retry"}, "level": "approve",
         "timeout": "200ms", "on_timeout": "retry", "retries": 2},
        {"name": "aborting", "match": {"action": "slow_abort"}, "level": "approve",
         "timeout": "200ms", "on_timeout": "abort"},
    ],
    "modes": {"incident": {"confidence_threshold": 0.95}},
}

# Reviewers every ``gate`` has: name -> tier.
REVIEWERS = {"alice": "junior", "bob": "senior", "carol": "senior", "dave": "lead"}


def fresh_database(pg_url: str) -> str:
    """Create an empty database with a random name on ``pg_url``'s server; return its URL."""
    import psycopg

    name = "signoff_t_" + secrets.token_hex(6)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # the name is ours: [a-z0-9_] only
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store this run of the test uses (memory: the in-memory store, for tests of one process;
    remote: a SQLite store behind ``signoff serve``, driven through RemoteGate)."""
    return str(request.param)


def drop_database(pg_url: str, url: str) -> None:
    """Drop a database made by ``fresh_database`` (closing whatever still uses it)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if store_kind in ("sqlite", "remote"):
        yield f"sqlite:///{tmp_path}/s.db"
        return
    if store_kind == "memory":
        yield f"memory://{secrets.token_hex(6)}"
        return
    pg_url = request.getfixturevalue("pg_url")  # skips until the PostgreSQL helper exists
    url = fresh_database(pg_url)
    yield url
    drop_database(pg_url, url)


GateFactory = Callable[..., Gate]


@pytest.fixture
def open_gate(store_url: str) -> Iterator[GateFactory]:
    """Open gates on the test's store (any policy, any options); all are closed after the test."""
    gates: list[Gate] = []

    def factory(policy: Any = None, *, store: Any = None, reviewers: bool = True, **kw: Any) -> Gate:
        g = Gate.open(policy=POLICY if policy is None else policy, store=store or store_url, **kw)
        gates.append(g)
        if reviewers:
            for name, tier in REVIEWERS.items():
                if tier in g.policy.tiers:
                    g.add_reviewer(name, tier=tier)
        return g

    yield factory
    for g in reversed(gates):
        g.close()


@pytest.fixture
def gate(store_kind: str, store_url: str, open_gate: GateFactory, tmp_path: Path) -> Iterator[Gate]:
    """A gate with the suite's policy and reviewers, sweeping timeouts; on the remote backend, a
    GateLike reaching ``signoff serve`` (which sweeps) only through RemoteGates."""
    if store_kind != "remote":
        yield open_gate()
        return
    (tmp_path / "served").mkdir()
    with serve(tmp_path / "served", POLICY, db=store_url, reviewers=REVIEWERS) as served:
        team = RemoteTeam(served, operator="dave")  # the top tier: mode switches
        try:
            yield cast(Gate, team)
        finally:
            team.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_only(why): not run on the contract suite's remote backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out of the remote backend what it cannot run (see the module docstring)."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        remote = params is not None and params.params.get("store_kind") == "remote" \
            and Path(str(item.fspath)).parent == Path(__file__).parent
        fixtures = set(getattr(item, "fixturenames", ()))
        uses_gate = "gate" in fixtures
        direct = set(inspect.signature(item.function).parameters) if isinstance(item, pytest.Function) else set()
        if remote and (not uses_gate or direct & LOCAL_FIXTURES or item.get_closest_marker("local_only")):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def run_in_new_loop(coro: Any) -> Any:
    """Run ``coro`` to completion on a private loop in a thread (usable from sync and async tests)."""
    out: dict[str, Any] = {}

    def main() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:
            out["error"] = exc

    th = threading.Thread(target=main)
    th.start()
    th.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def read_audit(store_url: str, ticket_id: str | None = None) -> list[AuditEntry]:
    """The audit log as stored, read through a second store object (any store kind)."""

    async def read() -> list[AuditEntry]:
        store = open_store(store_url)
        await store.open()
        try:
            return await store.audit_entries(ticket_id=ticket_id)
        finally:
            await store.close()

    result: list[AuditEntry] = run_in_new_loop(read())
    return result


def audit_kinds(store_url: str, ticket_id: str | None = None) -> list[str]:
    return [e.kind for e in read_audit(store_url, ticket_id)]


# -- tampering with the audit log, behind the store's back ----------------------------------------

TAMPERINGS = ["edit", "delete_middle", "delete_last", "insert"]


def tamper(store_url: str, how: str) -> int:
    """Change the audit table directly (as an attacker with database access would); return the seq
    of the first entry ``verify`` must name."""
    if store_url.startswith("sqlite:"):
        path = store_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            return _tamper(conn.execute, "?", how)
        finally:
            conn.close()
    if store_url.startswith(("postgresql:", "postgres:")):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as pconn:
            return _tamper(pconn.execute, "%s", how)
    if store_url.startswith("memory://"):
        return _tamper_memory(store_url, how)
    raise AssertionError(f"no tamper helper for {store_url}")


def _tamper(execute: Callable[..., Any], ph: str, how: str) -> int:
    """Store-agnostic tampering over a DB-API ``execute`` with placeholder ``ph``; assumes the
    audit table is ``audit(seq, at, kind, ticket_id, actor, data, prev_hash, hash)``."""
    if how == "delete_all":
        execute("DELETE FROM audit")
        return 1
    rows = execute("SELECT seq FROM audit ORDER BY seq").fetchall()
    seqs = [int(r[0]) for r in rows]
    assert len(seqs) >= 3, "tamper needs at least three audit entries"
    middle = seqs[len(seqs) // 2]
    if how == "edit":
        row = execute(f"SELECT data FROM audit WHERE seq = {ph}", (middle,)).fetchone()
        data = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        data = {**data, "tampered": True}
        execute(f"UPDATE audit SET data = {ph} WHERE seq = {ph}", (json.dumps(data, sort_keys=True), middle))
        return middle
    if how == "delete_middle":
        execute(f"DELETE FROM audit WHERE seq = {ph}", (middle,))
        return middle
    if how == "delete_last":
        execute(f"DELETE FROM audit WHERE seq = {ph}", (seqs[-1],))
        return seqs[-1]
    if how == "insert":
        # Two well-formed entries at the end: correct hashes, correct links. Only the head record
        # (written in the same transaction as every real entry) catches them.
        prev = execute(f"SELECT hash FROM audit WHERE seq = {ph}", (seqs[-1],)).fetchone()[0]
        at, data = "2026-01-01T00:00:00+00:00", {"status": "approved", "forged": True}
        for seq in (seqs[-1] + 1, seqs[-1] + 2):
            h = entry_hash(seq=seq, at=at, kind="approved", ticket_id=None, actor="mallory", data=data,
                           prev_hash=prev)
            execute(
                "INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash) "
                f"VALUES ({', '.join([ph] * 8)})",
                (seq, at, "approved", None, "mallory", json.dumps(data, sort_keys=True), prev, h),
            )
            prev = h
        return seqs[-1] + 1
    raise AssertionError(f"unknown tampering {how!r}")


def _tamper_memory(store_url: str, how: str) -> int:
    """The same tamperings on an in-memory database's audit list."""
    import dataclasses

    from signoff.store.memory import database

    audit = database(store_url.removeprefix("memory://")).audit
    if how == "delete_all":
        audit.clear()
        return 1
    assert len(audit) >= 3, "tamper needs at least three audit entries"
    i = len(audit) // 2
    middle = audit[i].seq
    if how == "edit":
        audit[i] = dataclasses.replace(audit[i], data={**audit[i].data, "tampered": True})
        return middle
    if how == "delete_middle":
        del audit[i]
        return middle
    if how == "delete_last":
        return audit.pop().seq
    if how == "insert":
        prev, first = audit[-1].hash, audit[-1].seq + 1
        at, data = "2026-01-01T00:00:00+00:00", {"status": "approved", "forged": True}
        for seq in (first, first + 1):
            h = entry_hash(seq=seq, at=at, kind="approved", ticket_id=None, actor="mallory", data=data, prev_hash=prev)
            audit.append(AuditEntry(seq=seq, at=at, kind="approved", ticket_id=None, actor="mallory", data=data,
                                    prev_hash=prev, hash=h))
            prev = h
        return first
    raise AssertionError(f"unknown tampering {how!r}")


# -- taking the store away while a gate is open ---------------------------------------------------

Outage = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def outage_gate(store_kind: str, store_url: str, open_gate: GateFactory,
                request: pytest.FixtureRequest) -> tuple[Gate, Outage]:
    """A gate whose store can be made unreachable for a while: ``with outage(): ...``.

    SQLite: another connection holds the write lock, and the gate's store gives up after a short
    busy timeout (as it would behind a stuck process). PostgreSQL: the test's database refuses
    new connections and its open ones are terminated (the server itself stays up for the
    other tests), then connections are allowed again.
    """
    if store_kind == "postgres":
        from signoff.store.postgres import PostgresStore

        # A short pool timeout: the outage tests need the failure, not five seconds of waiting for it.
        return (open_gate(store=PostgresStore(store_url, timeout=1.0, connect_timeout=1)),
                _pg_outage(request.getfixturevalue("pg_url"), store_url))
    if store_kind == "memory":
        from signoff.store.memory import database

        db = database(store_url.removeprefix("memory://"))

        @contextmanager
        def down() -> Iterator[None]:
            db.down = True
            try:
                yield
            finally:
                db.down = False

        return open_gate(), down
    from signoff.store.sqlite import SQLiteStore

    g = open_gate(store=SQLiteStore(store_url, busy_timeout_ms=50))
    path = store_url.removeprefix("sqlite:///")

    @contextmanager
    def outage() -> Iterator[None]:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    return g, outage


def _pg_outage(admin_url: str, store_url: str) -> Outage:
    import psycopg

    name = urlsplit(store_url).path.lstrip("/")

    @contextmanager
    def outage() -> Iterator[None]:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        try:
            yield
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    return outage


@pytest.fixture
def unreachable_url(store_kind: str, tmp_path: Path) -> str:
    """A store URL of each kind that cannot be reached."""
    if store_kind == "memory":
        pytest.skip("an in-memory store is always reachable")
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path}/no/such/dir/s.db"
    return "postgresql://signoff@127.0.0.1:1/nowhere?connect_timeout=2"
