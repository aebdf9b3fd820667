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
from tests.adapters.conftest import POLICY

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
        upstream = ["--", sys.executable, "-m", "tests.adapters._mcp_upstream", str(log)]
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
        """The proxy re-exports the upstream's tools: same names, same input schemas, plus the optional
        ``_reasoning`` argument (never required)."""
        direct = StdioServerParameters(command=sys.executable, args=["-m", "tests.adapters._mcp_upstream",
                                                                     str(log)], cwd=str(ROOT))
        async with stdio_client(direct) as (r, w), ClientSession(r, w) as upstream:
            await upstream.initialize()
            expected = [(t.name, t.input_schema) for t in (await upstream.list_tools()).tools]
        async with proxy(policy_file, db, log) as session:
            actual = [(t.name, t.input_schema) for t in (await session.list_tools()).tools]
        for _, schema in actual:
            assert "string" == schema["properties"].pop("_reasoning")["type"]
            assert "_reasoning" not in schema.get("required", [])
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
        server = subprocess.Popen([sys.executable, "-m", "tests.adapters._mcp_upstream", str(log), "--http",
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


def ticket_id(result: Any) -> str:
    found = re.search(r"ticket (tk_\w+)", text(result))
    assert found is not None, text(result)
    return found.group(1)


class TestMcpProxyRetries:
    """Clients give up after 60 s and retry, often from a new proxy process (a restarted client, a CLI)."""

    def test_default_wait_is_under_the_clients_timeout(self) -> None:
        """The common clients time out a request at 60 s and progress does not extend it: the default
        wait answers 'pending' before that."""
        out = subprocess.run([SIGNOFF, "mcp-proxy", "--help"], capture_output=True, text=True, timeout=60)
        found = re.search(r"--wait FLOAT.*?\[default:\s*([\d.]+)[;\]]", out.stdout, re.S)
        assert found is not None, out.stdout
        assert float(found.group(1)) < 60

    async def test_a_new_proxy_process_finds_the_ticket(self, policy_file: Path, db: str, log: Path,
                                                        reviewer: signoff.Gate) -> None:
        """The identical call from a new proxy process: pending, it names the same ticket; approved, it runs
        once; asked again after that, it is a new request with a new ticket."""
        call = ("close_account", {"customer": "bob"})
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            first = await session.call_tool(*call)
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            retried = await session.call_tool(*call)
        assert ticket_id(first) == ticket_id(retried)
        assert text(retried).startswith("Pending approval: ticket")
        await reviewer.approve(ticket_id(first), reviewer="alice")
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            ran_once = await session.call_tool(*call)
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            new = await session.call_tool(*call)
        assert (False, "closed bob") == (ran_once.is_error, text(ran_once))
        assert [["close_account", {"customer": "bob"}]] == ran(log)
        assert ticket_id(new) != ticket_id(first)
        assert 2 == len(await reviewer.list_tickets(action="close_account"))
        assert "executed" == (await reviewer.get_ticket(ticket_id(first))).execution

    async def test_a_rejection_reaches_the_retry_from_a_new_process(self, policy_file: Path, db: str, log: Path,
                                                                    reviewer: signoff.Gate) -> None:
        """A refusal made while no call waited is the answer to the retry, not a second ticket."""
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            first = await session.call_tool("close_account", {"customer": "bob"})
        await reviewer.reject(ticket_id(first), reviewer="alice", feedback="offer a voucher")
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            retried = await session.call_tool("close_account", {"customer": "bob"})
            again = await session.call_tool("close_account", {"customer": "bob"})
        assert "The call to close_account was rejected by alice and did not run: offer a voucher" == text(retried)
        assert text(again).startswith("Pending approval") and ticket_id(again) != ticket_id(first)
        assert [] == ran(log)

    async def test_a_client_that_left_is_not_run_behind_its_back(self, policy_file: Path, db: str, log: Path,
                                                                 reviewer: signoff.Gate) -> None:
        """The client goes away while its call waits; the approval comes later. Nothing runs then: the
        retry (a new proxy process) runs the call, exactly once."""
        async with proxy(policy_file, db, log, "--wait", "30") as session:
            waiting = asyncio.create_task(session.call_tool("close_account", {"customer": "bob"}))
            ticket = await first_pending(reviewer, "close_account")
            waiting.cancel()
        await reviewer.approve(ticket.id, reviewer="alice")
        assert "none" == (await reviewer.get_ticket(ticket.id)).execution
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            retried = await session.call_tool("close_account", {"customer": "bob"})
        assert (False, "closed bob") == (retried.is_error, text(retried))
        assert [["close_account", {"customer": "bob"}]] == ran(log)
        assert [ticket.id] == [t.id for t in await reviewer.list_tickets(action="close_account")]

    async def test_a_cancelled_call_stops_waiting_and_the_retry_runs_it_once(
            self, policy_file: Path, db: str, log: Path, reviewer: signoff.Gate) -> None:
        """notifications/cancelled (the client's own timeout) ends the wait; a later approval does not run
        the cancelled call, and the identical retry runs it once."""
        async with proxy(policy_file, db, log, "--wait", "30") as session:
            with pytest.raises(Exception, match=r"(?i)timed out|timeout"):
                await session.call_tool("close_account", {"customer": "bob"}, read_timeout_seconds=1.0)
            await session.send_ping()  # the proxy has read the cancellation (messages are handled in order)
            [ticket] = await reviewer.list_tickets(status="pending", action="close_account")
            await reviewer.approve(ticket.id, reviewer="alice")
            retried = await session.call_tool("close_account", {"customer": "bob"})
        assert (False, "closed bob") == (retried.is_error, text(retried))
        assert [["close_account", {"customer": "bob"}]] == ran(log)


class TestMcpProxyResults:
    async def test_an_error_result_is_recorded_as_failed(self, policy_file: Path, db: str, log: Path,
                                                         reviewer: signoff.Gate) -> None:
        """An approved call whose upstream result has isError: the client gets that result, and the
        ticket's execution is 'failed', not 'executed'."""
        async with proxy(policy_file, db, log, "--wait", "0.2") as session:
            first = await session.call_tool("close_account", {"customer": "ghost"})
            await reviewer.approve(ticket_id(first), reviewer="alice")
            result = await session.call_tool("close_account", {"customer": "ghost"})
        assert (True, True) == (result.is_error, "no account for ghost" in text(result))
        assert "failed" == (await reviewer.get_ticket(ticket_id(first))).execution


class TestMcpProxyReasoning:
    """A policy with require_reasoning: MCP calls carry none unless the model fills ``_reasoning``."""

    @pytest.fixture
    def reasoning_policy(self, tmp_path: Path) -> Path:
        path = tmp_path / "reasoning.yaml"
        path.write_text(yaml.safe_dump({**POLICY, "defaults": {"level": "auto", "require_reasoning": True}}))
        return path

    async def test_the_models_reasoning_is_used_and_stripped(self, reasoning_policy: Path, db: str, log: Path,
                                                             reviewer: signoff.Gate) -> None:
        """``_reasoning`` becomes the ticket's reasoning and reaches neither the policy's args nor the tool."""
        async with proxy(reasoning_policy, db, log, "--wait", "0.2") as session:
            first = await session.call_tool("close_account", {"customer": "bob", "_reasoning": "asked by bob"})
            await reviewer.approve(ticket_id(first), reviewer="alice")
            done = await session.call_tool("close_account", {"customer": "bob", "_reasoning": "reworded"})
            auto = await session.call_tool("lookup_order", {"order": "A-1", "_reasoning": "just looking"})
        t = await reviewer.get_ticket(ticket_id(first))
        assert ("asked by bob", {"customer": "bob"}) == (t.action.reasoning, dict(t.action.args))
        assert ("closed bob", "order A-1 is late") == (text(done), text(auto))
        assert [["close_account", {"customer": "bob"}], ["lookup_order", {"order": "A-1"}]] == ran(log)

    async def test_without_reasoning_the_proxy_writes_one_marked_as_its_own(
            self, reasoning_policy: Path, db: str, log: Path, reviewer: signoff.Gate) -> None:
        """No ``_reasoning``: the ticket is queued with a reasoning that says it came from the proxy."""
        async with proxy(reasoning_policy, db, log, "--wait", "0.2") as session:
            first = await session.call_tool("close_account", {"customer": "bob"})
        t = await reviewer.get_ticket(ticket_id(first))
        assert t.action.reasoning.startswith("[written by signoff mcp-proxy, not by the model")
        assert "signoff-mcp-proxy" == t.action.context["reasoning_source"]

    async def test_no_proxy_reasoning_refuses_with_what_to_do(self, reasoning_policy: Path, db: str, log: Path,
                                                              reviewer: signoff.Gate) -> None:
        """--no-proxy-reasoning: the call is refused with how to fix it; nothing is queued."""
        async with proxy(reasoning_policy, db, log, "--wait", "0.2", "--no-proxy-reasoning") as session:
            result = await session.call_tool("close_account", {"customer": "bob"})
        assert (True, True) == (result.is_error, "with a _reasoning argument" in text(result))
        assert [] == await reviewer.list_tickets(action="close_account")

    async def test_the_example_policy_works_through_the_proxy(self, db: str, log: Path) -> None:
        """src/signoff/examples/cloud_infra.yaml (require_reasoning: true): an approve-level call is queued."""
        example = ROOT / "src" / "signoff" / "examples" / "cloud_infra.yaml"
        async with proxy(example, db, log, "--wait", "0.2") as session:
            result = await session.call_tool("issue_refund", {"order": "A-1", "amount": 250.0})
        assert text(result).startswith("Pending approval: ticket"), text(result)


class TestMcpProxyTransparency:
    """Everything the proxy does not gate reaches the upstream and comes back unchanged."""

    async def test_identity_instructions_and_capabilities_are_the_upstreams(self, policy_file: Path, db: str,
                                                                            log: Path) -> None:
        direct = StdioServerParameters(command=sys.executable, args=["-m", "tests.adapters._mcp_upstream",
                                                                     str(log)], cwd=str(ROOT))
        async with stdio_client(direct) as (r, w), ClientSession(r, w) as upstream:
            expected = await upstream.initialize()
        async with proxy(policy_file, db, log) as session:
            actual = session.initialize_result
        assert actual is not None
        assert (expected.server_info, expected.instructions, expected.capabilities) == (
            actual.server_info, actual.instructions, actual.capabilities)
        assert actual.capabilities.tools is not None and actual.capabilities.tools.list_changed

    async def test_prompts_resources_completion_and_logging_are_relayed(self, policy_file: Path, db: str,
                                                                         log: Path) -> None:
        import mcp.types as types

        updated: list[str] = []

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ResourceUpdatedNotification):
                updated.append(str(message.params.uri))

        params = StdioServerParameters(command=SIGNOFF, args=[
            "mcp-proxy", "--policy", str(policy_file), "--db", db, "--", sys.executable, "-m",
            "tests.adapters._mcp_upstream", str(log)], cwd=str(ROOT))
        async with stdio_client(params) as (r, w), ClientSession(r, w, message_handler=on_message) as session:
            await session.initialize()
            prompts = [p.name for p in (await session.list_prompts()).prompts]
            prompt = await session.get_prompt("apology", {"customer": "bob"})
            resources = [str(x.uri) for x in (await session.list_resources()).resources]
            templates = [x.uri_template for x in (await session.list_resource_templates()).resource_templates]
            page = await session.read_resource("shop://orders/7")
            done = await session.complete(types.PromptReference(name="apology"), {"name": "customer", "value": "b"})
            await session.set_logging_level("debug")
            await session.subscribe_resource("shop://policy")
            await session.send_ping()
        assert (["apology"], "Dear bob, we are sorry.") == (prompts, prompt.messages[0].content.text)  # type: ignore[union-attr]
        assert (["shop://policy"], ["shop://orders/{order}"]) == (resources, templates)
        assert "order 7: shipped" == page.contents[0].text  # type: ignore[union-attr]
        assert ["bob"] == done.completion.values
        assert [["logging/setLevel", {"level": "debug"}], ["resources/subscribe", {"uri": "shop://policy"}]] == ran(log)
        assert ["shop://policy"] == updated

    async def test_roots_and_notifications_are_relayed(self, policy_file: Path, db: str, log: Path) -> None:
        """The upstream's roots/list reaches the client; its list_changed and log notifications come back."""
        import mcp.types as types

        seen: list[str] = []

        async def roots(ctx: Any) -> types.ListRootsResult:
            return types.ListRootsResult(roots=[types.Root(uri="file:///srv/shop")])

        async def on_message(message: Any) -> None:
            if not isinstance(message, Exception):
                seen.append(message.method)

        params = StdioServerParameters(command=SIGNOFF, args=[
            "mcp-proxy", "--policy", str(policy_file), "--db", db, "--", sys.executable, "-m",
            "tests.adapters._mcp_upstream", str(log)], cwd=str(ROOT))
        async with stdio_client(params) as (r, w), ClientSession(r, w, list_roots_callback=roots,
                                                                  message_handler=on_message) as session:
            await session.initialize()
            shown = await session.call_tool("show_roots", {})
            await session.call_tool("restock", {})
            await session.send_ping()
        assert "file:///srv/shop" == text(shown)
        assert ["notifications/tools/list_changed", "notifications/message"] == seen
