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
* against the floor (issue 14): wrk (2 threads, 8 connections, the same duration each)
  loads a bare FastAPI + pydantic JSON echo (benchmarks/_http_echo.py) and this server's
  durable submissions and ``POST /api/v1/evaluate``, alternately, 3 rounds each, both servers
  up the whole time; the medians and their ratios signoff / echo. The submissions' Lua
  script gives every request its own arguments and rotates over 64 agents' tokens, so that
  no agent holds more than ~1,000 pending tickets (the default quota): the quota check
  counts an agent's pending tickets, which costs more the more there are. Run first, on
  the empty store. Also the
  server's CPU per request (utime + stime of its process), which the client's share of the
  two cores does not blur. Needs wrk (``apt-get install -y wrk``; tried when missing).

Run: python benchmarks/bench_http.py (or ``make bench``); writes benchmarks/results/http.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import shutil
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
TARGETS = {"submissions_per_s": 1000.0, "wake_p50_ms": 10.0, "submit_vs_echo": 1 / 3, "evaluate_vs_echo": 0.8}
WRK_S = 5
WRK_AGENTS = 64  # the wrk submissions' own agents: each stays under ~1,000 pending, as the default quota keeps it
WRK_ROUNDS = 3
ECHO_BODY = ('{"name":"deploy_production","args":{"service":"api","version":"1.4.2","has_schema_change":false},'
             '"confidence":0.82,"reasoning":"release train 42, all checks green"}')
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

