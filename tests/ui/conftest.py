"""The inbox in a real browser: `signoff serve` as a process on 127.0.0.1, headless Chromium through Playwright.

The browser is the Debian one (/usr/bin/chromium, installed by scripts/test-setup.sh);
Playwright never downloads one. Tests share one server (starting it costs a second or
two) and keep out of each other's way by using their own agent names and filtering the
inbox by agent; a test that needs a server of its own (the login rate limit) starts one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from signoff import Gate

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
POLICY = """\
version: 1
defaults: {level: auto, confidence_threshold: 0.7, timeout: 30m, on_timeout: escalate}
tiers: [junior, senior]
rules:
  - name: reviewed-actions
    match: {action: "review.*"}
    level: approve
    reason: high_risk_action
    message: Changes production; a person approves first.
  - name: refunds-over-limit
    match: {action: review.refund}
    when: "args.amount > 1000"
    level: deny
    reason: policy_boundary
    message: Refunds over 1000 are never made by an agent.
  - name: senior-only
    match: {action: "senior.*"}
    level: approve
    reason: policy_boundary
    reviewers: {tier: senior}
    message: Only a senior reviewer may approve this.
  - name: feed
    match: {action: "feed.*"}
    level: notify
  - name: ideas
    match: {action: "idea.*"}
    level: suggest
modes:
  incident: {confidence_threshold: 0.5}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running `signoff serve` and a Gate in the test process on the same database."""

    url: str
    gate: Gate
    proc: subprocess.Popen[bytes]
    log: Path

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a gate coroutine from a sync test (Playwright's sync API holds a loop in this thread)."""
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.gate.close()


def start_server(tmp: Path, policy_text: str = POLICY) -> Served:
    """Write the policy, create the reviewers, start `signoff serve` and wait until it answers."""
    policy = tmp / "policy.yaml"
    policy.write_text(policy_text)
    db = f"sqlite:///{tmp}/inbox.db"
    gate = Gate.open(policy=policy, store=db, sweep=False)
    gate.add_reviewer("alice", tier="senior", password=PASSWORD)
    gate.add_reviewer("bob", tier="senior", password=PASSWORD)
    gate.add_reviewer("jim", tier="junior", password=PASSWORD)
    port = _free_port()
    log = tmp / "server.log"
    exe = Path(sys.executable).parent / "signoff"
    env = {**os.environ, "SIGNOFF_SECRET_KEY": secrets.token_hex(16)}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "serve", "--policy", str(policy), "--db", db, "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    served = Served(url=url, gate=gate, proc=proc, log=log)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            gate.close()
            raise RuntimeError(f"signoff serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as r:
                if r.status == 200:
                    return served
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"signoff serve did not answer within 60 s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("inbox"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and async tests that run later in the session need the thread back.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/test-setup.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def agent() -> str:
    """A fresh agent name: the test's tickets, and only them, show under ?agent=<name>."""
    return f"agent-{secrets.token_hex(4)}"


def login(page: Any, url: str, name: str = "alice", password: str = PASSWORD, next_path: str = "/") -> None:
    page.goto(url + "/login?next=" + urllib.request.quote(next_path, safe=""))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url(lambda u: "/login" not in u)
