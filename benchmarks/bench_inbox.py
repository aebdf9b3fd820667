"""How long the reviewer inbox takes to render with 10,000 pending tickets (server time, no network).

A SQLite store gets 10,000 pending approval tickets, then the app that ``signoff serve``
runs (``create_app``) answers logged-in GET requests through httpx's in-process ASGI
transport, so the figure is the server's own time: session check, store reads, grouping
and the Jinja2 rendering, without sockets or a browser. Two queues:

  mixed     8 actions, each with one argument shape: a few large groups (what a flood looks like),
  distinct  every ticket with its own argument shape: 100 singleton rows on the first page (worst case).

For each, the inbox's first page, a page deep in the list (offset 9,900), the inbox
filtered by agent, a ticket page (with its history) and one live row fragment. Each is
requested ``--repeats`` times after a warm-up; the median and p95 are reported in ms.
Target (issue 5): the inbox under 150 ms with 10,000 pending.

Run alone (``python benchmarks/bench_inbox.py``) or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from signoff import Action, Gate
from signoff.server import ServerSettings, create_app

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "inbox.json"
PENDING = 10_000
TARGET_MS = 150.0
PASSWORD = "benchmark password"
POLICY = {
    "version": 1,
    "defaults": {"level": "auto", "timeout": "2h", "on_timeout": "escalate"},
    "tiers": ["junior", "senior"],
    "rules": [{"name": "reviewed", "match": {"action": "ops.*"}, "level": "approve", "reason": "high_risk_action"}],
}
ACTIONS = ["ops.deploy", "ops.refund", "ops.scale", "ops.restart_db", "ops.rotate_key", "ops.email",
           "ops.delete_bucket", "ops.open_port"]


def _actions(kind: str, n: int, rng: random.Random) -> list[Action]:
    out = []
    for i in range(n):
        name = ACTIONS[i % len(ACTIONS)]
        args: dict[str, Any] = {"target": f"svc-{rng.randrange(500)}", "amount": rng.randrange(10_000),
                                "note": "x" * rng.randrange(10, 200)}
        if kind == "distinct":
            args[f"k{i}"] = i  # a key of its own: its own argument shape, its own group
        out.append(Action(name=name, args=args, agent=f"agent-{i % 12}", confidence=rng.random(),
                          reasoning="because " * rng.randrange(1, 40)))
    return out


async def _fill(gate: Gate, kind: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    ids: list[str] = []
    actions = _actions(kind, PENDING, rng)
    for start in range(0, PENDING, 500):
        tickets = await gate.submit_many(actions[start:start + 500])
        ids.extend(t.id for t in tickets)
    return ids


async def _client(app: Any) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080")
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    r = await client.post("/login", data={"csrf_token": token.group(1), "name": "bench", "password": PASSWORD,
                                          "next": "/"})
    assert r.status_code == 303, f"login failed: {r.status_code} {r.text[:200]}"
    return client


async def _time(client: httpx.AsyncClient, path: str, repeats: int) -> dict[str, Any]:
    for _ in range(3):
        r = await client.get(path)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    times.sort()
    return {"median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
            "bytes": len(r.content)}


async def _run_queue(kind: str, repeats: int, tmp: Path) -> dict[str, Any]:
    db = tmp / f"{kind}.db"
    gate = Gate.open(policy=POLICY, store=f"sqlite:///{db}", sweep=False)
    try:
        gate.add_reviewer("bench", tier="senior", password=PASSWORD)
        t0 = time.perf_counter()
        ids = await _fill(gate, kind, seed=7)
        fill_s = time.perf_counter() - t0
        app = create_app(gate, settings=ServerSettings())
        client = await _client(app)
        try:
            pages = {
                "inbox, first page": "/",
                "inbox, page 100 (offset 9,900)": "/?page=100",
                "inbox, filtered by agent": "/?agent=agent-3",
                "ticket page": f"/tickets/{ids[5000]}",
                "live row fragment": f"/ui/rows/{ids[4000]}",
            }
            figures = {label: await _time(client, path, repeats) for label, path in pages.items()}
        finally:
            await client.aclose()
        groups = len({t.group_key for t in await gate.list_tickets(status="pending", limit=100)})
    finally:
        await gate.aclose()
    return {"fill_seconds": round(fill_s, 1), "groups_on_first_page": groups, "pages": figures}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory() as tmp:
        queues = {kind: asyncio.run(_run_queue(kind, args.repeats, Path(tmp))) for kind in ("mixed", "distinct")}
    rows = []
    for kind, q in queues.items():
        for label, f in q["pages"].items():
            target = (f"< {TARGET_MS:g} ms: {'met' if f['p95_ms'] < TARGET_MS else 'NOT met'}"
                      if label.startswith("inbox") else "")
            rows.append([kind, label, f["median_ms"], f["p95_ms"], f["bytes"], target])
    worst_inbox = max(f["p95_ms"] for q in queues.values() for label, f in q["pages"].items()
                      if label.startswith("inbox"))
    result = {
        "benchmark": "inbox",
        "title": f"Reviewer inbox with {PENDING:,} pending tickets (server time per page)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "nproc": os.cpu_count(),
        "pending": PENDING,
        "repeats": args.repeats,
        "target_ms": TARGET_MS,
        "worst_inbox_p95_ms": worst_inbox,
        "meets_target": worst_inbox < TARGET_MS,
        "queues": queues,
        "table": {"columns": ["queue", "page", "median ms", "p95 ms", "bytes", "target (p95)"], "rows": rows},
        "ratios": {f"headroom: target {TARGET_MS:g} ms / worst inbox p95": round(TARGET_MS / worst_inbox, 1)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for row in rows:
        print(f"{row[0]:>9}  {row[1]:<32} median {row[2]:>6} ms  p95 {row[3]:>6} ms  {row[4]:>8} bytes")
    print(f"target: inbox under {TARGET_MS:g} ms: {'met' if result['meets_target'] else 'NOT met'} "
          f"(worst p95 {worst_inbox} ms)")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
