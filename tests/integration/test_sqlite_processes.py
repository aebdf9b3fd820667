"""The SQLite store shared by real OS processes: races, a killed agent, a waiter in another process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Gate

AGENT = str(Path(__file__).parent / "_procs" / "agent.py")
POLICY = """\
version: 1
defaults: {level: auto, timeout: 1h, on_timeout: abort}
tiers: [junior, senior]
rules:
  - name: deploys
    match: {action: "deploy_*"}
    level: approve
"""
REVIEWERS = ["r0", "r1", "r2", "r3"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A database with reviewers, and the policy file the processes load."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{tmp_path}/queue.db"
    with Gate.open(policy=policy, store=db) as g:
        for name in [*REVIEWERS, "alice"]:
            g.add_reviewer(name, tier="senior")
    return {"db": db, "policy": str(policy)}


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, AGENT, *args, "--db", env["db"], "--policy", env["policy"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        raise AssertionError(f"process ended early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    data: dict[str, Any] = json.loads(line)
    return data


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    # Read through the text wrapper, not communicate(): communicate reads the raw pipe and loses
    # lines read_line() already buffered (the decision line, when it came right after the ticket).
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert 0 == proc.returncode, err
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    return lines[-1]


class TestDecisionRace:
    def test_four_processes_one_winner_per_ticket(self, env: dict[str, str]) -> None:
        """Four processes approve/reject the same 100 tickets at once: exactly one wins each ticket,
        the others get Conflict, and no 'database is locked' reaches anyone."""
        with Gate.open(policy=env["policy"], store=env["db"]) as g:
            tickets = g.submit_many_sync([Action(name="deploy_service", args={"n": i}, agent="bot", reasoning="r")
                                          for i in range(100)])
        ids = [t.id for t in tickets]
        go_at = time.time() + 3.0  # all four start together, after their imports
        procs = []
        for i, reviewer in enumerate(REVIEWERS):
            order = ids if i % 2 == 0 else list(reversed(ids))  # meet in the middle, and collide all along
            args = ["decide", "--reviewer", reviewer, "--tickets", ",".join(order), "--go-at", str(go_at)]
            procs.append(spawn(env, *args, *(["--reject"] if i % 2 else [])))
        results = [finish(p) for p in procs]
        wins = {r: set(res["wins"]) for r, res in zip(REVIEWERS, results, strict=True)}
        assert [[], [], [], []] == [res["errors"] for res in results]
        assert 100 == sum(len(w) for w in wins.values())
        assert set(ids) == set().union(*wins.values())
        assert 300 == sum(res["conflicts"] for res in results)
        with Gate.open(policy=env["policy"], store=env["db"]) as g:
            stored = {t.id: t for t in g.list_tickets_sync(limit=1000)}
            verified = g.verify_audit_sync()
        expected = {tid: ("rejected" if r in ("r1", "r3") else "approved", (r,)) for r, w in wins.items() for tid in w}
        assert expected == {tid: (t.status, t.decided_by) for tid, t in stored.items()}
        assert (True, 1 + len(REVIEWERS) + 100 + 100) == (verified.ok, verified.count)


class TestKilledAgent:
    @pytest.mark.parametrize("kind", ["json", "bytes"])
    def test_state_survives_sigkill(self, env: dict[str, str], tmp_path: Path, kind: str) -> None:
        """The submitting process is SIGKILLed while waiting; a second process approves and a third
        resumes with the state intact."""
        if kind == "json":
            state: Any = {"messages": [{"role": "user", "content": "ship it"}] * 50, "step": 7, "pi": 3.14159}
            path = tmp_path / "state.json"
            path.write_text(json.dumps(state))
        else:
            state = os.urandom(100_000)
            path = tmp_path / "state.bin"
            path.write_bytes(state)
        agent = spawn(env, "submit-and-wait", "--state-file", str(path), "--key", "train-42/deploy")
        tid = read_line(agent)["ticket"]
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=30)
        assert -signal.SIGKILL == agent.returncode

        reviewer = spawn(env, "approve", "--ticket", tid, "--reviewer", "alice",
                         "--args", json.dumps({"service": "billing", "version": "2.4.2"}))
        assert {"status": "approved"} == finish(reviewer)
        resumed = finish(spawn(env, "resume", "--ticket", tid))
        got = base64.b64decode(resumed["state"]["bytes_b64"]) if kind == "bytes" else resumed["state"]
        assert ("approved", {"service": "billing", "version": "2.4.2"}, state) == (
            resumed["decision"]["status"], resumed["decision"]["args"], got)

    def test_restarted_agent_gets_the_same_ticket(self, env: dict[str, str], tmp_path: Path) -> None:
        """The agent restarted with the same idempotency key finds its ticket and its decision."""
        path = tmp_path / "state.json"
        path.write_text('{"step": 1}')
        first = spawn(env, "submit-and-wait", "--state-file", str(path), "--key", "run-7/step-3")
        tid = read_line(first)["ticket"]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        finish(spawn(env, "approve", "--ticket", tid, "--reviewer", "alice"))
        again = spawn(env, "submit-and-wait", "--state-file", str(path), "--key", "run-7/step-3")
        assert tid == read_line(again)["ticket"]
        assert ("approved", tid) == (lambda d: (d["status"], d["ticket_id"]))(finish(again)["decision"])


class TestCrossProcessWaiter:
    def test_waiter_in_another_process_is_woken(self, env: dict[str, str]) -> None:
        """A process waiting on a ticket receives the approval (with edited args) made elsewhere."""
        with Gate.open(policy=env["policy"], store=env["db"]) as g:
            t = g.submit_sync(Action(name="deploy_service", args={"v": 1}, agent="bot", reasoning="r"))
        waiter = spawn(env, "wait", "--ticket", t.id)
        assert {"waiting": True} == read_line(waiter)
        finish(spawn(env, "approve", "--ticket", t.id, "--reviewer", "alice", "--args", '{"v": 2}'))
        d = finish(waiter)["decision"]
        assert ("approved", {"v": 2}, ["alice"]) == (d["status"], d["args"], d["reviewers"])

    def test_rejection_reaches_the_other_process(self, env: dict[str, str]) -> None:
        """A rejection's feedback reaches a waiter in another process."""
        with Gate.open(policy=env["policy"], store=env["db"]) as g:
            t = g.submit_sync(Action(name="deploy_service", args={"v": 1}, agent="bot", reasoning="r"))
            waiter = spawn(env, "wait", "--ticket", t.id)
            assert {"waiting": True} == read_line(waiter)
            g.reject_sync(t.id, reviewer="alice", feedback="freeze until Monday")
        d = finish(waiter)["decision"]
        assert ("rejected", "freeze until Monday") == (d["status"], d["feedback"])


class TestLockedDatabase:
    async def test_a_write_waiting_for_the_lock_does_not_stall_the_event_loop(self, env: dict[str, str]) -> None:
        """While another connection holds the write lock, a submit waits on the store's worker thread:
        other tasks on the caller's loop keep running, and the submit succeeds once the lock is free."""
        import asyncio
        import sqlite3
        import threading

        gate = Gate.open(policy=env["policy"], store=env["db"])
        try:
            holder = sqlite3.connect(env["db"].removeprefix("sqlite:///"), isolation_level=None,
                                     check_same_thread=False)
            holder.execute("BEGIN IMMEDIATE")
            release = threading.Timer(0.5, lambda: holder.execute("ROLLBACK"))
            ticks = 0
            submitting = True

            async def ticker() -> None:
                nonlocal ticks
                while submitting:
                    ticks += 1
                    await asyncio.sleep(0.01)

            tick_task = asyncio.create_task(ticker())
            release.start()
            t = await gate.submit(Action(name="deploy_service", args={}, agent="bot", reasoning="r"))
            ticks_while_locked = ticks
            submitting = False
            await tick_task
            release.join()
            holder.close()
            assert ("pending", True) == (t.status, ticks_while_locked > 5)
        finally:
            gate.close()
