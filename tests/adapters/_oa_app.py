"""An OpenAI Agents SDK agent for the adapter tests (also run as a subprocess to resume elsewhere).

``python -m tests.adapters._oa_app resume DB TICKET_ID`` resumes a paused run in a process of
its own and prints what the tools did and what the model read, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from agents import Agent, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import signoff
from signoff.integrations.openai_agents import SignoffApprovals

set_tracing_disabled(True)
RAN: list[tuple[str, dict[str, Any]]] = []
REASONING = "Order late 3 days; policy 4.2 allows a refund."


@function_tool
def lookup_order(order: str) -> str:
    """Look up an order."""
    RAN.append(("lookup_order", {"order": order}))
    return f"order {order} is late"


@function_tool
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    RAN.append(("issue_refund", {"order": order, "amount": amount}))
    return f"refunded {amount} on {order}"


@function_tool
def close_account(customer: str) -> str:
    """Close an account."""
    RAN.append(("close_account", {"customer": customer}))
    return f"closed {customer}"


@function_tool
def delete_customer_data(customer: str) -> str:
    """Delete a customer's data."""
    RAN.append(("delete_customer_data", {"customer": customer}))
    return f"deleted {customer}"


@function_tool(needs_approval=True)
def wire_money(to: str, amount: float) -> str:
    """Wire money (its author gated it: the policy has no rule for it, so the default auto applies)."""
    RAN.append(("wire_money", {"to": to, "amount": amount}))
    return f"wired {amount} to {to}"


async def _large_export(ctx: Any, params: dict[str, Any], call_id: str) -> bool:
    return bool(params.get("rows", 0) > 1000)


@function_tool(needs_approval=_large_export)
def export_rows(rows: int) -> str:
    """Export rows (its author gates exports of more than 1000 rows)."""
    RAN.append(("export_rows", {"rows": rows}))
    return f"exported {rows}"


TOOLS = [lookup_order, issue_refund, close_account, delete_customer_data, wire_money, export_rows]


def turn(*calls: tuple[str, dict[str, Any]], text: str = REASONING, ids: str = "call_") -> list[Any]:
    return [assistant_message(text), *(function_call(n, a, call_id=f"{ids}{i}") for i, (n, a) in enumerate(calls, 1))]


def build(gate: signoff.Gate, steps: Sequence[Any], *, name: str = "support-bot"
          ) -> tuple[Agent[Any], SignoffApprovals, ScriptedModel]:
    approvals = SignoffApprovals(gate, agent=name)
    model = ScriptedModel(list(steps))
    return Agent(name=name, model=model, tools=approvals.tools(TOOLS)), approvals, model


def outputs(result: Any) -> dict[str, str]:
    """call id -> what the model reads as that call's result."""
    return {i.raw_item["call_id"]: str(i.output) for i in result.new_items if i.type == "tool_call_output_item"}


async def _resume(db: str, ticket_id: str) -> None:
    from tests.adapters.conftest import POLICY

    async with signoff.Gate.open(policy=POLICY, store=db) as gate:
        agent, approvals, _ = build(gate, [[assistant_message("answered")]])
        result = await approvals.resume(agent, ticket_id)
        print(json.dumps({"ran": RAN, "outputs": outputs(result), "final": result.final_output}))


if __name__ == "__main__":
    if sys.argv[1] == "resume":
        asyncio.run(_resume(sys.argv[2], sys.argv[3]))
