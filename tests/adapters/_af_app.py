"""A Microsoft Agent Framework agent for the adapter tests, offline: a scripted chat client.

``python -m tests.adapters._af_app DB SESSION_JSON`` restores the paused session in a process of its
own, answers its approval requests from signoff and prints what the tools did, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Sequence
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
from tests.adapters import _refund_tools as _tools
from tests.adapters._refund_tools import RAN

# The shared tools; the framework's own approval flag on three of them (the policy: close_account
# approve, delete_customer_data deny, reset_password no rule, so auto).
lookup_order = tool(_tools.lookup_order)
issue_refund = tool(_tools.issue_refund)
close_account = tool(_tools.close_account, approval_mode="always_require")
delete_customer_data = tool(_tools.delete_customer_data, approval_mode="always_require")
send_receipt = tool(_tools.send_receipt)


@tool(approval_mode="always_require")
def reset_password(customer: str) -> str:
    """Reset a password (the tool asks for approval; the policy would let it pass)."""
    RAN.append(("reset_password", {"customer": customer}))
    return f"reset {customer}"


TOOLS = [lookup_order, issue_refund, close_account, delete_customer_data, reset_password, send_receipt]


class ScriptedClient(FunctionInvocationLayer[Any], ChatMiddlewareLayer[Any], BaseChatClient[Any]):
    """Answers each model call with the next scripted turn (text and function calls), then "done"."""

    def __init__(self, turns: Sequence[list[Content]]) -> None:
        super().__init__()
        self.turns = list(turns)
        self.seen: list[list[Message]] = []

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any,
                            **kwargs: Any) -> Awaitable[ChatResponse]:
        async def answer() -> ChatResponse:
            self.seen.append(list(messages))
            contents = self.turns.pop(0) if self.turns else [Content.from_text("done")]
            return ChatResponse(messages=[Message(role="assistant", contents=contents)])

        return answer()


def turn(*calls: tuple[str, dict[str, Any]], ids: str = "call_") -> list[Content]:
    return [Content.from_text("Order late 3 days."), *(
        Content.from_function_call(call_id=f"{ids}{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls, 1))]


def build(gate: Any, turns: Sequence[list[Content]], *, wait: float = 0.0,
          name: str = "support-bot") -> tuple[Agent, SignoffMiddleware, ScriptedClient]:
    client = ScriptedClient(turns)
    hitl = SignoffMiddleware(gate, agent=name, wait=wait)
    return Agent(client=client, tools=list(TOOLS), middleware=[hitl]), hitl, client


def results(client: ScriptedClient) -> dict[str, str]:
    """The function results the model read last, by call id."""
    out: dict[str, str] = {}
    for message in client.seen[-1] if client.seen else []:
        for c in message.contents:
            if c.type == "function_result":
                out[str(c.call_id)] = str(c.result)
    return out


async def _resume(db: str, session_json: str) -> None:
    from tests.adapters.conftest import POLICY

    data = json.loads(session_json)
    session = AgentSession.from_dict(data["session"])
    requests = [Content.from_dict(r) for r in data["requests"]]
    async with signoff.Gate.open(policy=POLICY, store=db) as gate:
        agent, hitl, client = build(gate, [])
        while requests:
            answer = await hitl.approvals(requests)
            if not answer.done:
                print(json.dumps({"pending": [t.id for t in answer.pending]}))
                return
            response = await agent.run(answer.message(), session=session)
            requests = list(response.user_input_requests)
    print(json.dumps({"ran": RAN, "results": results(client)}))


if __name__ == "__main__":
    asyncio.run(_resume(sys.argv[1], sys.argv[2]))
