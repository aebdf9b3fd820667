"""The adapters and the MCP proxy on a ``RemoteGate``: the agent in one process, ``signoff serve`` in
another, the reviewer deciding through the API. The same flows as the local tests, over HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")
pytest.importorskip("mcp.server.mcpserver")

from mcp import ClientSession, StdioServerParameters, stdio_client
from pydantic_ai.tools import ToolApproved

import signoff
from tests.adapters import _pa_app as app
from tests.adapters.conftest import POLICY
from tests.server.conftest import Server, start_server, stop_process

ROOT = Path(__file__).resolve().parents[2]
SIGNOFF = str(Path(sys.executable).with_name("signoff"))
REFUND = ("issue_refund", {"order": "A-1", "amount": 150.0})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policy = {**POLICY, "tiers": ["junior", "senior"]}  # the server fixture's reviewers have tiers
    srv = start_server(tmp_path_factory.mktemp("remote-adapters"), json.dumps(policy))
    yield srv
    stop_process(srv.proc)
    srv.gate.close()


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


class TestToolGateTakesAnyGateLike:
    def test_a_remote_gate_is_accepted_and_anything_else_refused(self, served: Server) -> None:
        """ToolGate takes a RemoteGate (a GateLike) and refuses an object that is not one, by name."""
        from signoff.integrations._common import ToolGate

        remote = signoff.Gate.remote(served.url, token=served.agent()[1])
        try:
            assert remote is ToolGate(remote).gate
            with pytest.raises(signoff.UserError, match="GateLike"):
                ToolGate(object())  # type: ignore[arg-type]
        finally:
            remote.close()


class TestPydanticAiRemote:
    async def test_a_deferred_call_is_reviewed_over_http_and_runs_once_with_the_edit(self, served: Server) -> None:
        """The toolset submits through the server; a reviewer's edit (through the API) comes back as
        ToolApproved(override_args) and the tool runs once with it, recorded as executed."""
        name, token = served.agent("pa")
        async with signoff.Gate.remote(served.url, token=token) as agent_gate, \
                signoff.Gate.remote(served.url, token=served.token("reviewer", "alice")) as reviewer:
            agent, tools = app.build(agent_gate, [app.turn(REFUND)], name=name)
            [ticket] = await tools.submit(await agent.run("help"))
            await reviewer.approve(ticket.id, args={"order": "A-1", "amount": 90.0})
            history, results = await tools.resume(ticket.id)
            assert {"call_1": ToolApproved(override_args={"order": "A-1", "amount": 90.0})} == results.approvals
            await agent.run(message_history=history, deferred_tool_results=results)
            done = await reviewer.get_ticket(ticket.id)
        assert ([("issue_refund", {"order": "A-1", "amount": 90.0})], "executed", name) == \
            (app.RAN, done.execution, done.action.agent)


class TestFindTicketRemote:
    async def test_keys_belong_to_the_tokens_agent(self, served: Server) -> None:
        """find_ticket over HTTP finds the agent's own key, and another agent's key looks unused."""
        a_name, a_token = served.agent("keys-a")
        _, b_token = served.agent("keys-b")
        async with signoff.Gate.remote(served.url, token=a_token) as a, \
                signoff.Gate.remote(served.url, token=b_token) as b:
            t = await a.submit(signoff.Action(name="close_account", args={"customer": "x"}),
                               idempotency_key="run-1/step-1")
            mine = await a.find_ticket(idempotency_key="run-1/step-1")
            theirs = await b.find_ticket(idempotency_key="run-1/step-1")
            unused = await a.find_ticket(idempotency_key="run-1/step-2")
        assert (t.id, a_name, None, None) == (mine.id if mine else None, t.action.agent, theirs, unused)

    def test_the_sync_twin_finds_the_same(self, served: Server) -> None:
        """find_ticket_sync, from plain threads' code, answers as the async method does."""
        _, token = served.agent("keys-sync")
        with signoff.Gate.remote(served.url, token=token) as g:
            t = g.submit_sync(signoff.Action(name="close_account", args={"customer": "y"}), idempotency_key="k")
            found = g.find_ticket_sync(idempotency_key="k")
            assert (t.id, None) == (found.id if found else None, g.find_ticket_sync(idempotency_key="other"))


def ran(log: Path) -> list[Any]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@asynccontextmanager
async def remote_proxy(served: Server, token: str, log: Path, *extra: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=SIGNOFF, args=[
        "mcp-proxy", "--server", served.url, "--token", token, *extra,
        "--", sys.executable, "-m", "tests.adapters._mcp_upstream", str(log)], cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


class TestMcpProxyRemote:
    async def test_the_proxy_gates_through_a_server(self, served: Server, tmp_path: Path) -> None:
        """`mcp-proxy --server URL --token T`: the call waits as a ticket of the token's agent on the
        server, a reviewer approves it through the API, and the retried call runs upstream once."""
        name, token = served.agent("mcp")
        log = tmp_path / "upstream.jsonl"
        async with remote_proxy(served, token, log, "--wait", "0.2") as session, \
                signoff.Gate.remote(served.url, token=served.token("reviewer", "alice")) as reviewer:
            first = await session.call_tool("close_account", {"customer": "bob"})
            while not (pending := await reviewer.list_tickets(status="pending", agent=name)):
                await asyncio.sleep(0.02)
            await reviewer.approve(pending[0].id)
            second = await session.call_tool("close_account", {"customer": "bob"})
            done = await reviewer.get_ticket(pending[0].id)
        assert (True, False) == (first.is_error, second.is_error)
        assert ([["close_account", {"customer": "bob"}]], "executed") == (ran(log), done.execution)

    def test_server_needs_a_token_and_no_local_store(self, served: Server) -> None:
        """--server without a token, or with --db, is a clear usage error (exit 2) naming what to give."""
        import subprocess

        base = [SIGNOFF, "mcp-proxy", "--server", served.url]
        no_token = subprocess.run([*base, "--", "python", "x.py"], capture_output=True, text=True, timeout=60,
                                  env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
        with_db = subprocess.run([*base, "--token", "t", "--db", "sqlite:///x.db", "--", "python", "x.py"],
                                 capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (2, 2) == (no_token.returncode, with_db.returncode)
        assert "--token" in no_token.stderr and "--db" in with_db.stderr


class TestRequireReviewRemote:
    async def test_require_review_turns_notify_into_an_approval_over_http(self, served: Server) -> None:
        """submit_many(require_review=[...]) through the server: the flagged notify action waits for a
        person, the unflagged one is a feed record, as on a local gate."""
        _, token = served.agent("review")
        receipt = signoff.Action(name="send_receipt", args={"to": "bob"})
        async with signoff.Gate.remote(served.url, token=token) as g:
            asked, fed = await g.submit_many([receipt, receipt], require_review=[True, False])
        assert [("approval", "pending"), ("notification", "notified")] == \
            [(asked.kind, asked.status), (fed.kind, fed.status)]
