"""A Pydantic AI agent whose deferred tool approvals signoff decides.

Offline: the model is Pydantic AI's FunctionModel, scripted here. Run: python examples/pydantic_ai_refund.py

1. The model calls lookup_order (auto: runs), issue_refund and close_account (the policy
   wants a person: the toolset raises ApprovalRequired). The run ends with
   DeferredToolRequests; they become one batch of tickets, the message history with them.
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A fresh agent (as in another process) continues with the history and the decisions
   as DeferredToolResults: ToolApproved(override_args=...) and ToolDenied(message=...).

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/pydantic_ai_refund.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests
from pydantic_ai.toolsets import FunctionToolset

import signoff
from signoff.integrations.pydantic_ai import SignoffToolset

POLICY = {
    "version": 1,
    "defaults": {"level": "auto"},
    "rules": [
        {"name": "refunds-over-50", "match": {"action": "issue_refund"}, "when": "args.amount > 50.0",
         "level": "approve", "reason": "high_risk_action"},
        {"name": "account-closure", "match": {"action": "close_account"}, "level": "approve",
         "reason": "high_risk_action"},
    ],
}


def lookup_order(order: str) -> str:
    """Look up an order."""
    print(f"   [tool] lookup_order({order!r})")
    return f"order {order}: delivered 3 days late, paid 150.00"


def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    print(f"   [tool] issue_refund({order!r}, {amount})")
    return f"refunded {amount:.2f} on {order}"


def close_account(customer: str) -> str:
    """Close a customer's account."""
    print(f"   [tool] close_account({customer!r})")
    return f"closed the account of {customer}"


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """First turn: three tool calls. Then: an answer built from what the tools returned."""
    returns = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        return ModelResponse(parts=[
            TextPart("The order was 3 days late: policy 4.2 allows a full refund. Closing as asked."),
            ToolCallPart("lookup_order", {"order": "A-17"}, tool_call_id="call_1"),
            ToolCallPart("issue_refund", {"order": "A-17", "amount": 150.0}, tool_call_id="call_2"),
            ToolCallPart("close_account", {"customer": "bob"}, tool_call_id="call_3"),
        ])
    return ModelResponse(parts=[TextPart(f"Done after {len(returns)} tool results; your account stays open.")])


def build_agent(gate: signoff.GateLike) -> tuple[Agent[None, str | DeferredToolRequests], SignoffToolset]:
    tools = SignoffToolset(FunctionToolset([lookup_order, issue_refund, close_account]), gate=gate,
                           agent="support-bot")
    agent = Agent(FunctionModel(scripted_model), toolsets=[tools], output_type=[str, DeferredToolRequests])
    return agent, tools


def agent_gate(db: str) -> signoff.Gate | signoff.RemoteGate:
    """The agent's gate: local on ``db``, or ``signoff serve`` at $SIGNOFF_URL with the agent token
    $SIGNOFF_TOKEN (the adapter takes either: any ``signoff.GateLike``)."""
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


async def main() -> None:
    db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='signoff-pydantic-ai-')) / 'signoff.db'}"

    print("1) the agent runs and defers the calls that need a person")
    async with agent_gate(db) as gate:
        agent, tools = build_agent(gate)
        result = await agent.run("Refund A-17 and close my account")
        assert isinstance(result.output, DeferredToolRequests)
        print(f"   deferred for approval: {[c.tool_name for c in result.output.approvals]}")
        tickets = await tools.submit(result)
        for t in tickets:
            print(f"   - {t.id}: {t.action.name}({dict(t.action.args)}) batch {t.batch_id}")

    print("2) a reviewer decides")
    async with reviewer_gate(db) as alice:
        await alice.approve(tickets[0].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        await alice.reject(tickets[1].id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a fresh agent continues with the history and the decisions")
    async with agent_gate(db) as gate:
        agent, tools = build_agent(gate)
        history, results = await tools.resume(tickets[0].id)
        for call_id, approval in results.approvals.items():
            print(f"   {call_id}: {approval}")
        result = await agent.run(message_history=history, deferred_tool_results=results)
        for m in result.new_messages():
            for p in getattr(m, "parts", []):
                if isinstance(p, ToolReturnPart):
                    print(f"   tool result for {p.tool_name}: {p.content!r}")
        print(f"   agent: {result.output}")
        print(f"   refund ticket execution: {(await gate.get_ticket(tickets[0].id)).execution}")


if __name__ == "__main__":
    asyncio.run(main())
