"""The HTTP server under load: submissions per second, and how fast an approval wakes a waiting agent.

The server is `signoff serve` in its own process (uvicorn, one worker, SQLite file with
durable commits, access log off); the clients run in this process on the same 2-core
machine, so client and server share the CPUs (a real deployment would not).

* submissions: 8 agents, each with its own token and keep-alive connection, submit
  ``deploy_production`` actions (which need a human) as fast as the server answers, for a
  fixed time after a warm-up. Each is a full ``POST /api/v1/tickets``: token check,
  validation, policy evaluation, a durable commit with its audit entry, the JSON answer.
  Measured with raw async httpx clients (orjson bodies) and, for comparison, through
  ``Gate.remote`` (which builds Action objects and parses the answer back into a Ticket).
* wake: an agent long-polls ``wait`` through ``Gate.remote``; once its request is parked on
  the server, a reviewer approves through another ``Gate.remote``. Measured from the moment
  the approve request is sent to the moment the agent's ``wait`` returns the decision: the
  approval's own round trip and commit, the wake-up, and the long-poll's answer.

Run: python benchmarks/bench_http.py (or ``make bench``); writes benchmarks/results/http.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import orjson

from signoff import Action, Gate
from signoff._model import utcnow
from signoff._tokens import hash_token, new_token
from signoff.store import TokenRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_stats, also under run.py
from _stats import pct

RESULTS = Path(__file__).resolve().parent / "results" / "http.json"
AGENTS = 8
WARMUP_S = 1.5
MEASURE_S = 6.0
REMOTE_MEASURE_S = 3.0
WAKE_SAMPLES = 200
TARGETS = {"submissions_per_s": 1000.0, "wake_p50_ms": 10.0}
POLICY = """\
version: 1
defaults: {level: auto, timeout: 2h, on_timeout: abort, max_pending_per_agent: 1000000}
tiers: [junior, senior]
rules:
  - name: prod-deploys
    match: {action: deploy_production}
    level: approve
    reason: high_risk_action