NOTES: list[str] = [
    # Written from the profiles of 2026-11-29 (issue 14); the figures above are re-measured by every run.
    "**Where the time goes** (py-spy 0.4.3, `record -r 200 --threads -f raw` on the `signoff serve` process for "
    "8 s of the wrk load above; share of the server's busy samples, idle threads left out; before = 183e070, "
    "after = the two fixes below):",
    "| where | /evaluate before | /evaluate after | submit before | submit after |\n"
    "|---|---:|---:|---:|---:|\n"
    "| SQLite `COMMIT` (the fsync; engine thread, GIL released) | - | - | 22.4% | 20.1% |\n"
    "| store: statements, rows, audit chain (engine thread) | 2.5% | 1.9% | 11.5% | 14.9% |\n"
    "| gate submit: ticket, policy, row JSON (engine thread) | - | - | 1.7% | 2.3% |\n"
    "| engine loop: select, wake-ups, the hop back | 4.7% | 4.3% | 13.3% | 12.8% |\n"
    "| auth: token -> principal (cached lookup) | 1.8% | 1.9% | 1.3% | 0.8% |\n"
    "| endpoint: Action from the body, evaluate, JSON answer | 9.3% | 10.1% | 4.8% | 6.8% |\n"
    "| FastAPI dependency solving + pydantic body validation | 21.8% | 15.9% | 11.1% | 5.6% |\n"
    "| body read + orjson parse | 4.6% | 5.8% | 1.6% | 3.1% |\n"
    "| response send (Starlette/uvicorn, the socket write) | 17.3% | 15.8% | 7.6% | 7.3% |\n"
    "| FastAPI route matching | 6.3% | 8.3% | 3.4% | 3.4% |\n"
    "| other FastAPI/Starlette (middleware, request handler) | 21.3% | 23.1% | 8.0% | 7.8% |\n"
    "| uvicorn httptools protocol + uvloop (C) | 8.0% | 8.6% | 9.8% | 11.2% |",
    "In-process (the ASGI app called directly, no sockets; same run as the echo app): the FastAPI echo "
    "48.5 µs a request, `POST /evaluate` 103 µs before, 94 µs after the first fix, 85 µs after the second. "
    "The token lookup is already cached (`Authenticator`, a dict hit), the answer is encoded once with orjson, "
    "and the policy decision is ~1 µs: what /evaluate pays beyond the echo is FastAPI's per-dependency work "
    "(each `Depends` costs a nested `solve_dependencies`, cache-key and scope checks), the Action's field "
    "limits (`Action.__post_init__`, ~5 µs), routing among ~40 routes instead of one, and a larger answer.",
    "**Fixes** (each its own commit; tests/server green; the OpenAPI document compared byte for byte before "
    "and after): (1) the token, the lookup and the agent/reviewer check are one dependency (an `HTTPBearer` "
    "subclass, so the `token` security scheme still shows on every route) instead of a chain of three; "
    "(2) `POST /evaluate` and `POST /tickets` take the server context from the request instead of through the "
    "`Ctx` dependency. Same run, wrk, both servers and the echo up, 3 alternating rounds of 4 s: echo 9,948 "
    "req/s; /evaluate 6,023 -> 6,814 req/s (0.605 -> 0.685 of the echo; server CPU 0.152 -> 0.135 ms a "
    "request, the echo's 0.085); durable submissions 1,610 -> 2,122 req/s (0.162 -> 0.213; 0.435 -> 0.396 ms). "
    "(3) `POST /evaluate` fast path (`signoff.server._fast_evaluate`): an ASGI layer in front of FastAPI answers "
    "a well-formed request (known bearer token, JSON body within the limit that the route's model accepts) "
    "itself, with the route's exact bytes; anything else, and any exception, goes to the FastAPI route "
    "unchanged (evaluate stores nothing, so nothing happens twice). In-process 85 -> 13 µs; same run as "
    "above: echo 10,316 req/s, /evaluate 6,744 -> 14,175 req/s (0.654 -> 1.374 of the echo; CPU 0.136 -> "
    "0.058 ms a request). After it, half of the server's samples under /evaluate load are uvicorn's socket "
    "writes (`RequestResponseCycle.send`) and 15% uvloop. What the fast path does not do: FastAPI's own "
    "telemetry spans for the requests it answers; an unknown token is looked up twice (here, then by the "
    "route's 401).",
    "**What stands in the way of the submissions' third.** Each is a "
    "durable SQLite commit; concurrent ones share it (group commit: ~4 a group with 8 connections), and the "
    "commits are serial (one writer). Per group the engine thread spends ~1.3 ms: the `COMMIT` (fsync) "
    "0.8 ms median under this load, ~0.5 ms of Python building and writing the rows and the audit entries. "
    "With 8 connections and two groups in flight that caps near 8 / (2 x 1.3 ms) ~ 3,000/s whatever the HTTP "
    "layer does, i.e. ~0.3 of this echo: the third is out of reach on this disk without weakening "
    "durability; a fast path like /evaluate's would shorten the server's part of each round trip "
    "(~0.28 ms of FastAPI a request), worth trying next, but it must never run a submission twice, so it "
    "cannot simply hand failures to the route. Also: the quota check counts the agent's pending tickets "
    "(`pending_by_agent`, an index range scan), so a submission costs more the more the agent has pending: "
    "with 8 agents holding thousands of pending tickets each, rounds fell from 1,708 to 726/s. Under the "
    "default quota (1,000) the count stays bounded; a counter kept by the store would make it O(1). Tried "
    "and not kept: `sys.setswitchinterval` 0.2-1 ms (the engine thread re-takes the GIL after every SQLite "
    "call): no change beyond noise.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str], str, list[str]]:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{tmp}/bench.db"
    with Gate.open(policy=policy, store=db, sweep=False) as gate:
        gate.add_reviewer("alice", tier="senior")
        tokens = {f"agent-{i}": new_token("agent") for i in range(AGENTS)}
        wrk_tokens = {f"wrk-{i}": new_token("agent") for i in range(WRK_AGENTS)}
        reviewer = new_token("reviewer")
        for name, tok in {**tokens, **wrk_tokens}.items():
            gate._engine.run_sync(gate.store.put_token(TokenRecord(token_hash=hash_token(tok), kind="agent",
                                                                   name=name, created_at=utcnow())))
        gate._engine.run_sync(gate.store.put_token(TokenRecord(token_hash=hash_token(reviewer), kind="reviewer",
                                                               name="alice", created_at=utcnow())))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).parent / "signoff"
    proc = subprocess.Popen([str(exe), "serve", "--policy", str(policy), "--db", db, "--port", str(port),
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_up(proc, url + "/api/v1/health")
    return proc, url, tokens, reviewer, list(wrk_tokens.values())


# ------------------------------------------------------------------ wrk against the bare echo

def _wrk_exe() -> str:
    exe = shutil.which("wrk")
    if exe is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is missing and `apt-get install -y wrk` did not install it")
    return exe


def _lua(tmp: Path, name: str, tokens: list[str], body: str, vary: bool) -> Path:
    """A wrk script: POST ``body``; with ``vary``, each request its own version string and the
    next agent's token, so that submissions are distinct tickets spread over the agents."""
    quoted = ", ".join(f'"{t}"' for t in tokens)
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    if vary:
        head, tail = body.split("@N@")
        lines += [f"local tokens = {{{quoted}}}", "local n = 0", "local threads = 0",
                  "function setup(thread) threads = threads + 1; thread:set('id', threads) end",
                  "function request()", "  n = n + 1",
                  "  local tok = tokens[(n % #tokens) + 1]",
                  f"  local body = [[{head}]] .. id .. \"-\" .. n .. [[{tail}]]",
                  '  return wrk.format("POST", nil, {["Content-Type"] = "application/json",'
                  ' ["Authorization"] = "Bearer " .. tok}, body)',
                  "end"]
    else:
        if tokens:
            lines.append(f'wrk.headers["Authorization"] = "Bearer {tokens[0]}"')
        lines.append(f"wrk.body = [[{body}]]")
    path = tmp / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _wrk_round(wrk: str, pid: int, url: str, lua: Path, seconds: int) -> tuple[float, float]:
    """One wrk run: (requests/s, server CPU ms per request); any non-2xx answer is an error."""
    c0 = _cpu_ticks(pid)
    out = subprocess.run([wrk, "-t2", "-c8", f"-d{seconds}s", "-s", str(lua), url], capture_output=True,
                         text=True, check=True).stdout
    c1 = _cpu_ticks(pid)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk against {url} saw errors:\n{out}")
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    n = int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))
    hz = os.sysconf("SC_CLK_TCK")
    return rps, (c1 - c0) * 1000 / hz / max(n, 1)


