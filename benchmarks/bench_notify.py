"""Notifications: what the outbox costs the gate, and delivery under bad receivers.

* cycle: ``submit -> approve -> resume`` on SQLite (durable commits), with and without a
  ``notifications:`` section (two channels) and a deliverer running beside it, expanding each
  event (its audit entry) into per-channel rows and sending them to the console channel's
  stand-in. The two gates run interleaved, cycle by cycle, on files in the same directory, so
  both see the same disk at the same moments.
* delivery: 1,000 tickets submitted while a deliverer sends each to three real HTTP receivers
  in another process: one answers after 200 ms, one fails half the time (503, at random), one hangs for
  the first 10 s (the channel times out after 2 s) and then answers. Counted: every event id
  each receiver acknowledged (none lost), duplicates (at least once allows them), and the gate's
  submissions per second while delivering against a run without a deliverer, in the same process.

Run: python benchmarks/bench_notify.py (or ``make bench``); writes benchmarks/results/notify.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from signoff import Action, Gate
from signoff.notify import Sent
from signoff.notify._deliverer import Deliverer
from signoff.notify._links import GateLinks
from signoff.notify._routing import Router
from signoff.notify.webhook import WebhookChannel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import pct, print_table

RESULTS = Path(__file__).resolve().parent / "results" / "notify.json"
SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()
BASE: dict[str, Any] = {
    "version": 1, "defaults": {"level": "auto", "timeout": "1h", "on_timeout": "abort"}, "tiers": ["ops"],
    "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
}
RECEIVER = textwrap.dedent('''
    import asyncio, sys, time, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    import random
    seen = {"slow": [], "flaky": [], "hang": []}
    coin = random.Random(7)
    started = time.monotonic()
    async def slow(request):
        await asyncio.sleep(0.2); seen["slow"].append(request.headers["webhook-id"]); return Response(status_code=200)
    async def flaky(request):
        if coin.random() < 0.5:
            return Response(status_code=503)
        seen["flaky"].append(request.headers["webhook-id"]); return Response(status_code=200)
    async def hang(request):
        if time.monotonic() - started < float(sys.argv[2]):
            await asyncio.sleep(3600)
        seen["hang"].append(request.headers["webhook-id"]); return Response(status_code=200)
    async def stats(request):
        return JSONResponse({k: v for k, v in seen.items()})
    app = Starlette(routes=[Route("/slow", slow, methods=["POST"]), Route("/flaky", flaky, methods=["POST"]),
                            Route("/hang", hang, methods=["POST"]), Route("/stats", stats)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", timeout_graceful_shutdown=1)
''')


def _action(i: int) -> Action:
    return Action(name="deploy", args={"service": "billing", "version": f"2.4.{i}"}, agent="deploy-bot",
                  reasoning="release train 42; checks green", confidence=0.9)


class NullChannel:
    """Accepts every message at once: the cycle then measures signoff's side of delivery only."""

    kind = "null"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    async def send(self, message: Any) -> Sent:
        self.sent += 1
        return Sent(detail="accepted")

    async def aclose(self) -> None:
        pass


