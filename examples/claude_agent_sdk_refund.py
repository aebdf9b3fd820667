"""A Claude Agent SDK agent whose tool permissions signoff decides: can_use_tool and the PreToolUse hook.

Offline: no model, no CLI. The SDK's CLI calls ``can_use_tool(tool_name, input, ToolPermissionContext)``
and the hook ``(input, tool_use_id, context)`` before each tool call; here we call them the same way,
with the SDK's real types, while a reviewer decides in another task.
Run: python examples/claude_agent_sdk_refund.py

1. lookup_order is auto: allowed. delete_customer_data is denied by policy: Claude reads why.
2. issue_refund 150 needs a person: the callback waits, a reviewer edits it to 100, and the call
   is allowed with the reviewer's input (``updated_input``).
3. close_account: nobody decides within ``wait``: denied, "try again later". The reviewer rejects
   it; Claude's retry (same input, new tool use) finds the ticket and reads the feedback.
4. The same call through the PreToolUse hook: the answer the SDK sends to the CLI.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/claude_agent_sdk_refund.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from claude_agent_sdk import ClaudeAgentOptions, PreToolUseHookInput, ToolPermissionContext

import signoff
from signoff.integrations.claude_agent_sdk import can_use_tool, pre_tool_use_hook

REFUND = "mcp__shop__issue_refund"  # an SDK MCP server "shop" with tool issue_refund, as Claude names it
CLOSE = "mcp__shop__close_account"
POLICY = {
    "version": 1,
    "defaults": {"level": "auto"},
    "rules": [
        {"name": "refunds-over-50", "match": {"action": REFUND}, "when": "args.amount > 50.0",
         "level": "approve", "reason": "high_risk_action"},
        {"name": "account-closure", "match": {"action": CLOSE}, "level": "approve", "reason": "high_risk_action"},
        {"name": "no-data-deletion", "match": {"action": "mcp__shop__delete_customer_data"}, "level": "deny",
         "reason": "policy_boundary"},
    ],
}


def agent_gate(db: str) -> signoff.Gate | signoff.RemoteGate:
    """The agent's gate: local on ``db``, or ``signoff serve`` at $SIGNOFF_URL with the agent token $SIGNOFF_TOKEN."""
    if url := os.environ.get("SIGNOFF_URL"):
        return signoff.Gate.remote(url, token=os.environ["SIGNOFF_TOKEN"])
    return signoff.Gate.open(policy=POLICY, store=db)


def reviewer_gate(db: str) -> signoff.Gate | signoff.RemoteGate:
    """Alice's gate: local (adding her as a reviewer), or the server with her token $SIGNOFF_REVIEWER_TOKEN."""
    if url := os.environ.get("SIGNOFF_URL"):
        return signoff.Gate.remote(url, token=os.environ["SIGNOFF_REVIEWER_TOKEN"])
    gate = signoff.Gate.open(policy=POLICY, store=db)
    gate.add_reviewer("alice")
    return gate


async def first_pending(alice: signoff.Gate | signoff.RemoteGate) -> signoff.Ticket:
    while not (pending := await alice.list_tickets(status="pending")):
        await asyncio.sleep(0.05)
    return pending[0]


async def main() -> None:
    db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='signoff-claude-sdk-')) / 'signoff.db'}"
    async with agent_gate(db) as gate, reviewer_gate(db) as alice:
        decide = can_use_tool(gate, agent="support-bot", wait=30)
        options = ClaudeAgentOptions(can_use_tool=decide)  # what you give query()/ClaudeSDKClient
        print(f"0) ClaudeAgentOptions(can_use_tool={options.can_use_tool is decide})")

        def ctx(n: int) -> ToolPermissionContext:
            return ToolPermissionContext(tool_use_id=f"toolu_0{n}")

        print("1) auto and deny")
        print(f"   lookup_order: {await decide('mcp__shop__lookup_order', {'order': 'A-17'}, ctx(1))}")
        print(f"   delete_customer_data: {await decide('mcp__shop__delete_customer_data', {'c': 'bob'}, ctx(2))}")

        print("2) issue_refund 150: the callback waits while alice edits it to 100")

        async def alice_edits() -> None:
            t = await first_pending(alice)
            await alice.approve(t.id, reviewer="alice", args={"order": "A-17", "amount": 100.0})

        result, _ = await asyncio.gather(decide(REFUND, {"order": "A-17", "amount": 150.0}, ctx(3)), alice_edits())
        print(f"   {result}")

        print("3) close_account: nobody decides within wait=0")
        impatient = can_use_tool(gate, agent="support-bot", wait=0)
        first = await impatient(CLOSE, {"customer": "bob"}, ctx(4))
        print(f"   {first.behavior}: {getattr(first, 'message', '')}")
        ticket = await first_pending(alice)
        await alice.reject(ticket.id, reviewer="alice", feedback="offer a voucher instead of closing")
        retry = await impatient(CLOSE, {"customer": "bob"}, ctx(5))
        print(f"   retry: {retry}")
        print(f"   tickets for close_account: {sum(t.action.name == CLOSE for t in await alice.list_tickets())}")

        print("4) the PreToolUse hook: ClaudeAgentOptions(hooks={'PreToolUse': [pre_tool_use_hook(gate, ...)]})")
        hook = pre_tool_use_hook(gate, agent="support-bot", wait=0).hooks[0]
        hook_input = PreToolUseHookInput(session_id="sess-1", transcript_path="transcripts/sess-1.jsonl", cwd=".",
                                         hook_event_name="PreToolUse", tool_name="mcp__shop__delete_customer_data",
                                         tool_input={"c": "bob"}, tool_use_id="toolu_06")
        print(f"   {json.dumps(await hook(hook_input, 'toolu_06', {'signal': None}))}")


if __name__ == "__main__":
    asyncio.run(main())