"""



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str], str]:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{tmp}/bench.db"
    with Gate.open(policy=policy, store=db, sweep=False) as gate:
        gate.add_reviewer("alice", tier="senior")
        tokens = {f"agent-{i}": new_token("agent") for i in range(AGENTS)}
        reviewer = new_token("reviewer")
        for name, tok in tokens.items():
            gate._engine.run_sync(gate.store.put_token(TokenRecord(token_hash=hash_token(tok), kind="agent",
                                                                   name=name, created_at=utcnow())))
        gate._engine.run_sync(gate.store.put_token(TokenRecord(token_hash=hash_token(reviewer), kind="reviewer",
                                                               name="alice", created_at=utcnow())))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).parent / "signoff"
    proc = subprocess.Popen([str(exe), "serve", "--policy", str(policy), "--db", db, "--port", str(port),
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start") from None
            time.sleep(0.05)
    return proc, url, tokens, reviewer


def _body(agent: str, i: int) -> bytes:
    return orjson.dumps({"action": {"name": "deploy_production", "args": {"service": "api", "version": f"1.{i}"},
                                    "reasoning": "green on staging", "confidence": 0.9}})


class _Conn:
    """A minimal keep-alive HTTP/1.1 client: a few microseconds per request, so that the clients,
    which share this machine's two cores with the server, take as little CPU from it as possible."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST /api/v1/tickets HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _submissions(url: str, tokens: dict[str, str], client: str) -> dict[str, Any]:
    """8 agents submit as fast as answered: ``client`` is "raw" (_Conn) or "httpx" (AsyncClient)."""
    counts = {name: 0 for name in tokens}
    latencies: list[float] = []
    stop_at = 0.0
    measuring = False
    host, port = url.removeprefix("http://").split(":")

    async def agent(name: str, token: str) -> None:
        if client == "raw":
            conn = _Conn(host, int(port), token)
            post = conn.post
        else:
            http = httpx.AsyncClient(base_url=url + "/api/v1", timeout=30,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

            async def post(body: bytes) -> tuple[int, bytes]:
                resp = await http.post("/tickets", content=body)
                return resp.status_code, resp.content
        try:
            i = 0
            while time.perf_counter() < stop_at:
                i += 1
                t0 = time.perf_counter()
                status, answer = await post(_body(name, i))
                if status != 201:
                    raise RuntimeError(f"submission failed: {status} {answer[:300]!r}")
                if measuring:
                    counts[name] += 1
                    latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            if client == "raw":
                conn.close()
            else:
                await http.aclose()

    stop_at = time.perf_counter() + WARMUP_S + MEASURE_S
    tasks = [asyncio.ensure_future(agent(n, t)) for n, t in tokens.items()]
    await asyncio.sleep(WARMUP_S)
    measuring = True
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    return {"client": client, "submissions": total, "seconds": round(elapsed, 2), "per_s": round(total / elapsed, 1),
            "latency_p50_ms": round(statistics.median(latencies), 2), "latency_p99_ms": round(pct(latencies, 0.99), 2)}


async def _remote_submissions(url: str, tokens: dict[str, str]) -> dict[str, Any]:
    total = 0
    stop_at = time.perf_counter() + REMOTE_MEASURE_S

    async def agent(name: str, token: str) -> None:
        nonlocal total
        async with Gate.remote(url, token=token) as gate:
            i = 0
            while time.perf_counter() < stop_at:
                i += 1
                await gate.submit(Action(name="deploy_production", args={"service": "api", "version": f"2.{i}"},
                                         reasoning="green on staging", confidence=0.9))
                total += 1

    started = time.perf_counter()
    await asyncio.gather(*(agent(n, t) for n, t in tokens.items()))
    elapsed = time.perf_counter() - started
    return {"submissions": total, "seconds": round(elapsed, 2), "per_s": round(total / elapsed, 1)}


async def _wake(url: str, agent_token: str, reviewer_token: str) -> dict[str, Any]:
    wake_ms: list[float] = []
    approve_ms: list[float] = []
    async with Gate.remote(url, token=agent_token) as agent, Gate.remote(url, token=reviewer_token) as reviewer:
        for i in range(WAKE_SAMPLES + 10):
            ticket = await agent.submit(Action(name="deploy_production", args={"service": "web", "version": f"3.{i}"},
                                               reasoning="green on staging"))
            returned: list[float] = []

            async def waiting(tid: str = ticket.id, out: list[float] = returned) -> None:
                decision = await agent.wait(tid, timeout=30)
                out.append(time.perf_counter())
                assert decision.approved

            task = asyncio.ensure_future(waiting())
            await asyncio.sleep(0.03)  # the long-poll is parked on the server by now
            t0 = time.perf_counter()
            await reviewer.approve(ticket.id)
            t_ack = time.perf_counter()
            await task
            if i >= 10:  # warm-up samples are dropped
                wake_ms.append((returned[0] - t0) * 1000)
                approve_ms.append((t_ack - t0) * 1000)
    return {"samples": len(wake_ms), "p50_ms": round(statistics.median(wake_ms), 2),
            "p99_ms": round(pct(wake_ms, 0.99), 2), "max_ms": round(max(wake_ms), 2),
            "approve_round_trip_p50_ms": round(statistics.median(approve_ms), 2)}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, tokens, reviewer = _start(Path(tmp))
        try:
            raw = asyncio.run(_submissions(url, tokens, "raw"))
            via_httpx = asyncio.run(_submissions(url, tokens, "httpx"))
            remote = asyncio.run(_remote_submissions(url, tokens))
            wake = asyncio.run(_wake(url, tokens["agent-0"], reviewer))
        finally:
            proc.terminate()
            proc.wait(30)
    met_subs = raw["per_s"] >= TARGETS["submissions_per_s"]
    met_wake = wake["p50_ms"] < TARGETS["wake_p50_ms"]
    doc: dict[str, Any] = {
        "benchmark": "http",
        "title": "HTTP server: submissions per second and approval-to-wake latency",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "agents": AGENTS,
        "submissions_raw": raw,
        "submissions_httpx": via_httpx,
        "submissions_remote": remote,
        "wake": wake,
        "table": {
            "columns": ["measure", "result", "target", "met"],
            "rows": [
                [f"submissions/s, {AGENTS} agents, minimal HTTP client", raw["per_s"], ">= 1000",
                 "yes" if met_subs else "NO"],
                ["submission latency p50 / p99 ms (minimal client)",
                 f"{raw['latency_p50_ms']} / {raw['latency_p99_ms']}", "", ""],
                [f"submissions/s, {AGENTS} agents, httpx.AsyncClient", via_httpx["per_s"], "", ""],
                [f"submissions/s, {AGENTS} agents, Gate.remote", remote["per_s"], "", ""],
                ["approval -> waiting agent returns, p50 ms", wake["p50_ms"], "< 10", "yes" if met_wake else "NO"],
                ["approval -> waiting agent returns, p99 ms", wake["p99_ms"], "", ""],
                ["approve round trip alone, p50 ms", wake["approve_round_trip_p50_ms"], "", ""],
            ],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    result = main()
    print(json.dumps({k: result[k] for k in ("submissions_raw", "submissions_httpx", "submissions_remote", "wake")},
                     indent=2))
