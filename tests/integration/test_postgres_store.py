"""The PostgreSQL store's own machinery, on a real server: LISTEN/NOTIFY, the sweeper lease,
migrations, connection recovery, row locks. (What every store does is in tests/contract.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from signoff import Action, Gate, StoreUnavailable, UserError
from signoff._model import utcnow
from signoff.store import AuditDraft
from signoff.store.postgres import SCHEMA_VERSION, PostgresStore
from tests.postgres_server import create_database

pytestmark = pytest.mark.postgres

POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "approve", "timeout": "30m", "on_timeout": "abort"},
    "tiers": ["senior"],
    "rules": [{"name": "quick", "match": {"action": "quick"}, "level": "approve", "timeout": "1s",
               "on_timeout": "abort"}],
}


def act(name: str = "deploy", **args: Any) -> Action:
    return Action(name=name, args=args, agent="bot", reasoning="because")


@pytest.fixture
def db(pg_url: str) -> str:
    """A fresh, empty database on the session's throwaway server."""
    return create_database(pg_url)


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on ``url`` from outside signoff (an operator's psql)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
async def stores(db: str) -> AsyncIterator[list[PostgresStore]]:
    """Stores opened by the test (``stores.append``); closed afterwards."""
    opened: list[PostgresStore] = []
    yield opened
    for s in opened:
        await s.close()


async def open_store(stores: list[PostgresStore], url: str, **kw: Any) -> PostgresStore:
    s = PostgresStore(url, **kw)
    await s.open()
    stores.append(s)
    return s


async def eventually(check: Any, what: str, seconds: float = 20.0) -> None:
    """Wait until ``check()`` is true (a bound against hanging, not a timing claim)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not check():
        if loop.time() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def gates(db: str) -> Iterator[list[Gate]]:
    opened: list[Gate] = []
    yield opened
    for g in reversed(opened):
        g.close()


def open_gate(gates: list[Gate], store: Any, **kw: Any) -> Gate:
    g = Gate.open(policy=POLICY, store=store, **kw)
    gates.append(g)
    return g


class TestNotify:
    async def test_each_write_notifies_its_last_seq_and_the_tickets_concerned(
            self, db: str, stores: list[PostgresStore]) -> None:
        """A committed write sends NOTIFY signoff '<last seq> <tickets>' ('-' when no ticket)."""
        store = await open_store(stores, db)
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as listener:
            await listener.execute("LISTEN signoff")
            note = await store.append_audit(AuditDraft(kind="note", actor="ops"))
            about = await store.append_audit(AuditDraft(kind="note", actor="ops", ticket_id="tk_1"))
            payloads = [n.payload async for n in listener.notifies(timeout=10, stop_after=2)]
        assert [f"{note.seq} -", f"{about.seq} tk_1"] == payloads

    async def test_a_write_on_one_store_is_published_on_another(self, db: str,
                                                               stores: list[PostgresStore]) -> None:
        """Another store on the same database publishes the entry through LISTEN, without polling."""
        writer = await open_store(stores, db)
        reader = await open_store(stores, db, safety_interval=3600)
        async with reader.notifier.subscribe() as events:
            entry = await writer.append_audit(AuditDraft(kind="note", actor="ops", data={"n": 1}))
            got = await asyncio.wait_for(events.get(), 20)
        assert (entry.seq, "note", {"n": 1}) == (got.seq, got.kind, dict(got.data))


    async def test_a_burst_nobody_waits_for_is_published_whole_and_in_order(
            self, db: str, stores: list[PostgresStore]) -> None:
        """Catch-ups for events no waiter is concerned by are rate-limited, yet every entry of a burst
        from another store is published, once, in seq order."""
        writer = await open_store(stores, db)
        reader = await open_store(stores, db, safety_interval=3600)
        seen: list[int] = []
        reader.notifier.add_callback(lambda ev: seen.append(ev.seq))
        entries = [await writer.append_audit(AuditDraft(kind="note", actor="ops", ticket_id=f"tk_{i}"))
                   for i in range(200)]
        await eventually(lambda: len(seen) >= 200, "every entry was published")
        assert [e.seq for e in entries] == seen


class TestListenerReconnects:
    async def test_a_decision_made_while_the_listener_is_down_still_wakes_the_waiter(
            self, db: str, gates: list[Gate]) -> None:
        """pg_terminate_backend on the LISTEN connection: the listener reconnects, catches up from the
        audit log, and the waiter sees the decision committed while nobody was listening."""
        waiting_store = PostgresStore(db, safety_interval=3600)  # no safety catch-up: only LISTEN can wake
        waiting = open_gate(gates, waiting_store)
        deciding = open_gate(gates, db)
        deciding.add_reviewer("alice", tier="senior")
        ticket = await waiting.submit(act())

        # Hold the listener's reconnection (on the gate's engine thread) until the decision is committed.
        release = threading.Event()
        connect = waiting_store._connect

        async def held_connect(role: str) -> Any:
            if role == "listen":
                await asyncio.to_thread(release.wait, 60)
            return await connect(role)

        waiting_store._connect = held_connect  # type: ignore[method-assign]
        waiter = asyncio.ensure_future(waiting.wait(ticket.id, timeout=60))
        # parked: its first read of the ticket (still pending) is done, so only a wake-up can end it
        await eventually(lambda: waiting_store.notifier.concerned([ticket.id]), "the waiter is parked")
        await asyncio.sleep(0.2)  # and its re-read of the ticket (right after registering) is done
        first_pid = waiting_store.listener_pid
        assert first_pid is not None
        assert [(True,)] == sql(db, "SELECT pg_terminate_backend(%s)", (first_pid,))
        await eventually(lambda: waiting_store.listener_pid is None, "the listener noticed it was cut off")

        await deciding.approve(ticket.id, reviewer="alice")
        await asyncio.sleep(0.3)  # nothing can tell the waiter yet
        assert not waiter.done()

        release.set()
        decision = await asyncio.wait_for(waiter, 30)
        assert ("approved", 2) == (decision.status, waiting_store.listener_connects)
        assert first_pid != waiting_store.listener_pid


class TestSweeperLease:
    async def test_one_store_holds_the_lease(self, db: str, stores: list[PostgresStore]) -> None:
        """Of two stores on one database, the first to ask holds the lease and the other does not."""
        first = await open_store(stores, db, lease_interval=0)
        second = await open_store(stores, db, lease_interval=0)
        assert [True, False, True, False] == [await first.sweeper_lease(), await second.sweeper_lease(),
                                              await first.sweeper_lease(), await second.sweeper_lease()]

    async def test_the_lease_passes_on_when_the_holder_closes(self, db: str, stores: list[PostgresStore]) -> None:
        """When the holding store closes, the other one gets the lease at its next check."""
        first = await open_store(stores, db, lease_interval=0)
        second = await open_store(stores, db, lease_interval=0)
        assert await first.sweeper_lease()
        await first.close()
        assert await second.sweeper_lease()

    async def test_the_lease_passes_on_when_the_holders_connection_is_killed(
            self, db: str, stores: list[PostgresStore]) -> None:
        """A holder whose lease connection is terminated loses the lease; the other store takes it."""
        first = await open_store(stores, db, lease_interval=0)
        second = await open_store(stores, db, lease_interval=0)
        assert await first.sweeper_lease()
        sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"signoff-sweeper/{_pid()}",))
        assert (True, False) == (await second.sweeper_lease(), await first.sweeper_lease())

    def test_only_the_lease_holder_sweeps_and_another_takes_over(self, db: str, gates: list[Gate]) -> None:
        """A gate without the lease leaves a due ticket alone; once the holder closes, it sweeps it."""
        holder_store = PostgresStore(db, lease_interval=0)
        holder = open_gate(gates, holder_store, sweep=False)  # holds the lease, never sweeps
        assert holder._engine.run_sync(holder_store.sweeper_lease())
        other = open_gate(gates, PostgresStore(db, lease_interval=0))
        ticket = other.submit_sync(act("quick"))
        time.sleep(2.5)  # past the 1 s deadline: only a sweeper could have expired it
        before = other.get_ticket_sync(ticket.id).status
        holder.close()
        deadline = time.monotonic() + 20
        while other.get_ticket_sync(ticket.id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ("pending", "aborted") == (before, other.get_ticket_sync(ticket.id).status)


def _pid() -> int:
    import os

    return os.getpid()


class TestExpiry:
    async def test_several_sweepers_at_once_expire_each_ticket_exactly_once(self, db: str,
                                                                           gates: list[Gate]) -> None:
        """Three gates sweep the same due tickets at the same moment: each ticket is aborted once."""
        trio = [open_gate(gates, db, sweep=False) for _ in range(3)]
        tickets = await trio[0].submit_many([act("quick", n=i) for i in range(30)])
        await asyncio.sleep(1.2)
        await asyncio.gather(*(g.sweep() for g in trio))
        rows = sql(db, "SELECT ticket_id, COUNT(*) FROM audit WHERE kind = 'aborted' GROUP BY ticket_id")
        assert {t.id: 1 for t in tickets} == dict(rows)

    async def test_due_tickets_skips_a_ticket_locked_by_a_decision(self, db: str,
                                                                  stores: list[PostgresStore],
                                                                  gates: list[Gate]) -> None:
        """A due ticket whose row is locked (being decided) is left out of the sweep, not waited for."""
        g = open_gate(gates, db, sweep=False)
        a, b = await g.submit_many([act("quick", n=1), act("quick", n=2)])
        store = await open_store(stores, db)
        later = utcnow() + timedelta(seconds=5)
        async with await psycopg.AsyncConnection.connect(db) as locker:
            await locker.execute("SELECT 1 FROM tickets WHERE id = %s FOR UPDATE", (a.id,))
            due = await asyncio.wait_for(store.due_tickets(later), 10)
            await locker.rollback()
        assert [b.id] == due


class TestMigrations:
    async def test_stores_opening_at_once_on_an_empty_database_create_the_schema_once(
            self, db: str, stores: list[PostgresStore]) -> None:
        """Eight stores open concurrently on an empty database: all open, and the schema is created once."""
        many = [PostgresStore(db) for _ in range(8)]
        stores.extend(many)
        await asyncio.gather(*(s.open() for s in many))
        assert ([(SCHEMA_VERSION,)], [(1,)]) == (
            sql(db, "SELECT version FROM schema_version"),
            sql(db, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'tickets'"))

    async def test_a_newer_schema_is_refused(self, db: str, stores: list[PostgresStore]) -> None:
        """A database migrated by a newer signoff is refused with a message saying to upgrade."""
        await open_store(stores, db)
        sql(db, "UPDATE schema_version SET version = 99")
        with pytest.raises(StoreUnavailable, match="upgrade signoff"):
            await PostgresStore(db).open()

    async def test_tables_can_live_in_their_own_schema(self, db: str, stores: list[PostgresStore]) -> None:
        """With search_path set in the URL, the tables are created in that schema."""
        sql(db, "CREATE SCHEMA signoff")
        store = await open_store(stores, db + "?options=-csearch_path%3Dsignoff")
        await store.append_audit(AuditDraft(kind="note", actor="ops"))
        assert [("signoff",)] == sql(db, "SELECT schemaname FROM pg_tables WHERE tablename = 'audit'")


class TestConnections:
    async def test_killed_pool_connections_are_replaced_without_an_error(self, db: str,
                                                                        stores: list[PostgresStore]) -> None:
        """After every pooled connection is terminated (a database restart), the next call still works."""
        store = await open_store(stores, db, min_size=3)
        await asyncio.gather(*(store.append_audit(AuditDraft(kind="note", actor="ops")) for _ in range(6)))
        name = f"signoff-pool/{_pid()}"
        killed = sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                     (name,))
        await eventually(lambda: not sql(db, "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (name,)),
                         "the terminated connections are gone")
        entry = await store.append_audit(AuditDraft(kind="note", actor="ops"))
        assert (True, 7) == (len(killed) >= 1, entry.seq)

    async def test_an_unreachable_server_fails_with_store_unavailable_without_the_password(self) -> None:
        """Opening a store on a closed port raises StoreUnavailable; the message hides the password."""
        store = PostgresStore("postgresql://signoff:hunter2@127.0.0.1:1/x?connect_timeout=2")
        with pytest.raises(StoreUnavailable) as info:
            await store.open()
        assert ("hunter2" not in str(info.value), "***" in str(info.value)) == (True, True)

    def test_a_bad_pool_option_names_itself(self) -> None:
        """A pool option that is not a positive number is a UserError naming the option."""
        with pytest.raises(UserError, match="pool_timeout"):
            PostgresStore("postgresql://u@127.0.0.1/x?pool_timeout=soon")

    async def test_pool_options_are_not_given_to_libpq(self, db: str, stores: list[PostgresStore]) -> None:
        """pool_max_size and pool_timeout in the URL are signoff's: the connection still opens."""
        store = await open_store(stores, db + "?pool_max_size=2&pool_timeout=3")
        assert 1 == (await store.append_audit(AuditDraft(kind="note", actor="ops"))).seq


class TestAuditVerifyCommand:
    def test_verify_passes_and_then_names_the_edited_entry(self, db: str, gates: list[Gate]) -> None:
        """`signoff audit verify --db postgresql://...` exits 0 on an intact log and 1 naming the entry edited."""
        g = open_gate(gates, db)
        g.add_reviewer("alice", tier="senior")
        t = g.submit_sync(act())
        g.approve_sync(t.id, reviewer="alice")
        cmd = [str(Path(sys.executable).parent / "signoff"), "audit", "verify", "--db", db]
        intact = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        sql(db, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        broken = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert (0, 1, True) == (intact.returncode, broken.returncode, "2" in broken.stdout + broken.stderr)


class TestRoundTrips:
    def test_a_cycle_costs_five_messages(self, db: str, gates: list[Gate], monkeypatch: pytest.MonkeyPatch) -> None:
        """submit: locks and reads, then writes + chain + COMMIT; approve: the ticket locked and the
        reviewer read, then writes + chain + COMMIT; resume of a decided ticket: one read. Each message
        to PostgreSQL is a round trip, the cost of the cycle on a distant database."""
        g = open_gate(gates, db, sweep=False)
        g.add_reviewer("alice", tier="senior")
        g.submit_sync(act(n=0), state={"step": 1})  # warm: pool connections, the listener
        sent: list[str] = []
        original = psycopg.AsyncConnection.execute

        async def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if self.info.get_parameters().get("application_name", "").startswith("signoff-pool"):
                sent.append(str(query))  # the gate's own requests, not the listener's catch-up reads
            return await original(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncConnection, "execute", execute)
        counts = []
        t = g.submit_sync(act(n=1), state={"step": 2})
        counts.append(len(sent))
        g.approve_sync(t.id, reviewer="alice")
        counts.append(len(sent) - sum(counts))
        decision, state = g.resume_sync(t.id)
        counts.append(len(sent) - sum(counts))
        assert ("approved", {"step": 2}) == (decision.status, state)
        assert [2, 2, 1] == counts, sent
