"""The review queue on SQLite with durable commits: a full cycle, and how fast waiters learn of decisions.

Measured through the public async API on a real database file (WAL, ``synchronous=FULL``):

* cycle: ``submit(action, state)`` -> ``approve(ticket)`` -> ``resume(ticket)`` (decision and
  state back), at 1 KB and 100 KB of state: two durable commits (the submission, the
  decision) plus reads. LangGraph's interrupt + resume through its SQLite checkpointer took
  5.6 ms per cycle on this machine (/work/shared/anchors/last_run.txt).
* floor: a raw SQLite durable commit on the same file system, one before each 1 KB cycle, so
  that a slow disk (this machine's is shared) can be told apart from a slow signoff.
* in-process wake: an agent thread waits in ``wait_sync(ticket)``; the reviewer approves from
  an event loop in the same process. Measured from the moment the decision's COMMIT returned
  (the store's notifier calls back synchronously right after it) to the moment ``wait``
  returns in the agent.
* cross-process wake: the waiting agent is another OS process with its own gate on the same
  file; it learns of the commit through its store's poller (``PRAGMA data_version``, every
  ``poll_interval``). Measured from the commit in the reviewer's process to the return of
  ``wait`` in the agent's; timestamps are CLOCK_MONOTONIC, shared by all processes on Linux.

Run: python benchmarks/bench_queue.py (or ``make bench``); writes benchmarks/results/queue.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from signoff import Action, Gate

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_stats, also under run.py
from _stats import pct, print_table

RESULTS = Path(__file__).resolve().parent / "results" / "queue.json"
POLICY = {
    "version": 1,
    "defaults": {"level": "auto", "timeout": "1h", "on_timeout": "abort"},
    "tiers": ["junior", "senior"],
    "rules": [{"name": "deploys", "match": {"action": "deploy_service"}, "level": "approve"}],
}
LANGGRAPH_CYCLE_MS = 5.59  # anchors: LangGraph 1.2.24 interrupt+resume, SQLite saver, 1 KB state, median
TARGETS_MS = {"cycle_1kb": 1.0, "wake_in_process": 1.0, "wake_cross_process": 50.0}



def _summary(ms: list[float]) -> dict[str, Any]:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3), "p99_ms": round(pct(ms, 0.99), 3),
            "mean_ms": round(statistics.fmean(ms), 3), "min_ms": round(min(ms), 3)}


def _state(size: int) -> dict[str, Any]:
    # A realistic agent state: a message list whose JSON is about ``size`` bytes.
    msg = {"role": "assistant", "content": "x" * 90}
    n = max(1, size // 110)
    return {"messages": [msg] * n, "step": 7}


def _action(i: int) -> Action:
    return Action(name="deploy_service", args={"service": "billing", "version": f"2.4.{i}"}, agent="deploy-bot",
                  reasoning="release train 42; checks green", confidence=0.9)


class _RawCommits:
    """The floor: one durable commit (WAL, synchronous=FULL) of a 2.5 KB row, on its own file in the
    same directory. One is made before every cycle, so both see the same disk at the same time
    (this machine's disk is shared, and its fsync time swings by 10x within minutes)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body TEXT)")
        self.ms: list[float] = []

    def commit(self, record: bool) -> None:
        t0 = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO raw (body) VALUES (?)", ("x" * 2500,))
        self.conn.execute("COMMIT")
        if record:
            self.ms.append((time.perf_counter() - t0) * 1000)


async def _cycles(gate: Gate, state: Any, n: int, warmup: int, raw: _RawCommits | None = None) -> list[float]:
    out = []
    for i in range(n + warmup):
        if raw is not None:
            raw.commit(record=i >= warmup)
        t0 = time.perf_counter()
        t = await gate.submit(_action(i), state=state)
        await gate.approve(t.id, reviewer="alice")
        decision, got = await gate.resume(t.id)
        t1 = time.perf_counter()
        if decision.status != "approved" or got is None:
            raise AssertionError(f"cycle {i}: {decision}")
        if i >= warmup:
            out.append((t1 - t0) * 1000)
    return out


class _CommitClock:
    """Records when each decision was committed: the store's notifier calls us synchronously, in
    the committing thread, right after COMMIT returned (before anyone is woken)."""

    def __init__(self, gate: Gate) -> None:
        self.at: dict[str, float] = {}
        gate.store.notifier.add_callback(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.kind == "approved" and ev.ticket_id:
            self.at[ev.ticket_id] = time.monotonic()


async def _in_process_wakes(gate: Gate, clock: _CommitClock, n: int, warmup: int) -> list[float]:
    """An agent thread (its own event loop) waits; the reviewer approves from this loop."""
    out = []
    for i in range(n + warmup):
        t = await gate.submit(_action(i))
        woke: list[float] = []

        def agent(tid: str = t.id, woke: list[float] = woke) -> None:
            gate.wait_sync(tid)
            woke.append(time.monotonic())

        th = asyncio.get_running_loop().run_in_executor(None, agent)
        await asyncio.sleep(0.002)  # the agent is parked in wait()
        await gate.approve(t.id, reviewer="alice")
        await th
        if i >= warmup:
            out.append((woke[0] - clock.at[t.id]) * 1000)
    return out


_WAITER = textwrap.dedent("""
    import json, sys, time
    from signoff import Gate
    gate = Gate.open(policy=json.loads(sys.argv[1]), store=sys.argv[2], sweep=False,
                     poll_interval=float(sys.argv[3]))
    print("ready", flush=True)
    for line in sys.stdin:
        tid = line.strip()
        if not tid:
            break
        d = gate.wait_sync(tid)
        print(json.dumps({"t": time.monotonic(), "status": d.status}), flush=True)
    gate.close()
""")


def _cross_process_wakes(gate: Gate, clock: _CommitClock, url: str, n: int, warmup: int,
                         poll_interval: float) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-c", _WAITER, json.dumps(POLICY), url, str(poll_interval)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the waiting process did not start")
    out = []
    try:
        for i in range(n + warmup):
            t = gate.submit_sync(_action(i))
            proc.stdin.write(t.id + "\n")
            proc.stdin.flush()
            # Let the other process park in wait(), at a random phase of its poll cycle.
            time.sleep(0.005 + (i % 7) * poll_interval / 7)
            gate.approve_sync(t.id, reviewer="alice")
            reply = json.loads(proc.stdout.readline())
            if reply["status"] != "approved":
                raise AssertionError(reply)
            if i >= warmup:
                out.append((reply["t"] - clock.at[t.id]) * 1000)
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    return out


def main(*, n_small: int = 1000, n_large: int = 200, n_wake: int = 300, n_cross: int = 150,
         write: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as tmp:
        url = f"sqlite:///{tmp}/queue.db"
        gate = Gate.open(policy=POLICY, store=url)
        try:
            gate.add_reviewer("alice", tier="senior")
            small, large = _state(1024), _state(100 * 1024)
            small_bytes = len(json.dumps(small, separators=(",", ":")))
            large_bytes = len(json.dumps(large, separators=(",", ":")))
            raw_commits = _RawCommits(f"{tmp}/raw.db")
            cycle_small = asyncio.run(_cycles(gate, small, n_small, warmup=50, raw=raw_commits))
            cycle_large = asyncio.run(_cycles(gate, large, n_large, warmup=10))
            clock = _CommitClock(gate)
            wake_in = asyncio.run(_in_process_wakes(gate, clock, n_wake, warmup=20))
            poll = gate._poll_interval
            wake_cross = _cross_process_wakes(gate, clock, url, n_cross, warmup=5, poll_interval=poll)
            raw = raw_commits.ms
            raw_commits.conn.close()
        finally:
            gate.close()
        conn = sqlite3.connect(f"{tmp}/queue.db")
        journal, sync = conn.execute("PRAGMA journal_mode").fetchone()[0], "FULL (set per connection by the store)"
        conn.close()

    figures = {
        "cycle_1kb": {**_summary(cycle_small), "state_bytes": small_bytes,
                      "cycles_per_s": round(1000 / statistics.fmean(cycle_small), 1)},
        "cycle_100kb": {**_summary(cycle_large), "state_bytes": large_bytes,
                        "cycles_per_s": round(1000 / statistics.fmean(cycle_large), 1)},
        "raw_commit": _summary(raw),
        "wake_in_process": _summary(wake_in),
        "wake_cross_process": {**_summary(wake_cross), "poll_interval_ms": poll * 1000},
    }
    labels = {
        "cycle_1kb": "submit -> approve -> resume, 1 KB state",
        "cycle_100kb": "submit -> approve -> resume, 100 KB state",
        "raw_commit": "floor: one raw SQLite durable commit (2.5 KB row), between the 1 KB cycles",
        "wake_in_process": "decision committed -> waiter returns, same process",
        "wake_cross_process": "decision committed -> waiter returns, another process",
    }
    rows = []
    for key, f in figures.items():
        target = TARGETS_MS.get(key)
        verdict = f"< {target:g} ms: {'met' if f['median_ms'] < target else 'MISSED'}" if target else ""
        rows.append([labels[key], f["n"], f["median_ms"], f["p99_ms"], f.get("cycles_per_s", ""), verdict])
    doc: dict[str, Any] = {
        "benchmark": "queue",
        "title": "Review queue on SQLite (durable commits)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": platform.machine(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "journal_mode": journal,
        "synchronous": sync,
        "figures": figures,
        "table": {"columns": ["measure", "n", "median ms", "p99 ms", "cycles/s", "target (median)"], "rows": rows},
        "overhead_ms": {
            "cycle_1kb median minus 2 raw commits (what signoff adds to the two fsyncs)":
                round(figures["cycle_1kb"]["median_ms"] - 2 * figures["raw_commit"]["median_ms"], 3),
        },
        "ratios": {
            "LangGraph interrupt+resume (SQLite saver) / signoff cycle, 1 KB, median":
                round(LANGGRAPH_CYCLE_MS / figures["cycle_1kb"]["median_ms"], 1),
        },
    }
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print_table(doc, doc["overhead_ms"])
    return doc



if __name__ == "__main__":
    main()
