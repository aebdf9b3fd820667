"""`signoff mcp-proxy` as a subprocess, in front of a real upstream MCP server, driven by a real ClientSession.

Reviewers decide through a second Gate on the same SQLite file, as they would from the inbox.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("mcp.server.mcpserver")

from mcp import ClientSession, StdioServerParameters, stdio_client

import signoff
from tests.integrations.conftest import POLICY

ROOT = Path(__file__).resolve().parents[2]
SIGNOFF = str(Path(sys.executable).with_name("signoff"))


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY))
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "upstream.jsonl"


def ran(log: Path) -> list[Any]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def text(result: Any) -> str:
    return " | ".join(getattr(c, "text", "") for c in result.content)


@asynccontextmanager
async def proxy(policy: Path, db: str, log: Path, *extra: str, upstream: list[str] | None = None
                ) -> AsyncIterator[ClientSession]:
    if upstream is None:
        upstream = ["--", sys.executable, "-m", "tests.integrations._mcp_upstream", str(log)]
    params = StdioServerParameters(command=SIGNOFF, args=["mcp-proxy", "--policy", str(policy), "--db", db,
                                                         "--agent", "shop-bot", *extra, *upstream], cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.fixture
async def reviewer(policy_file: Path, db: str) -> AsyncIterator[signoff.Gate]:
    gate = signoff.Gate.open(policy=str(policy_file), store=db)
    gate.add_reviewer("alice")
    try:
        yield gate
    finally:
        await gate.aclose()


async def first_pending(gate: signoff.Gate, action: str) -> signoff.Ticket:
    while not (pending := await gate.list_tickets(status="pending", action=action)):
        await asyncio.sleep(0.02)
    return pending[0]


class TestMcpProxy:
    async def test_lists_the_upstream_tools_with_their_schemas(self, policy_file: Path, db: str, log: Path) -> None:
        """The proxy re-exports the upstream's tools: same names, same input schemas."""
        direct = StdioServerParameters(command=sys.executable, args=["-m", "tests.integrations._mcp_upstream",
                                                                     str(log)], cwd=str(ROOT))
        async with stdio_client(direct) as (r, w), ClientSession(r, w) as upstream:
            await upstream.initialize()
            expected = [(t.name, t.input_schema) for t in (await upstream.list_tools()).tools]
        async with proxy(policy_file, db, log) as session:
            actual = [(t.name, t.input_schema) for t in (await session.list_tools()).tools]
        assert expected == actual

    async def test_auto_passes_and_deny_is_an_error(self, policy_file: Path, db: str, log: Path,
                                                   reviewer: signoff.Gate) -> None:
        """An auto call runs upstream as is; a denied one returns isError with the reasons and never runs."""
        async with proxy(policy_file, db, log) as session:
            auto = await session.call_tool("lookup_order", {"order": "A-1"})
            denied = await session.call_tool("delete_customer_data", {"customer": "bob"})
        assert (False, "order A-1 is late") == (auto.is_error, text(auto))
        assert (True, True) == (denied.is_error, "no-data-deletion" in text(denied))
        assert [["lookup_order", {"order": "A-1"}]] == ran(log)
        assert [] == await reviewer.list_tickets(kind="approval")

    async def test_approval_waits_with_progress(self, policy_file: Path, db: str, log: Path,
                                               reviewer: signoff.Gate) -> None:
        """A call that needs approval waits, sends progress notifications, and runs once approved."""
        progress: list[str] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        async def approve() -> signoff.Ticket:
            ticket = await first_pending(reviewer, "close_account")
            while not progress:  # decide only once the proxy is known to be waiting
                await asyncio.sleep(0.02)
            return await reviewer.approve(ticket.id, reviewer="alice")

        async with proxy(policy_file, db, log, "--wait", "60", "--progress-interval", "0.1") as session:
            approving = asyncio.create_task(approve())
            result = await session.call_tool("close_account", {"customer": "bob"}, progress_callback=on_progress)
            ticket = await approving
        assert (False, "closed bob") == (result.is_error, text(result))
        assert f"ticket {ticket.id}" in progress[0]
        assert ("shop-bot", [["close_account", {"customer": "bob"}]]) == (ticket.action.agent, ran(log))

    async def test_pending_then_same_ticket_then_feedback(self, policy_file: Path, db: str, log: Path,
                                                         reviewer: signoff.Gate) -> None:
        """Past the wait the answer is 'pending: ticket X'; the same call maps to the same ticket;
        after a rejection the same call returns the reviewer's feedback."""
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            first = await session.call_tool("close_account", {"customer": "bob"})
            second = await session.call_tool("close_account", {"customer": "bob"})
            [ticket] = await reviewer.list_tickets(action="close_account")
            await reviewer.reject(ticket.id, reviewer="alice", feedback="offer a voucher")
            third = await session.call_tool("close_account", {"customer": "bob"})
        ids = [re.search(r"ticket (tk_\w+)", text(r)).group(1) for r in (first, second)]  # type: ignore[union-attr]
        assert [ticket.id, ticket.id] == ids
        assert (True, True) == (first.is_error, text(first).startswith("Pending approval: ticket"))
        assert "The call to close_account was rejected by alice and did not run: offer a voucher" == text(third)
        assert [] == ran(log)

    async def test_edited_call_runs_once_with_the_note(self, policy_file: Path, db: str, log: Path,
                                                      reviewer: signoff.Gate) -> None:
        """An edited approval runs upstream with the reviewer's arguments, says so, and the original
        call asked again opens a new ticket instead of running."""
        args = {"order": "A-1", "amount": 150.0}
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            await session.call_tool("issue_refund", args)
            ticket = await first_pending(reviewer, "issue_refund")
            await reviewer.approve(ticket.id, reviewer="alice", args={"order": "A-1", "amount": 60.0})
            edited = await session.call_tool("issue_refund", args)
            again = await session.call_tool("issue_refund", args)
        assert text(edited).startswith('Note: a reviewer edited the arguments to {"amount": 60.0, "order": "A-1"}.')
        assert [["issue_refund", {"order": "A-1", "amount": 60.0}]] == ran(log)
        assert ticket.id not in text(again) and text(again).startswith("Pending approval")

    async def test_streamable_http_upstream(self, policy_file: Path, db: str, log: Path) -> None:
        """--upstream-url fronts a streamable HTTP server on 127.0.0.1 the same way."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "tests.integrations._mcp_upstream", str(log), "--http",
                                   str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    await asyncio.sleep(0.1)
            async with proxy(policy_file, db, log, upstream=["--upstream-url", f"http://127.0.0.1:{port}/mcp"]
                             ) as session:
                names = [t.name for t in (await session.list_tools()).tools]
                result = await session.call_tool("lookup_order", {"order": "B-2"})
        finally:
            server.terminate()
            server.wait(timeout=10)
        assert "lookup_order" in names
        assert ("order B-2 is late", [["lookup_order", {"order": "B-2"}]]) == (text(result), ran(log))


class TestMcpProxyCommand:
    def test_needs_exactly_one_upstream(self, policy_file: Path, db: str) -> None:
        """Without an upstream, or with both kinds, the command exits 2 and says what to give."""
        base = [SIGNOFF, "mcp-proxy", "--policy", str(policy_file), "--db", db]
        none = subprocess.run(base, capture_output=True, text=True, timeout=60)
        both = subprocess.run([*base, "--upstream-url", "http://127.0.0.1:1/mcp", "--", "python", "x.py"],
                              capture_output=True, text=True, timeout=60)
        assert (2, 2) == (none.returncode, both.returncode)
        assert "either as a command after -- or as --upstream-url" in none.stderr

    def test_bad_policy_is_reported(self, tmp_path: Path, db: str) -> None:
        """A policy that does not load stops the proxy with the policy error, exit code 2."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 1\nrules: [{name: x}]\n")
        out = subprocess.run([SIGNOFF, "mcp-proxy", "--policy", str(bad), "--db", db, "--", "python", "x.py"],
                             capture_output=True, text=True, timeout=60)
        assert (2, True) == (out.returncode, "bad.yaml" in out.stderr)
