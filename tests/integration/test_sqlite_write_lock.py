"""Another process holds SQLite's write lock (``BEGIN IMMEDIATE`` in a subprocess): reads, ``auto``
answers and a reviewer's ticket list still answer, and a write waits at most ``busy_timeout`` and
then fails with StoreUnavailable saying what was busy (the gate fails closed).

Through a local Gate and through a real ``signoff serve`` on the same kind of file. The only
time bounds are generous "does not hang" ones (``HANG``, ten times the configured bound).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from signoff import Action, Gate, StoreUnavailable
from tests.integration._policies import DEPLOYS as POLICY
from tests.server.conftest import free_port, signoff_exe, stop_process, wait_until_up

BUSY = 1.0  # seconds: the store's busy_timeout in these tests
HANG = 10 * BUSY
HOLD = textwrap.dedent("""\
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
""")


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process holds the database's write lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and "locked" == proc.stdout.readline().strip()
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=HANG)


def deploy() -> Action:
    return Action(name="deploy", args={"service": "api"}, agent="bot", reasoning="green")


def lookup() -> Action:
    return Action(name="lookup", args={"q": "order"}, agent="bot", reasoning="r")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path / "gate.db"


class TestLocalGate:
    async def test_a_stalled_write_blocks_no_read(self, db: Path) -> None:
        """While a submit waits for the lock, reads and an auto guard answer; the submit then succeeds."""
        policy = db.parent / "policy.yaml"
        gate = Gate.open(policy=policy, store=f"sqlite:///{db}?busy_timeout={HANG}")
        try:
            first = await gate.submit(deploy())
            token = await gate.create_token("agent", "bot")
            with write_lock_held(db):
                write = asyncio.create_task(gate.submit(deploy()))
                await asyncio.sleep(0.2)  # on the worker, waiting for the lock
                listed = await asyncio.wait_for(gate.list_tickets(), HANG)
                got = await asyncio.wait_for(gate.get_ticket(first.id), HANG)
                found = await asyncio.wait_for(gate.find_token(token), HANG)
                auto = await asyncio.wait_for(gate.guard(lookup()), HANG)
                still_waiting = not write.done()
            second = await asyncio.wait_for(write, HANG)
            assert ([first.id], "pending", "bot", "auto", True, "pending") == (
                [t.id for t in listed], got.status, found.name if found else None, auto.status, still_waiting,
                second.status)
        finally:
            await gate.aclose()

    async def test_a_write_gives_up_after_the_bound_and_says_why(self, db: Path) -> None:
        """With the lock held past busy_timeout, submit and approve fail with StoreUnavailable naming the
        write lock, within the bound, and changed nothing."""
        gate = Gate.open(policy=db.parent / "policy.yaml", store=f"sqlite:///{db}?busy_timeout={BUSY}")
        try:
            gate.add_reviewer("alice", tier="senior")
            t = await gate.submit(deploy())
            with write_lock_held(db):
                with pytest.raises(StoreUnavailable, match="another process held the database's write lock") as sub:
                    await asyncio.wait_for(gate.submit(deploy()), HANG)
                with pytest.raises(StoreUnavailable, match="write lock"):
                    await asyncio.wait_for(gate.approve(t.id, reviewer="alice"), HANG)
            assert "nothing was written" in str(sub.value)
            assert (["pending"], "pending") == ([x.status for x in await gate.list_tickets()],
                                                (await gate.get_ticket(t.id)).status)
        finally:
            await gate.aclose()


class TestServed:
    def test_a_server_answers_reads_and_auto_while_a_write_waits(self, db: Path) -> None:
        """``signoff serve`` on the file: with another process holding the write lock, an agent's auto
        evaluate with a token the server has never seen and a reviewer's ticket list answer while an
        approve-level submit waits; the submit gives up with 503 within the bound (fail closed)."""
        policy = db.parent / "policy.yaml"
        url_db = f"sqlite:///{db}?busy_timeout={BUSY}"
        setup = Gate.open(policy=policy, store=url_db, sweep=False)
        try:
            setup.add_reviewer("alice", tier="senior")
            setup.submit_sync(deploy())
            agent = setup.create_token_sync("agent", "bot")
            reviewer = setup.create_token_sync("reviewer", "alice")
        finally:
            setup.close()
        port = free_port()
        url, log = f"http://127.0.0.1:{port}", db.parent / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(policy), "--db", url_db, "--host",
                                     "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until_up(url, proc, log)
            body = {"action": {"name": "deploy", "args": {"service": "api"}, "reasoning": "green"}}
            auto = {"action": {"name": "lookup", "args": {"q": "order"}, "reasoning": "r"}}
            with httpx.Client(base_url=url + "/api/v1", timeout=HANG) as http, \
                    httpx.Client(base_url=url + "/api/v1", timeout=HANG) as writer, \
                    ThreadPoolExecutor(1) as pool, write_lock_held(db):
                write = pool.submit(writer.post, "/tickets", json=body, headers={"Authorization": f"Bearer {agent}"})
                evaluated = http.post("/evaluate", json=auto, headers={"Authorization": f"Bearer {agent}"})
                listed = http.get("/tickets", headers={"Authorization": f"Bearer {reviewer}"})
                submitted = write.result(timeout=HANG)
            assert (200, "auto") == (evaluated.status_code, evaluated.json()["level"]), evaluated.text
            assert (200, 1) == (listed.status_code, len(listed.json()["tickets"])), listed.text
            assert 503 == submitted.status_code, submitted.text
        finally:
            stop_process(proc)
        assert "Traceback" not in log.read_text()


class TestTheBound:
    def test_the_url_sets_it_in_seconds(self, db: Path) -> None:
        """``?busy_timeout=2`` is 2 s, the default 5 s, and the file is the path without the query."""
        from signoff.store.sqlite import SQLiteStore

        Gate.open(policy=db.parent / "policy.yaml", store=f"sqlite:///{db}?busy_timeout=2").close()
        assert (2000, 5000, str(db), True) == (SQLiteStore(f"sqlite:///{db}?busy_timeout=2").busy_timeout_ms,
                                               SQLiteStore(f"sqlite:///{db}").busy_timeout_ms,
                                               SQLiteStore(f"sqlite:///{db}?busy_timeout=2").path, db.exists())

    @pytest.mark.parametrize(("query", "words"), [("busy_timeout=soon", "busy_timeout='soon' must be seconds"),
                                                   ("busy_timeout=0", "busy_timeout='0' must be seconds"),
                                                   ("timeout=5", "unknown option 'timeout'")])
    def test_a_bad_option_is_named(self, db: Path, query: str, words: str) -> None:
        from signoff import UserError
        from signoff.store.sqlite import SQLiteStore

        with pytest.raises(UserError, match=words):
            SQLiteStore(f"sqlite:///{db}?{query}")
