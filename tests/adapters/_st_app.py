"""A Strands agent for the adapter tests, offline: a scripted ``strands.models.Model``.

``python -m tests.adapters._st_app DB SESSION_DIR INTERRUPT_ID...`` restores the paused agent from its
file session in a process of its own, resumes it and prints what the tools did, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from strands import Agent, tool
from strands.models import Model
from strands.session import FileSessionManager

import signoff
from signoff.integrations.strands import SignoffIntervention
from tests.adapters._refund_tools import (
    RAN,
    close_account,
    delete_customer_data,
    issue_refund,
    lookup_order,
    send_receipt,
)

REASONING = "Order late 3 days; policy 4.2 allows a refund."


TOOLS = [tool(f) for f in (lookup_order, issue_refund, close_account, delete_customer_data, send_receipt)]


class ScriptedModel(Model):
    """Answers each model call with the next scripted message (text and toolUse blocks), then "done"."""

    def __init__(self, turns: Sequence[dict[str, Any]]) -> None:
        self.turns = list(turns)
        self.seen: list[list[dict[str, Any]]] = []

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    async def structured_output(self, output_model: Any, prompt: Any, system_prompt: str | None = None,
                                **kwargs: Any) -> AsyncGenerator[Any, None]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def stream(self, messages: Any, tool_specs: Any = None, system_prompt: str | None = None,
                     **kwargs: Any) -> AsyncGenerator[Any, None]:
        self.seen.append(list(messages))
        message = self.turns.pop(0) if self.turns else {"content": [{"text": "done"}]}
        yield {"messageStart": {"role": "assistant"}}
        stop = "end_turn"
        for block in message["content"]:
            if "text" in block:
                yield {"contentBlockStart": {"start": {}}}
                yield {"contentBlockDelta": {"delta": {"text": block["text"]}}}
                yield {"contentBlockStop": {}}
            if "toolUse" in block:
                stop = "tool_use"
                use = block["toolUse"]
                start = {"toolUse": {"name": use["name"], "toolUseId": use["toolUseId"]}}
                yield {"contentBlockStart": {"start": start}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(use["input"])}}}}
                yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": stop}}


def turn(*calls: tuple[str, dict[str, Any]], text: str = REASONING, ids: str = "call_") -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}, *(
        {"toolUse": {"toolUseId": f"{ids}{i}", "name": n, "input": a}} for i, (n, a) in enumerate(calls, 1))]}


def build(gate: Any, turns: Sequence[dict[str, Any]], *, wait: float = 0.0, session_dir: str | None = None,
          name: str = "support-bot", also: Sequence[Any] = (), **agent_kw: Any
          ) -> tuple[Agent, SignoffIntervention, ScriptedModel]:
    """An agent gated by signoff (then by ``also``, other interventions); ``agent_kw`` go to ``Agent``."""
    model = ScriptedModel(turns)
    hitl = SignoffIntervention(gate, agent=name, wait=wait)
    session = FileSessionManager(session_id="s1", storage_dir=session_dir) if session_dir else None
    agent = Agent(model=model, tools=list(TOOLS), interventions=[hitl, *also], callback_handler=None,
                  session_manager=session, **agent_kw)
    return agent, hitl, model


def results(agent: Agent) -> dict[str, tuple[str, str]]:
    """Every tool result in the conversation: {toolUseId: (status, text)}."""
    out = {}
    for message in agent.messages:
        for block in message.get("content", []):
            if "toolResult" in block:
                r = block["toolResult"]
                out[r["toolUseId"]] = (r["status"], "\n".join(c.get("text", "") for c in r["content"]))
    return out


async def _resume(db: str, session_dir: str, interrupt_ids: Sequence[str]) -> None:
    from tests.adapters.conftest import POLICY

    async with signoff.Gate.open(policy=POLICY, store=db) as gate:
        agent, _, _ = build(gate, [], session_dir=session_dir)
        prompt = [{"interruptResponse": {"interruptId": i, "response": "check"}} for i in interrupt_ids]
        result = await agent.invoke_async(prompt)
        print(json.dumps({"ran": RAN, "stop": result.stop_reason, "results": results(agent)}))


if __name__ == "__main__":
    asyncio.run(_resume(sys.argv[1], sys.argv[2], sys.argv[3:]))
