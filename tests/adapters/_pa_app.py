"""A Pydantic AI agent for the adapter tests (also run as a subprocess to resume elsewhere).

``python -m tests.adapters._pa_app resume DB TICKET_ID`` continues a deferred run in a process
of its own and prints what the tools did and what the model read, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests
from pydantic_ai.toolsets import FunctionToolset

import signoff
from signoff.integrations.pydantic_ai import SignoffToolset
from tests.adapters._refund_tools import RAN, close_account, delete_customer_data, issue_refund, lookup_order

REASONING = "Order late 3 days; policy 4.2 allows a refund."


def send_receipt(to: str) -> str:
    """Send a receipt (to an address: the Pydantic AI tests edit it)."""
    RAN.append(("send_receipt", {"to": to}))
    return f"receipt sent to {to}"


TOOLS = [lookup_order, issue_refund, close_account, delete_customer_data, send_receipt]


def turn(*calls: tuple[str, dict[str, Any]], text: str = REASONING, ids: str = "call_") -> ModelResponse:
    return ModelResponse(parts=[TextPart(text), *(ToolCallPart(n, a, tool_call_id=f"{ids}{i}")
                                                  for i, (n, a) in enumerate(calls, 1))])


def scripted(responses: Sequence[ModelResponse]) -> FunctionModel:
    """A FunctionModel that answers with the next scripted response each time it is called."""
    queue = list(responses)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return queue.pop(0) if queue else ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


def build(gate: signoff.Gate, responses: Sequence[ModelResponse], *, name: str = "support-bot"
          ) -> tuple[Agent[None, str | DeferredToolRequests], SignoffToolset]:
    tools = SignoffToolset(FunctionToolset(TOOLS), gate=gate, agent=name)
    return Agent(scripted(responses), toolsets=[tools], output_type=[str, DeferredToolRequests]), tools


def returns(messages: Sequence[ModelMessage]) -> dict[str, Any]:
    """tool call id -> what the model read as that call's result."""
    return {p.tool_call_id: p.content for m in messages if isinstance(m, ModelRequest)
            for p in m.parts if isinstance(p, ToolReturnPart)}


async def _resume(db: str, ticket_id: str) -> None:
    from tests.adapters.conftest import POLICY

    async with signoff.Gate.open(policy=POLICY, store=db) as gate:
        agent, tools = build(gate, [ModelResponse(parts=[TextPart("answered")])])
        history, results = await tools.resume(ticket_id)
        result = await agent.run(message_history=history, deferred_tool_results=results)
        print(json.dumps({"ran": RAN, "returns": returns(result.new_messages()), "final": result.output},
                         default=str))


if __name__ == "__main__":
    if sys.argv[1] == "resume":
        asyncio.run(_resume(sys.argv[2], sys.argv[3]))