async def cycles(n: int, tmp: Path) -> dict[str, Any]:
    notifying = {**BASE, "notifications": {"channels": {"team": {"kind": "console"}, "oncall": {"kind": "console"}},
                                           "routes": [{"to": ["team", "oncall"]}]}}
    off = Gate.open(BASE, store=f"sqlite:///{tmp}/off.db", sweep=False)
    on = Gate.open(notifying, store=f"sqlite:///{tmp}/on.db", sweep=False)
    times: dict[str, list[float]] = {"off": [], "on": []}
    channels = {"team": NullChannel("team"), "oncall": NullChannel("oncall")}
    deliverer = Deliverer(on, Router(on.policy.spec.notifications), channels,  # type: ignore[arg-type]
                          GateLinks(public_url="http://127.0.0.1", secret=b"k" * 32, gate=on), idle=0.05)
    runner = asyncio.create_task(deliverer.run())
    try:
        for g in (off, on):
            g.add_reviewer("olga", tier="ops")
        state = {"messages": [{"role": "assistant", "content": "x" * 90}] * 9}
        for i in range(n + 20):
            for name, g in (("off", off), ("on", on)) if i % 2 else (("on", on), ("off", off)):
                t0 = time.perf_counter()
                t = await g.submit(_action(i), state=state)
                await g.approve(t.id, reviewer="olga")
                await g.resume(t.id)
                if i >= 20:  # warm-up
                    times[name].append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(1.0)  # let the deliverer finish the last ones
        rows = len(await on.list_notifications(limit=100_000))
        sent = sum(c.sent for c in channels.values())
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        off.close()
        on.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"n": n, "median_ms": {k: round(v, 3) for k, v in med.items()},
            "p99_ms": {k: round(pct(v, 0.99), 3) for k, v in times.items()},
            "outbox_rows": rows, "messages_sent": sent, "overhead": round(med["on"] / med["off"] - 1, 4)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def submit_all(gate: Gate, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        await gate.submit(_action(i))
    return n / (time.perf_counter() - t0)


async def delivery(n: int, tmp: Path, hang_for: float = 10.0) -> dict[str, Any]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), str(hang_for)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/stats", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        policy = {**BASE, "notifications": {
            "channels": {name: {"kind": "webhook", "url": f"{url}/{name}", "secret": "env:BENCH_SECRET"}
                         for name in ("slow", "flaky", "hang")},
            "routes": [{"to": ["slow", "flaky", "hang"]}], "events": ["created"]}}
        # Without a deliverer: the gate alone, same policy (after a warm-up run, discarded).
        for name in ("warm", "quiet"):
            quiet = Gate.open(policy, store=f"sqlite:///{tmp}/{name}.db", sweep=False)
            try:
                alone = await submit_all(quiet, n)
            finally:
                quiet.close()
        gate = Gate.open(policy, store=f"sqlite:///{tmp}/busy.db", sweep=False)
        channels = {name: WebhookChannel(name, url=f"{url}/{name}", secrets=[SECRET], timeout=2.0)
                    for name in ("slow", "flaky", "hang")}
        deliverer = Deliverer(gate, Router(gate.policy.spec.notifications), channels,  # type: ignore[arg-type]
                              GateLinks(public_url=url, secret=b"k" * 32, gate=gate),
                              send_timeout=5.0, retry_base=0.25, retry_cap=5.0, max_attempts=30)
        runner = asyncio.create_task(deliverer.run())
        try:
            t0 = time.perf_counter()
            busy = await submit_all(gate, n)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:  # every event expanded (3 channels each), none left to send
                rows = await gate.list_notifications(limit=100_000)
                if len(rows) >= 3 * n and all(r.status != "pending" for r in rows):
                    break
                await asyncio.sleep(0.2)
            all_done = time.perf_counter() - t0
            rows = await gate.list_notifications(limit=100_000)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await deliverer.aclose()
            gate.close()
        seen = json.loads(urllib.request.urlopen(url + "/stats", timeout=5).read())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    ids = {name: {r.id for r in rows if r.channel == name} for name in seen}
    start = min(r.created_at for r in rows)
    done_after = {name: round(max((r.delivered_at - start).total_seconds() for r in rows
                                  if r.channel == name and r.delivered_at), 1) for name in seen}
    tries = {name: max(r.attempts for r in rows if r.channel == name) for name in seen}
    return {
        "tickets": n, "notifications": len(rows), "by_status": by_status,
        "received_unique": {k: len(set(v)) for k, v in seen.items()},
        "duplicates": {k: len(v) - len(set(v)) for k, v in seen.items()},
        "lost": {k: len(ids[k] - set(seen[k])) for k in seen},
        "seconds_until_all_delivered": round(all_done, 1), "last_delivery_after_s": done_after,
        "most_tries": tries,
        "submissions_per_s": {"without_deliverer": round(alone), "while_delivering": round(busy)},
        "submission_rate_ratio": round(busy / alone, 3),
    }


NOTES = [
    ("The second ratio was 0.824x before the change below. What moved it: the deliverer shares the "
     "server's process (its HTTP sends and its outbox transactions compete with submissions for the CPU "
     "and the store's writer), so it now yields to the gate: while submissions and decisions stream in it "
     "waits for a 50 ms gap before claiming more, but never longer than 1 s (`Deliverer.quiet_gap`, "
     "`max_defer`). A burst keeps its rate and its notifications follow it; under sustained load delivery "
     "still starts every second. Measured apart (scratch runs of the same burst, 5 each, same machine, "
     "same minute): 1,000 submissions 0.78x before, 0.95x after (median); 4,000 submissions in a row "
     "(longer than `max_defer`, so delivery interleaves) 0.91x. Also: the webhook channel read the "
     "package's version from its metadata for every message's `User-Agent` (about 0.2 ms each); now once. "
     "A delivery worker in its own process was tried too: 0.86x, with a child process to supervise, so not"
     " taken."),
]
"""Why the deliverer yields to the gate (issue 12), measured 2026-11-29; rendered under the table."""


def main() -> dict[str, Any]:
    os.environ["BENCH_SECRET"] = SECRET
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        cyc = asyncio.run(cycles(300, Path(tmp)))
        dlv = asyncio.run(delivery(1000, Path(tmp)))
    doc = {
        "title": "Notifications: the outbox's cost and delivery to bad receivers (SQLite, durable commits)",
        "table": {"columns": ["measure", "without notifications", "with notifications (2 channels, delivering)"],
                  "rows": [["cycle median (ms)", cyc["median_ms"]["off"], cyc["median_ms"]["on"]],
                           ["cycle p99 (ms)", cyc["p99_ms"]["off"], cyc["p99_ms"]["on"]],
                           ["submissions/s (1,000 in a burst)", dlv["submissions_per_s"]["without_deliverer"],
                            dlv["submissions_per_s"]["while_delivering"]],
                           ["notifications delivered / lost / duplicated (3 receivers)", "-",
                            f"{dlv['by_status'].get('delivered', 0)} / {sum(dlv['lost'].values())} / "
                            f"{sum(dlv['duplicates'].values())}"]]},
        "ratios": {"cycle, with / without notifications (target < 1.10)": round(1 + cyc["overhead"], 3),
                   "submissions/s while delivering / without a deliverer (target >= 0.90)":
                       dlv["submission_rate_ratio"]},
        "cycle": cyc, "delivery": dlv, "notes": NOTES,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(doc, {"delivery": dlv})
    return doc


if __name__ == "__main__":
    main()
