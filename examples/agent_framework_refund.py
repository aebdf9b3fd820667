"""A Microsoft Agent Framework agent whose tool calls signoff gates; the paused run resumed from its session.

Offline: the model is a scripted chat client. Run: python examples/agent_framework_refund.py

1. The model calls lookup_order (auto), issue_refund and close_account (both
   ``approval_mode="always_require"``, and the policy wants a person). Agent Framework pauses
   the run with two ``function_approval_request`` contents (it holds lookup_order back until
   they are answered; then it runs through SignoffMiddleware without a ticket);
   ``SignoffMiddleware.approvals`` queues them as ONE signoff batch. Nobody decides yet: the app
   keeps the session (``session.to_dict()``) and the requests.
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A fresh agent (as in another process) restores the session and answers the requests from
   signoff: close_account is answered ``approved=False``; the refund is approved, and the
   middleware applies the reviewer's arguments (the framework asks once more for the edited
   call, answered from the same ticket), so it runs once with 100.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/agent_framework_refund.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

from agent_framework import (
    Agent,
    AgentSession,
    BaseChatClient,
    ChatMiddlewareLayer,
    ChatResponse,
    Content,
    FunctionInvocationLayer,
    Message,
    tool,
)

import signoff
from signoff.integrations.agent_framework import SignoffMiddleware

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


class ScriptedClient(FunctionInvocationLayer[Any], ChatMiddlewareLayer[Any], BaseChatClient[Any]):
    """Answers each model call with the next scripted turn, printing the function results it reads."""

    def __init__(self, script: list[list[Content]]) -> None:
        super().__init__()
        self.script = script

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any,
                            **kwargs: Any) -> Awaitable[ChatResponse]:
        async def answer() -> ChatResponse:
            for message in messages[-2:]:
                for c in message.contents:
                    if c.type == "function_result":
                        print(f"   the model reads for {c.call_id}: {str(c.result)!r}")
            return ChatResponse(messages=[Message(role="assistant", contents=self.script.pop(0))])

        return answer()


def say(text: str, *calls: tuple[str, dict[str, Any]]) -> list[Content]:
    return [Content.from_text(text), *(Content.from_function_call(call_id=f"call_{i}", name=n, arguments=a)
                                       for i, (n, a) in enumerate(calls, 1))]


@tool
def lookup_order(order: str) -> str:
    """Look up an order."""
    print(f"   [tool] lookup_order({order!r})")
    return f"order {order}: delivered 3 days late, paid 150.00"


@tool(approval_mode="always_require")
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    print(f"   [tool] issue_refund({order!r}, {amount})")
    return f"refunded {amount:.2f} on {order}"


@tool(approval_mode="always_require")
def close_account(customer: str) -> str:
    """Close a customer's account."""
    print(f"   [tool] close_account({customer!r})")
    return f"closed the account of {customer}"


def build_agent(gate: Any, script: list[list[Content]]) -> tuple[Agent, SignoffMiddleware]:
    hitl = SignoffMiddleware(gate, agent="support-bot")
    agent = Agent(client=ScriptedClient(script), tools=[lookup_order, issue_refund, close_account],
                  middleware=[hitl])
    return agent, hitl


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
    tmp = Path(tempfile.mkdtemp(prefix="signoff-agent-framework-"))
    db = f"sqlite:///{tmp / 'signoff.db'}"

    print("1) the agent runs and pauses")
    async with agent_gate(db) as gate:
        agent, hitl = build_agent(gate, [say(
            "The order was 3 days late: policy 4.2 allows a full refund. Closing as asked.",
            ("lookup_order", {"order": "A-17"}), ("issue_refund", {"order": "A-17", "amount": 150.0}),
            ("close_account", {"customer": "bob"}))])
        session = agent.create_session()
        response = await agent.run("Refund A-17 and close my account", session=session)
        requests = response.user_input_requests
        print(f"   approval requests for: {[r.function_call.name for r in requests]}")
        answer = await hitl.approvals(requests, reasoning=response.text)
        for t in answer.pending:
            print(f"   - {t.id}: {t.action.name}({dict(t.action.args)}) batch {t.batch_id}")
        tickets = {t.action.name: t for t in answer.pending}
        # What an app keeps to resume later, in any process: the session and the requests.
        saved = json.dumps({"session": session.to_dict(), "requests": [r.to_dict() for r in requests]})

    print("2) a reviewer decides")
    async with reviewer_gate(db) as alice:
        await alice.approve(tickets["issue_refund"].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        await alice.reject(tickets["close_account"].id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a fresh agent restores the session and answers the requests from signoff")
    async with agent_gate(db) as gate:
        state = json.loads(saved)
        session = AgentSession.from_dict(state["session"])
        requests = [Content.from_dict(r) for r in state["requests"]]
        agent, hitl = build_agent(gate, [say("Refunded 100.00 on A-17; your account stays open.")])
        while requests:
            answer = await hitl.approvals(requests)
            print(f"   responses: {[(r.function_call.name, r.approved) for r in answer.responses]}")
            response = await agent.run(answer.message(), session=session)
            requests = response.user_input_requests
        print(f"   agent: {response.text.strip()}")
        print(f"   refund ticket execution: {(await gate.get_ticket(tickets['issue_refund'].id)).execution}")


if __name__ == "__main__":
    asyncio.run(main())
