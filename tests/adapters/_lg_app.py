"""A LangChain agent and a hand-built LangGraph graph for the adapter tests (also run as a subprocess).

``python -m tests.adapters._lg_app pause DB CHECKPOINTS THREAD`` runs the first turn in a
process of its own, prints the interrupt's ticket ids as JSON and exits: the restart test.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import tools_condition

import signoff
from signoff.integrations.langgraph import SignoffMiddleware, SignoffToolNode

RAN: list[tuple[str, dict[str, Any]]] = []


class ScriptedChatModel(GenericFakeChatModel):
    """LangChain's GenericFakeChatModel; create_agent binds tools, which a script ignores."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


@tool
def lookup_order(order: str) -> str:
    """Look up an order."""
    RAN.append(("lookup_order", {"order": order}))
    return f"order {order} is late"


@tool
def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    RAN.append(("issue_refund", {"order": order, "amount": amount}))
    return f"refunded {amount} on {order}"


@tool
def close_account(customer: str) -> str:
    """Close an account."""
    RAN.append(("close_account", {"customer": customer}))
    return f"closed {customer}"


@tool
def delete_customer_data(customer: str) -> str:
    """Delete a customer's data."""
    RAN.append(("delete_customer_data", {"customer": customer}))
    return f"deleted {customer}"


@tool
def send_receipt(to: str) -> str:
    """Send a receipt."""
    RAN.append(("send_receipt", {"to": to}))
    return f"receipt sent to {to}"


TOOLS = [lookup_order, issue_refund, close_account, delete_customer_data, send_receipt]
REASONING = "Order late 3 days; policy 4.2 allows a refund."


def turn(*calls: tuple[str, dict[str, Any]], text: str = REASONING) -> AIMessage:
    return AIMessage(content=text, tool_calls=[{"name": n, "args": a, "id": f"call_{i}"}
                                               for i, (n, a) in enumerate(calls, 1)])


def agent(gate: signoff.Gate, script: Iterable[BaseMessage], *, checkpoints: Path | None = None,
          name: str = "support-bot", reviewer: str | None = None, saver: Any = None) -> Any:
    """A create_agent graph; ``reviewer``: the signoff reviewer a HumanInTheLoopMiddleware-style UI speaks for."""
    if saver is None:
        saver = InMemorySaver() if checkpoints is None else SqliteSaver(
            sqlite3.connect(checkpoints, check_same_thread=False))
    return create_agent(ScriptedChatModel(messages=iter(list(script))), tools=TOOLS,
                        middleware=[SignoffMiddleware(gate, agent=name, reviewer=reviewer)], checkpointer=saver)


def graph(gate: signoff.Gate, script: Iterable[BaseMessage], *, name: str = "support-bot",
          checkpointer: Any = True) -> Any:
    """A hand-built StateGraph: a scripted model node, SignoffToolNode, tools_condition."""
    replies = iter(list(script))

    def model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [next(replies)]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_node("tools", SignoffToolNode(TOOLS, gate=gate, agent=name))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=InMemorySaver() if checkpointer is True else checkpointer)


def config(thread: str = "t-1") -> Any:
    return {"configurable": {"thread_id": thread}}


def _pause(db: str, checkpoints: str, thread: str) -> None:
    from tests.adapters.conftest import POLICY

    with signoff.Gate.open(policy=POLICY, store=db) as gate:
        app = agent(gate, [turn(("issue_refund", {"order": "A-17", "amount": 150.0}),
                                ("close_account", {"customer": "bob"}))], checkpoints=Path(checkpoints))
        result = app.invoke({"messages": [{"role": "user", "content": "refund and close"}]}, config(thread))
        print(json.dumps(result["__interrupt__"][0].value["tickets"]))


if __name__ == "__main__":
    if sys.argv[1] == "pause":
        _pause(*sys.argv[2:5])
