"""Three real `signoff serve` processes on one PostgreSQL database, on loopback.

A decision taken on one server wakes the agent waiting on another; the server holding
the sweeper lease is SIGKILLed and timeouts still fire; a LISTEN connection killed from
the database side reconnects; concurrent decisions through different servers have one
winner; servers starting at once on an empty database migrate it once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from signoff import Action, Conflict, Gate
from signoff.store.postgres import SCHEMA_VERSION
from tests.integration._policies import DEPLOYS
from tests.postgres_server import create_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SIGNOFF = str(Path(sys.executable).parent / "signoff")
POLICY = DEPLOYS + """\
  - name: quick
    match: {action: quick}
    level: approve
    timeout: 1s
    on_timeout: abort
"""
REVIEWERS = ["alice", "bob", "carol"]
_SWEEPER_LOCK = 0x51600F3  # signoff.store.postgres._LOCK_SWEEPER


def act(name: str = "deploy", **args: Any) -> Action:
    return Action(name=name, args=args, agent="bot", reasoning="because")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on ``url`` from outside signoff (an operator's psql)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def until(check: Callable[[], Any], what: str, seconds: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true (a bound against hanging, not a timing claim)."""
    end = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def cli(*args: str) -> str:
    proc = subprocess.Popen([SIGNOFF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SIGNOFF_PASSWORD": "", "PYTHONFAULTHANDLER": "1"})
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"hung: {args}\n{err}") from None
    assert 0 == proc.returncode, err
    return out.strip()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_servers(db: str, policy: Path, n: int, logs: Path) -> list[Server]:
    """Start ``n`` servers at once, then wait until each answers /api/v1/health."""
    servers = []
    for i in range(n):
        port = free_port()
        log = logs / f"server{i}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([SIGNOFF, "serve", "--policy", str(policy), "--db", db, "--host", "127.0.0.1",
                                     "--port", str(port), "--log-level", "warning"],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        servers.append(Server(proc, port, log))
    for s in servers:
        def healthy(s: Server = s) -> bool:
            if s.proc.poll() is not None:
                raise AssertionError(f"server on {s.port} exited {s.proc.returncode}:\n{s.log.read_text()}")
            try:
                return httpx.get(s.url + "/api/v1/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        until(healthy, f"server on port {s.port} answers", 60)
    return servers


def stop_servers(servers: list[Server]) -> None:
    for s in servers:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
    for s in servers:
        try:
            s.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(timeout=15)


@dataclass
class Deployment:
    """A database, its three servers, and tokens for the agent and each reviewer."""

    db: str
    servers: list[Server]
    agent_token: str
    reviewer_tokens: dict[str, str]

    def agent(self, i: int) -> Any:
        return Gate.remote(self.servers[i].url, token=self.agent_token, timeout=60)

    def reviewer(self, name: str, i: int) -> Any:
        return Gate.remote(self.servers[i].url, token=self.reviewer_tokens[name], timeout=60)

    def sweeper_holder(self) -> int | None:
        """The OS pid of the server whose store holds the sweeper lease (from pg_locks)."""
        rows = sql(self.db, "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s",
                   (_SWEEPER_LOCK,))
        return int(rows[0][0].rsplit("/", 1)[1]) if rows else None

    def listener_backends(self, server: Server) -> list[int]:
        rows = sql(self.db, "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                   (f"signoff-listen/{server.pid}",))
        return [int(r[0]) for r in rows]


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def deployment(pg_url: str, policy: Path, tmp_path: Path) -> Iterator[Deployment]:
    """Three `signoff serve` processes on one fresh database, with an agent and three reviewers."""
    db = create_database(pg_url)
    for name in REVIEWERS:
        cli("reviewer", "add", "--db", db, "--policy", str(policy), name, "--tier", "senior", "--no-password")
    agent_token = cli("token", "create", "--db", db, "--agent", "bot")
    tokens = {name: cli("token", "create", "--db", db, "--reviewer", name) for name in REVIEWERS}
    servers = start_servers(db, policy, 3, tmp_path)
    try:
        yield Deployment(db, servers, agent_token, tokens)
    finally:
        stop_servers(servers)


class TestWakeAcrossServers:
    def test_a_decision_on_the_second_server_wakes_the_agent_waiting_on_the_third(
            self, deployment: Deployment) -> None:
        """Submitted through the first server, approved on the second: the wait on the third returns."""
        with deployment.agent(0) as submitter, deployment.agent(2) as waiter, \
                deployment.reviewer("alice", 1) as alice, ThreadPoolExecutor(1) as pool:
            ticket = submitter.submit_sync(act(n=1), state={"step": 7})
            waiting = pool.submit(waiter.resume_sync, ticket.id)
            time.sleep(0.5)  # let the long-poll reach the third server
            pending = waiting.done()
            alice.approve_sync(ticket.id)
            decision, state = waiting.result(timeout=60)
        assert (False, "approved", ["alice"], {"step": 7}) == (pending, decision.status, list(decision.reviewers),
                                                               state)


class TestSweeperTakeover:
    def test_timeouts_still_fire_after_the_sweeper_holder_is_killed(self, deployment: Deployment) -> None:
        """SIGKILL the server holding the sweeper lease: another server takes the lease and aborts the
        ticket when its deadline passes, exactly once, with nobody waiting on it."""
        holder = until(deployment.sweeper_holder, "a server holds the sweeper lease")
        victim = next(s for s in deployment.servers if s.pid == holder)
        survivors = [s for s in deployment.servers if s is not victim]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=15)

        i = deployment.servers.index(survivors[0])
        with deployment.agent(i) as agent:
            ticket = agent.submit_sync(act("quick"))
            new_holder = until(lambda: (h := deployment.sweeper_holder()) not in (None, holder) and h,
                               "another server takes the lease")
            final = until(lambda: (t := agent.get_ticket_sync(ticket.id)).status != "pending" and t,
                          "the ticket times out")
        aborted = sql(deployment.db, "SELECT COUNT(*) FROM audit WHERE ticket_id = %s AND kind = 'aborted'",
                      (ticket.id,))
        assert (True, "aborted", [(1,)]) == (new_holder in {s.pid for s in survivors}, final.status, aborted)


class TestListenerKilled:
    def test_a_terminated_listen_connection_reconnects_and_the_waiter_is_woken(
            self, deployment: Deployment) -> None:
        """pg_terminate_backend on the third server's LISTEN connection, then a decision on the second:
        the agent waiting on the third still gets it, and the third server listens again."""
        third = deployment.servers[2]
        [before] = until(lambda: deployment.listener_backends(third), "the third server listens")
        with deployment.agent(0) as submitter, deployment.agent(2) as waiter, \
                deployment.reviewer("bob", 1) as bob, ThreadPoolExecutor(1) as pool:
            ticket = submitter.submit_sync(act(n=2))
            waiting = pool.submit(waiter.wait_sync, ticket.id, 60)
            time.sleep(0.5)  # let the long-poll reach the third server
            sql(deployment.db, "SELECT pg_terminate_backend(%s)", (before,))
            bob.reject_sync(ticket.id, feedback="not today")
            decision = waiting.result(timeout=60)
        after = until(lambda: [p for p in deployment.listener_backends(third) if p != before],
                      "the third server listens again")
        assert ("rejected", "not today", 1) == (decision.status, decision.feedback, len(after))


class TestConcurrentDecisions:
    def test_three_servers_deciding_the_same_tickets_have_one_winner_each(self, deployment: Deployment) -> None:
        """Three reviewers on three servers decide the same 30 tickets at once: one decision per ticket
        succeeds, the others get Conflict, and the audit log holds exactly one decision per ticket."""
        with deployment.agent(0) as agent:
            ids = [t.id for t in agent.submit_many_sync([act(n=i) for i in range(30)])]

        def decide(name: str, server: int, approve: bool, order: list[str]) -> dict[str, str]:
            won: dict[str, str] = {}
            with deployment.reviewer(name, server) as gate:
                for tid in order:
                    try:
                        if approve:
                            gate.approve_sync(tid)
                        else:
                            gate.reject_sync(tid, feedback="no")
                        won[tid] = name
                    except Conflict:
                        pass
            return won

        plans = [("alice", 0, True, ids), ("bob", 1, False, ids[::-1]), ("carol", 2, True, ids[15:] + ids[:15])]
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda p: decide(*p), plans))
        winners: dict[str, list[str]] = {tid: [] for tid in ids}
        for won in results:
            for tid, name in won.items():
                winners[tid].append(name)
        decisions = sql(deployment.db, "SELECT ticket_id, COUNT(*) FROM audit WHERE kind IN ('approved', 'rejected') "
                                       "GROUP BY ticket_id")
        assert ({tid: 1 for tid in ids}, {tid: 1 for tid in ids}) == (
            {tid: len(names) for tid, names in winners.items()}, dict(decisions))


class TestStartingTogether:
    def test_three_servers_starting_at_once_on_an_empty_database_migrate_it_once(
            self, pg_url: str, policy: Path, tmp_path: Path) -> None:
        """Three servers started together on an empty database all come up; the schema exists once."""
        db = create_database(pg_url)
        servers = start_servers(db, policy, 3, tmp_path)
        try:
            alive = [s.proc.poll() is None for s in servers]
        finally:
            stop_servers(servers)
        assert ([True] * 3, [(SCHEMA_VERSION,)], [(1,)]) == (
            alive, sql(db, "SELECT version FROM schema_version"),
            sql(db, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'audit'"))
