"""A LangChain agent whose tool calls signoff gates, paused in one process and resumed in another.

Offline: the model is LangChain's scripted GenericFakeChatModel. Run: python examples/langgraph_agent.py

1. The agent asks for three tools in one turn: lookup_order (auto: runs), issue_refund
   and close_account (the policy wants a person). The graph pauses with interrupt();
   the two calls wait as ONE batch of tickets. The process "exits".
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A new process (new gate, new graph, new checkpointer on the same files) resumes the
   thread: no model call for the first turn, the refund runs once with 100, the model
   reads the reviewer's feedback for close_account.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/langgraph_agent.py
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver

import signoff
from signoff.integrations.langgraph import SignoffMiddleware, resume

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


class ScriptedChatModel(GenericFakeChatModel):
    """LangChain's fake chat model; create_agent binds tools, which a script does not need."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


@tool
def lookup_order(order: str) -> str:
    """Look up an order."""
    print(f"   [tool] lookup_order({order!r})")
    return f"order {order}: delivered 3 days late, paid 150.00"


@tool
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    print(f"   [tool] issue_refund({order!r}, {amount})")
    return f"refunded {amount:.2f} on {order}"


@tool
def close_account(customer: str) -> str:
    """Close a customer's account."""
    print(f"   [tool] close_account({customer!r})")
    return f"closed the account of {customer}"


def build_agent(model: GenericFakeChatModel, gate: signoff.GateLike, checkpoints: Path) -> Any:
    conn = sqlite3.connect(checkpoints, check_same_thread=False)
    return create_agent(model, tools=[lookup_order, issue_refund, close_account],
                        middleware=[SignoffMiddleware(gate, agent="support-bot")],
                        checkpointer=SqliteSaver(conn))


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


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="signoff-langgraph-"))
    db, checkpoints = f"sqlite:///{work / 'signoff.db'}", work / "checkpoints.db"
    config = {"configurable": {"thread_id": "ticket-4711"}}

    print("1) the agent runs and pauses")
    first_turn = AIMessage(
        content="The order was 3 days late: policy 4.2 allows a full refund. The customer also asked to leave.",
        tool_calls=[
            {"name": "lookup_order", "args": {"order": "A-17"}, "id": "call_1"},
            {"name": "issue_refund", "args": {"order": "A-17", "amount": 150.0}, "id": "call_2"},
            {"name": "close_account", "args": {"customer": "bob"}, "id": "call_3"},
        ])
    with agent_gate(db) as gate:
        agent = build_agent(ScriptedChatModel(messages=iter([first_turn])), gate, checkpoints)
        result = agent.invoke({"messages": [{"role": "user", "content": "Refund A-17 and close my account"}]}, config)
        request = result["__interrupt__"][0].value
        print(f"   paused: {request['description']} (batch {request['batch_id']})")
        for c in request["calls"]:
            print(f"   - {c['ticket_id']}: {c['name']}({c['args']})")
    tickets = request["tickets"]

    print("2) a reviewer decides (in the inbox, the CLI, or here)")
    with reviewer_gate(db) as alice:
        refund, closure = (alice.get_ticket_sync(t) for t in tickets)
        print(f"   {refund.id} reasoning on the ticket: {refund.action.reasoning!r}")
        alice.approve_sync(refund.id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        alice.reject_sync(closure.id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a new process resumes the thread (no re-reasoning: the model only writes the answer)")
    final = AIMessage(content="I refunded 100.00 on A-17 and kept your account open; here is a voucher.")
    with agent_gate(db) as gate:
        agent = build_agent(ScriptedChatModel(messages=iter([final])), gate, checkpoints)
        result = resume(agent, gate, tickets[0])
        for m in result["messages"]:
            if isinstance(m, ToolMessage):
                print(f"   tool result for {m.name}: {m.content!r}")
        print(f"   agent: {result['messages'][-1].content}")
        executed = gate.get_ticket_sync(refund.id).execution
        print(f"   refund ticket execution: {executed}")


if __name__ == "__main__":
    main()
