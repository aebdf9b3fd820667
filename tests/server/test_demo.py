"""`signoff demo` as a real process: it prints a login, its agents wait on approvals, and resume."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import signoff
from signoff._passwords import verify_password
from tests.server.conftest import free_port, signoff_exe

pytestmark = pytest.mark.slow
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Demo:
    url: str
    db: str
    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The next output line matching ``pattern`` (lines before it are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s:\n" + "\n".join(self.seen))
            try:
                line = ANSI.sub("", self.lines.get(timeout=remaining))
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    db = f"sqlite:///{tmp_path}/demo.db"
    proc = subprocess.Popen([signoff_exe(), "demo", "--port", str(port), "--db", db, "--pace", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    d = Demo(url=f"http://127.0.0.1:{port}", db=db, proc=proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            d.lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    yield d
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


class TestDemo:
    def test_the_agent_resumes_after_an_approval_and_ctrl_c_stops_cleanly(self, demo: Demo) -> None:
        """The banner gives a working login; an approval and a rejection through the API unblock the
        waiting agents; SIGINT ends everything with exit 0 and no traceback."""
        password = demo.expect(r"Log in\s+demo / (\S+)").group(1)
        token = demo.expect(r"reviewer demo:\s+(so_rev_\S+)").group(1)
        with signoff.Gate.remote(demo.url, token=token) as reviewer:
            while True:
                ticket_id = demo.expect(r"waiting for approval on ticket (tk_\w+) \(open http").group(1)
                if reviewer.get_ticket_sync(ticket_id).required_approvals == 1:
                    break
            reviewer.approve_sync(ticket_id, comment="looks fine")
            resumed = demo.expect(rf"{ticket_id} resumed: (.*)")
            ran = demo.expect(rf"{ticket_id} ran ")
            while True:
                other = demo.expect(r"waiting for approval on ticket (tk_\w+) \(open http").group(1)
                if reviewer.get_ticket_sync(other).required_approvals == 1:
                    break
            reviewer.reject_sync(other, feedback="not during the freeze")
            rejected = demo.expect(rf"{other} resumed: (.*)")
        demo.proc.send_signal(signal.SIGINT)
        code = demo.proc.wait(30)
        time.sleep(0.2)
        rest = []
        while not demo.lines.empty():
            rest.append(demo.lines.get())
        output = "\n".join(demo.seen + rest)
        with signoff.Gate.open(policy={"version": 1, "tiers": ["junior", "senior"]}, store=demo.db,
                               sweep=False) as local:
            account = local._engine.run_sync(local.store.get_reviewer("demo"))
        assert ("approved by demo", True, "rejected: not during the freeze", 0, False) == (
            resumed.group(1), ran is not None, rejected.group(1), code, "Traceback" in output), output
        assert account is not None and verify_password(account.password_hash, password)
        assert "signoff demo stopped." in output
