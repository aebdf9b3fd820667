"""An OpenAI Agents SDK run whose tool approvals signoff decides; resumed from the stored RunState.

Offline: the model is the SDK's own agents.testing.ScriptedModel. Run: python examples/openai_agents_refund.py

1. The model calls lookup_order (auto: runs), issue_refund and close_account (the policy's
   needs_approval says a person must decide). The run stops with two interruptions;
   they become one batch of tickets, the serialized RunState stored with them.
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A fresh agent object (as in another process) resumes from the ticket: the refund runs
   once with 100 and the model reads the reviewer's feedback for close_account.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/openai_agents_refund.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import signoff
from signoff.integrations.openai_agents import SignoffApprovals

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


@function_tool
def lookup_order(order: str) -> str:
    """Look up an order."""
    print(f"   [tool] lookup_order({order!r})")
    return f"order {order}: delivered 3 days late, paid 150.00"


@function_tool
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    print(f"   [tool] issue_refund({order!r}, {amount})")
    return f"refunded {amount:.2f} on {order}"


@function_tool
def close_account(customer: str) -> str:
    """Close a customer's account."""
    print(f"   [tool] close_account({customer!r})")
    return f"closed the account of {customer}"


def build_agent(model: ScriptedModel, approvals: SignoffApprovals) -> Agent:
    return Agent(name="support-bot", instructions="Help customers.", model=model,
                 tools=approvals.tools([lookup_order, issue_refund, close_account]))


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
    set_tracing_disabled(True)  # offline: no trace export
    db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='signoff-openai-')) / 'signoff.db'}"

    print("1) the agent runs and pauses")
    async with agent_gate(db) as gate:
        approvals = SignoffApprovals(gate, agent="support-bot")
        model = ScriptedModel([[
            assistant_message("The order was 3 days late: policy 4.2 allows a full refund. Closing as asked."),
            function_call("lookup_order", {"order": "A-17"}, call_id="call_1"),
            function_call("issue_refund", {"order": "A-17", "amount": 150.0}, call_id="call_2"),
            function_call("close_account", {"customer": "bob"}, call_id="call_3"),
        ]])
        result = await Runner.run(build_agent(model, approvals), "Refund A-17 and close my account")
        print(f"   interruptions: {[i.name for i in result.interruptions]}")
        tickets = await approvals.submit(result)
        for t in tickets:
            print(f"   - {t.id}: {t.action.name}({dict(t.action.args)}) batch {t.batch_id}")

    print("2) a reviewer decides")
    async with reviewer_gate(db) as alice:
        await alice.approve(tickets[0].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        await alice.reject(tickets[1].id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a fresh agent resumes the run from the RunState stored with the tickets")
    async with agent_gate(db) as gate:
        approvals = SignoffApprovals(gate, agent="support-bot")
        model = ScriptedModel([[assistant_message("Refunded 100.00 on A-17; your account stays open.")]])
        result = await approvals.resume(build_agent(model, approvals), tickets[0].id)
        for item in result.new_items:
            if item.type == "tool_call_output_item":
                print(f"   tool result: {item.output!r}")
        print(f"   agent: {result.final_output}")
        print(f"   refund ticket execution: {(await gate.get_ticket(tickets[0].id)).execution}")


if __name__ == "__main__":
    asyncio.run(main())
