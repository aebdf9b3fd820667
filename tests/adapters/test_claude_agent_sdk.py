"""signoff.integrations.claude_agent_sdk called exactly as claude-agent-sdk's Query calls it (the SDK's
real ToolPermissionContext, PreToolUseHookInput and HookContext), on a local gate and a remote one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("claude_agent_sdk")

from claude_agent_sdk import (
    ClaudeAgentOptions,
    CLIConnectionError,
    HookContext,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    PreToolUseHookInput,
    ResultMessage,
    ToolPermissionContext,
    query,
)

import signoff
from signoff.integrations.claude_agent_sdk import can_use_tool, pre_tool_use_callback, pre_tool_use_hook
from tests.adapters._casdk_cli import ScriptedCLI

REFUND = {"order": "A-1", "amount": 150.0}
CTX: HookContext = {"signal": None}


def ctx(tool_use_id: str = "toolu_01") -> ToolPermissionContext:
    return ToolPermissionContext(signal=None, suggestions=[], tool_use_id=tool_use_id)


def hook_input(tool_name: str, tool_input: dict[str, Any], tool_use_id: str = "toolu_01") -> PreToolUseHookInput:
    return PreToolUseHookInput(session_id="sess-1", transcript_path="/tmp/t.jsonl", cwd="/tmp",
                               permission_mode="default", hook_event_name="PreToolUse", tool_name=tool_name,
                               tool_input=tool_input, tool_use_id=tool_use_id)


async def decide_when_queued(gate: Any, how: str, **kw: Any) -> str:
    """The reviewer: waits for the one pending ticket and decides it while the callback waits."""
    for _ in range(500):
        pending = await gate.list_tickets(status="pending")
        if pending:
            await getattr(gate, how)(pending[0].id, reviewer="alice", **kw)
            return str(pending[0].id)
        await asyncio.sleep(0.01)
    raise AssertionError("no ticket was queued")


class TestCanUseTool:
    async def test_auto_allows_without_a_ticket(self, gate: signoff.Gate) -> None:
        result = await can_use_tool(gate, agent="bot")("lookup_order", {"order": "A-1"}, ctx())
        assert (PermissionResultAllow(updated_input=None), []) == (result, await gate.list_tickets())

    async def test_notify_allows_and_records(self, gate: signoff.Gate) -> None:
        result = await can_use_tool(gate, agent="bot")("send_receipt", {"to": "bob"}, ctx())
        assert (True, ["notified"]) == (isinstance(result, PermissionResultAllow),
                                        [t.status for t in await gate.list_tickets()])

    async def test_deny_tells_claude_the_policy_reason(self, gate: signoff.Gate) -> None:
        result = await can_use_tool(gate, agent="bot", interrupt=True)("delete_customer_data", {"c": "bob"}, ctx())
        assert isinstance(result, PermissionResultDeny)
        assert ("no-data-deletion" in result.message, result.interrupt) == (True, True)

    async def test_approved_while_waiting_allows(self, gate: signoff.Gate) -> None:
        cb = can_use_tool(gate, agent="bot", wait=30)
        result, tid = await asyncio.gather(cb("issue_refund", REFUND, ctx()), decide_when_queued(gate, "approve"))
        ticket = await gate.get_ticket(tid)
        assert (PermissionResultAllow(updated_input=None), "bot", "executed") == \
            (result, ticket.action.agent, ticket.execution)

    async def test_edited_approval_allows_with_the_reviewers_input(self, gate: signoff.Gate) -> None:
        cb = can_use_tool(gate, agent="bot", wait=30)
        edited = {"order": "A-1", "amount": 100.0}
        result, _ = await asyncio.gather(cb("issue_refund", REFUND, ctx()),
                                         decide_when_queued(gate, "approve", args=edited))
        assert PermissionResultAllow(updated_input=edited) == result

    async def test_rejection_denies_with_the_feedback(self, gate: signoff.Gate) -> None:
        cb = can_use_tool(gate, agent="bot", wait=30, interrupt=True)
        result, _ = await asyncio.gather(cb("close_account", {"customer": "bob"}, ctx()),
                                         decide_when_queued(gate, "reject", feedback="offer a voucher"))
        assert PermissionResultDeny(
            message="The call to close_account was rejected by alice and did not run: offer a voucher",
            interrupt=True) == result

    async def test_pending_denies_then_the_retry_finds_its_ticket(self, gate: signoff.Gate) -> None:
        """Nobody decides within the bound: deny, "try again later", no interrupt. The retry (a new
        tool use, same input) gets the same ticket, and after the approval the call is allowed once."""
        cb = can_use_tool(gate, agent="bot", wait=0, interrupt=True)
        first = await cb("close_account", {"customer": "bob"}, ctx("toolu_01"))
        again = await cb("close_account", {"customer": "bob"}, ctx("toolu_02"))
        [ticket] = await gate.list_tickets()
        assert isinstance(first, PermissionResultDeny) and isinstance(again, PermissionResultDeny)
        assert (first.message.startswith(f"waiting for approval: ticket {ticket.id}, try again later"),
                first.interrupt, again.message) == (True, False, first.message)
        await gate.approve(ticket.id, reviewer="alice")
        assert PermissionResultAllow() == await cb("close_account", {"customer": "bob"}, ctx("toolu_03"))
        assert 1 == len(await gate.list_tickets())

    async def test_another_callback_is_another_session(self, gate: signoff.Gate) -> None:
        await can_use_tool(gate, agent="bot", wait=0)("close_account", {"customer": "bob"}, ctx())
        await can_use_tool(gate, agent="bot", wait=0)("close_account", {"customer": "bob"}, ctx())
        assert 2 == len(await gate.list_tickets())

    async def test_a_shared_session_finds_the_ticket_from_another_callback(self, gate: signoff.Gate) -> None:
        """session= lets a new process (a new callback) pick up the decision on the same call."""
        await can_use_tool(gate, agent="bot", wait=0, session="s-1")("close_account", {"customer": "bob"}, ctx())
        [ticket] = await gate.list_tickets()
        await gate.approve(ticket.id, reviewer="alice")
        result = await can_use_tool(gate, agent="bot", wait=0, session="s-1")("close_account", {"customer": "bob"},
                                                                              ctx("toolu_09"))
        assert (PermissionResultAllow(), 1) == (result, len(await gate.list_tickets()))

    async def test_unreachable_gate_denies(self, gate: signoff.Gate) -> None:
        class Broken(type(gate)):  # type: ignore[misc]
            def __init__(self) -> None:
                self.__dict__.update(gate.__dict__)

            async def evaluate_async(self, *a: Any, **kw: Any) -> Any:
                raise ConnectionError("gate down")

        result = await can_use_tool(Broken(), agent="bot")("lookup_order", {"order": "A-1"}, ctx())
        assert isinstance(result, PermissionResultDeny)
        assert "gate down" in result.message


class TestPreToolUseHook:
    def test_matcher_for_claude_agent_options(self, gate: signoff.Gate) -> None:
        m = pre_tool_use_hook(gate, agent="bot", wait=20, matcher="Bash|Write")
        assert (isinstance(m, HookMatcher), m.matcher, m.timeout, len(m.hooks)) == (True, "Bash|Write", 30.0, 1)

    async def test_auto_allows(self, gate: signoff.Gate) -> None:
        out = await pre_tool_use_callback(gate, agent="bot")(hook_input("lookup_order", {"order": "A-1"}),
                                                             "toolu_01", CTX)
        assert {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}} == out

    async def test_deny(self, gate: signoff.Gate) -> None:
        out = await pre_tool_use_callback(gate, agent="bot")(hook_input("delete_customer_data", {"c": "b"}),
                                                             "toolu_01", CTX)
        hso = out["hookSpecificOutput"]
        assert ("PreToolUse", "deny", True) == (hso["hookEventName"], hso["permissionDecision"],
                                                "no-data-deletion" in hso["permissionDecisionReason"])

    async def test_edited_approval_is_the_sdk_output_shape(self, gate: signoff.Gate) -> None:
        edited = {"order": "A-1", "amount": 100.0}
        hook = pre_tool_use_hook(gate, agent="bot", wait=30).hooks[0]
        out, _ = await asyncio.gather(hook(hook_input("issue_refund", REFUND), "toolu_01", CTX),
                                      decide_when_queued(gate, "approve", args=edited))
        hso = out["hookSpecificOutput"]
        assert {"hookEventName", "permissionDecision", "permissionDecisionReason", "updatedInput",
                "additionalContext"} == set(hso)
        assert ("PreToolUse", "allow", edited) == (hso["hookEventName"], hso["permissionDecision"],
                                                   hso["updatedInput"])
        assert hso["additionalContext"].startswith("Note: a reviewer edited the arguments")

    async def test_pending_then_retry(self, gate: signoff.Gate) -> None:
        hook = pre_tool_use_callback(gate, agent="bot", wait=0)
        first = await hook(hook_input("close_account", {"customer": "bob"}, "toolu_01"), "toolu_01", CTX)
        [ticket] = await gate.list_tickets()
        await gate.reject(ticket.id, reviewer="alice", feedback="no")
        again = await hook(hook_input("close_account", {"customer": "bob"}, "toolu_02"), "toolu_02", CTX)
        assert ("deny", "deny") == (first["hookSpecificOutput"]["permissionDecision"],
                                    again["hookSpecificOutput"]["permissionDecision"])
        assert again["hookSpecificOutput"]["permissionDecisionReason"].endswith("did not run: no")
        assert 1 == len(await gate.list_tickets())

    async def test_malformed_permission_request_denies_in_its_own_shape(self, gate: signoff.Gate) -> None:
        bad: Any = {"hook_event_name": "PermissionRequest", "tool_name": "Bash", "tool_input": "rm -rf /",
                    "session_id": "s"}
        out = await pre_tool_use_callback(gate, agent="bot")(bad, None, CTX)
        assert ("PermissionRequest", "deny") == (out["hookSpecificOutput"]["hookEventName"],
                                                 out["hookSpecificOutput"]["decision"]["behavior"])

    async def test_malformed_input_denies_and_other_events_pass(self, gate: signoff.Gate) -> None:
        hook = pre_tool_use_callback(gate, agent="bot")
        bad: Any = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {}}  # no session_id
        out = await hook(bad, None, CTX)
        post: Any = {"hook_event_name": "PostToolUse", "tool_name": "Bash"}
        assert ("deny", {}) == (out["hookSpecificOutput"]["permissionDecision"], await hook(post, None, CTX))


class TestThroughTheSDKQueryLoop:
    """The SDK's own ``query()`` loop, its control protocol served by a scripted CLI (no model)."""

    async def run(self, options: Any, calls: list[tuple[str, dict[str, Any]]],
                  cli: ScriptedCLI | None = None) -> tuple[list[Any], list[Any]]:
        cli = cli or ScriptedCLI(calls)
        messages = [m async for m in query(prompt="help", options=options, transport=cli)]
        return messages, cli.answers

    async def test_can_use_tool_answers_the_cli(self, gate: signoff.Gate) -> None:
        options = ClaudeAgentOptions(can_use_tool=can_use_tool(gate, agent="bot", wait=0))
        messages, answers = await self.run(options, [("lookup_order", {"order": "A-1"}),
                                                     ("delete_customer_data", {"c": "bob"}),
                                                     ("close_account", {"customer": "bob"})])
        [ticket] = await gate.list_tickets()
        assert isinstance(messages[-1], ResultMessage)
        assert [("success", "allow"), ("success", "deny"), ("success", "deny")] == \
            [(a["subtype"], a["response"]["behavior"]) for a in answers]
        assert answers[0]["response"]["updatedInput"] == {"order": "A-1"}
        assert "no-data-deletion" in answers[1]["response"]["message"]
        assert answers[2]["response"]["message"].startswith(f"waiting for approval: ticket {ticket.id}")

    async def test_pre_tool_use_hook_answers_the_cli(self, gate: signoff.Gate) -> None:
        options = ClaudeAgentOptions(hooks={"PreToolUse": [pre_tool_use_hook(gate, agent="bot", wait=0)]})
        _, answers = await self.run(options, [("lookup_order", {"order": "A-1"}),
                                              ("close_account", {"customer": "bob"})])
        decisions = [a["response"]["hookSpecificOutput"]["permissionDecision"] for a in answers]
        assert ["allow", "deny"] == decisions

    async def test_hook_blocks_on_failure_or_does_not_connect(self, gate: signoff.Gate) -> None:
        """The CLI is told to block a call whose hook fails or times out; a CLI that cannot is refused."""
        options = ClaudeAgentOptions(hooks={"PreToolUse": [pre_tool_use_hook(gate, agent="bot", wait=5)]})
        cli = ScriptedCLI([])
        await self.run(options, [], cli)
        [registered] = cli.hooks["PreToolUse"]
        assert ("block", 15.0) == (registered["onFailure"], registered["timeout"])
        with pytest.raises(CLIConnectionError, match="on_failure"):
            await self.run(options, [], ScriptedCLI([], honours_on_failure=False))
