"""Grouped commits (``?commit=grouped``, store/postgres.py): the chain's COMMIT does not wait for
the disk, a durable commit of the session's own (``commit_flush``) does, before the caller hears.
(The contract suite runs on the default mode; the same behaviour in this mode is checked here.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from signoff import UserError
from signoff.audit import verify_chain
from signoff.store import AuditDraft
from signoff.store.postgres import PostgresStore
from tests.postgres_server import PostgresSetupError, create_database, start_cluster

pytestmark = pytest.mark.postgres


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def db(pg_url: str) -> str:
    return create_database(pg_url)


@pytest.fixture
async def stores() -> AsyncIterator[list[PostgresStore]]:
    opened: list[PostgresStore] = []
    yield opened
    for s in opened:
        await s.close()


async def open_store(stores: list[PostgresStore], url: str) -> PostgresStore:
    s = PostgresStore(url)
    await s.open()
    stores.append(s)
    return s


async def write_from(stores: list[PostgresStore], per_store: int) -> None:
    """Every store appends ``per_store`` entries, all stores at once, 3 in flight each."""
    async def one(s: PostgresStore, k: int) -> None:
        for i in range(k, per_store, 3):
            await s.append_audit(AuditDraft(kind="note", actor="ops", ticket_id=f"tk_{id(s)}_{i}", data={"i": i}))

    await asyncio.gather(*(one(s, k) for s in stores for k in range(3)))


class TestGroupedCommit:
    def test_a_bad_commit_option_names_itself(self) -> None:
        """commit= takes each or grouped; anything else is a UserError naming the option."""
        with pytest.raises(UserError, match="commit must be one of each, grouped"):
            PostgresStore("postgresql://u@127.0.0.1/x?commit=later")

    async def test_writers_in_several_stores_make_one_chain_each_flushed_by_its_session(
            self, db: str, stores: list[PostgresStore]) -> None:
        """Three grouped stores writing at once: one verifiable chain, and every write was followed
        by its session's durable flush (one commit_flush row per session, counts summing to the writes)."""
        group = [await open_store(stores, db + "?commit=grouped") for _ in range(3)]
        await write_from(group, 20)
        entries = await group[0].audit_entries()
        flushes = sql(db, "SELECT count(*), sum(n) FROM commit_flush")[0]
        result = verify_chain(entries, await group[0].audit_head())
        assert (True, 60, list(range(1, 61))) == (result.ok, result.count, [e.seq for e in entries])
        assert 60 == flushes[1] and 1 <= flushes[0] <= 3 * 10

    async def test_the_default_commits_each_write_durably_itself(self, db: str, stores: list[PostgresStore]) -> None:
        """Without the option no flush commit follows (the transaction's own COMMIT is the durable one)."""
        store = await open_store(stores, db)
        await write_from([store], 6)
        assert [(0,)] == sql(db, "SELECT count(*) FROM commit_flush")

    async def test_a_grouped_write_wakes_another_store(self, db: str, stores: list[PostgresStore]) -> None:
        """The NOTIFY still goes out from the chain's transaction: another store publishes the entry."""
        writer = await open_store(stores, db + "?commit=grouped")
        reader = await open_store(stores, db + "?commit=grouped")
        seen: list[int] = []
        reader.notifier.add_callback(lambda ev: seen.append(ev.seq))
        entry = await writer.append_audit(AuditDraft(kind="note", actor="ops", ticket_id="tk_1"))
        for _ in range(1000):
            if entry.seq in seen:
                break
            await asyncio.sleep(0.02)
        assert entry.seq in seen


async def test_acknowledged_grouped_writes_survive_an_immediate_stop(stores: list[PostgresStore]) -> None:
    """On a durable server (fsync and synchronous_commit on), every write a grouped store returned
    is still there after ``pg_ctl stop -m immediate`` (no checkpoint, unwritten WAL buffers lost):
    the flush commit waited for the disk. Without it the last writes would be lost on this stop."""
    try:
        cluster = await asyncio.to_thread(start_cluster, durable=True)
    except PostgresSetupError as exc:  # pragma: no cover - the session's server started, so this one should
        pytest.fail(str(exc))
    try:
        db = create_database(cluster.url)
        group = [await open_store(stores, db + "?commit=grouped") for _ in range(2)]
        await write_from(group, 30)
        acknowledged = (await group[0].audit_head() or (0, ""))[0]
        for s in stores:
            await s.close()
        stores.clear()
        await asyncio.to_thread(cluster._check, "pg_ctl", "-D", str(cluster.data), "-m", "immediate", "-w",
                                "stop")
        await asyncio.to_thread(cluster.start, durable=True)
        after = sql(db, "SELECT max(seq) FROM audit")[0][0]
        assert (60, 60) == (acknowledged, after)
    finally:
        await asyncio.to_thread(cluster.stop)
