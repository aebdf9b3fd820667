"""`signoff serve` as a real process on a free loopback port, with a temporary SQLite database.

The tests share one server per session (starting one costs a second or two) and keep out
of each other's way by using their own agent names: ``server.agent()`` makes a fresh agent
and its token. Reviewers and tokens are written straight into the store by a Gate in the
test process (on the same database file) before and while the server runs.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from signoff import Gate
from signoff._model import utcnow
from signoff._tokens import hash_token, new_token
from signoff.store import TokenRecord

PASSWORD = "correct horse battery"
QUOTA = 4
POLICY = f"""\
version: 1
defaults: {{level: auto, confidence_threshold: 0.7, timeout: 30m, on_timeout: escalate,
            max_pending_per_agent: {QUOTA}}}
tiers: [junior, senior]
rules:
  - name: prod-deploys
    match: {{action: deploy_production}}
    level: approve
    reason: high_risk_action
  - name: payments
    match: {{action: send_payment}}
    level: approve
    reason: high_risk_action
    reviewers: {{tier: senior}}
  - name: big-payments
    match: {{action: send_payment}}
    when: "args.amount > 1000"
    level: approve
    reviewers: {{tier: senior, count: 2}}
  - name: refunds-within-policy
    match: {{action: issue_refund}}
    when: "args.amount <= 200.0"
    level: notify
  - name: iam
    match: {{action: "iam.*"}}
    level: suggest
  - name: no-root-keys
    match: {{action: iam.create_root_key}}
    level: deny
    reason: policy_boundary
modes:
  incident: {{confidence_threshold: 0.5}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signoff_exe() -> str:
    return str(Path(sys.executable).parent / "signoff")


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Poll the health endpoint until it answers (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{log.read_text()}")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then wait; kill only if it hangs. Returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return int(proc.returncode)


@dataclass
class Server:
    """A running `signoff serve`, and a local Gate on its database for setting things up."""

    url: str
    db: str
    gate: Gate
    proc: subprocess.Popen[bytes]
    log: Path
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, kind: Literal["agent", "reviewer"], name: str) -> str:
        """A token for agent or reviewer ``name`` (made once, stored hashed like the CLI does)."""
        key = (kind, name)
        if key not in self.tokens:
            secret = new_token(kind)
            self.gate._engine.run_sync(self.gate.store.put_token(TokenRecord(
                token_hash=hash_token(secret), kind=kind, name=name, created_at=utcnow())))
            self.tokens[key] = secret
        return self.tokens[key]

    def agent(self, prefix: str = "agent") -> tuple[str, str]:
        """A fresh agent name and its token: the test's tickets, and only them, belong to it."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        return name, self.token("agent", name)

    def remote(self, kind: Literal["agent", "reviewer"], name: str) -> object:
        return Gate.remote(self.url, token=self.token(kind, name))


def start_server(tmp: Path, policy_text: str = POLICY, *, extra_args: tuple[str, ...] = ()) -> Server:
    """Write the policy, add the reviewers, start `signoff serve` and wait until it answers."""
    policy = tmp / "policy.yaml"
    policy.write_text(policy_text)
    db = f"sqlite:///{tmp}/server.db"
    gate = Gate.open(policy=policy, store=db, sweep=False)
    gate.add_reviewer("alice", tier="senior", password=PASSWORD)
    gate.add_reviewer("bob", tier="senior", password=PASSWORD)
    gate.add_reviewer("intern", tier="junior", password=PASSWORD)
    port = free_port()
    log = tmp / "server.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(policy), "--db", db, "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning", *extra_args],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        wait_until_up(url, proc, log)
    except BaseException:
        stop_process(proc)
        gate.close()
        raise
    return Server(url=url, db=db, gate=gate, proc=proc, log=log)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    code = stop_process(srv.proc)
    srv.gate.close()
    log = srv.log.read_text()
    # A clean stop on SIGTERM, and nothing went wrong unseen while the tests ran.
    assert (0, False, False) == (code, "Traceback" in log, "Task was destroyed" in log), log