def _vs_echo(tmp: Path, proc: subprocess.Popen[bytes], url: str, tokens: list[str]) -> dict[str, Any]:
    wrk = _wrk_exe()
    port = _free_port()
    echo_url = f"http://127.0.0.1:{port}"
    echo = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "_http_echo.py"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_up(echo, echo_url + "/docs")
        action = ECHO_BODY  # the token names the agent
        submit_body = '{"action": ' + action.replace('"1.4.2"', '"1.@N@"') + "}"
        luas = {
            "echo": (echo.pid, echo_url + "/api/v1/tickets", _lua(tmp, "echo", [], ECHO_BODY, vary=False)),
            "submit": (proc.pid, url + "/api/v1/tickets", _lua(tmp, "submit", tokens, submit_body, vary=True)),
            "evaluate": (proc.pid, url + "/api/v1/evaluate",
                         _lua(tmp, "evaluate", tokens, '{"action": ' + action + "}", vary=False)),
        }
        for pid, target, lua in luas.values():  # warm-up; also shows that each answers 2xx
            _wrk_round(wrk, pid, target, lua, 1)
        rounds: dict[str, list[tuple[float, float]]] = {k: [] for k in luas}
        for _ in range(WRK_ROUNDS):  # alternate, so that a burst of other load hits all sides
            for kind, (pid, target, lua) in luas.items():
                rounds[kind].append(_wrk_round(wrk, pid, target, lua, WRK_S))
    finally:
        echo.terminate()
        echo.wait(30)
    med = {k: statistics.median(r for r, _ in v) for k, v in rounds.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in rounds.items()}
    return {"wrk": "2 threads, 8 connections", "seconds_per_round": WRK_S, "rounds": WRK_ROUNDS,
            "req_per_s_rounds": {k: [round(r, 1) for r, _ in v] for k, v in rounds.items()},
            "req_per_s": {k: round(v, 1) for k, v in med.items()},
            "server_cpu_ms_per_request": {k: round(v, 3) for k, v in cpu.items()},
            "submit_vs_echo": round(med["submit"] / med["echo"], 3),
            "evaluate_vs_echo": round(med["evaluate"] / med["echo"], 3),
            "cpu_submit_vs_echo": round(cpu["submit"] / cpu["echo"], 2),
            "cpu_evaluate_vs_echo": round(cpu["evaluate"] / cpu["echo"], 2)}


def _wait_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.05)


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
        proc, url, tokens, reviewer, wrk_tokens = _start(Path(tmp))
        try:
            # first, on the empty store: the count of an agent's pending tickets (its quota) grows with them
            vs_echo = _vs_echo(Path(tmp), proc, url, wrk_tokens)
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
        "vs_echo": vs_echo,
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
                ["wrk, bare FastAPI + pydantic echo, req/s", vs_echo["req_per_s"]["echo"], "", ""],
                ["wrk, durable submissions (POST /tickets, approve level), req/s",
                 vs_echo["req_per_s"]["submit"], "", ""],
                ["wrk, POST /evaluate, req/s", vs_echo["req_per_s"]["evaluate"], "", ""],
                ["server CPU ms/request: echo / submit / evaluate",
                 " / ".join(str(vs_echo["server_cpu_ms_per_request"][k]) for k in ("echo", "submit", "evaluate")),
                 "", ""],
            ],
        },
        "ratios": {
            "durable submissions / echo, req/s (target >= 0.33)": vs_echo["submit_vs_echo"],
            "/evaluate / echo, req/s (target >= 0.8)": vs_echo["evaluate_vs_echo"],
            "server CPU per request, submit / echo": vs_echo["cpu_submit_vs_echo"],
            "server CPU per request, evaluate / echo": vs_echo["cpu_evaluate_vs_echo"],
        },
        "notes": NOTES,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    result = main()
    print(json.dumps({k: result[k] for k in ("submissions_raw", "submissions_httpx", "submissions_remote", "wake",
                                             "vs_echo")},
                     indent=2))
