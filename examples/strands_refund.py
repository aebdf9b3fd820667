"""A Strands agent whose tool calls signoff gates; the paused run resumed from its file session.

Offline: the model is a scripted ``strands.models.Model``. Run: python examples/strands_refund.py

1. The model calls lookup_order (auto: runs), issue_refund and close_account (the policy
   wants a person). SignoffIntervention queues both as one batch of tickets; nobody decides
   within ``wait``, so the agent stops with ``stop_reason == "interrupt"``: one interrupt per
   call, its reason naming the ticket. The agent's session lives in a FileSessionManager.
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A fresh agent (as in another process) restores the session and resumes with the
   interrupts' responses; the tickets decide: the refund runs once with 100, close_account is
   cancelled with the reviewer's feedback.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/strands_refund.py
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from strands import Agent, tool
from strands.models import Model
from strands.session import FileSessionManager

import signoff
from signoff.integrations.strands import SignoffIntervention

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


class ScriptedModel(Model):
    """Answers each model call with the next scripted message, printing the tool results it reads."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script = script

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    async def structured_output(self, output_model: Any, prompt: Any, system_prompt: str | None = None,
                                **kwargs: Any) -> AsyncGenerator[Any, None]:
        raise NotImplementedError
        yield

    async def stream(self, messages: Any, tool_specs: Any = None, system_prompt: str | None = None,
                     **kwargs: Any) -> AsyncGenerator[Any, None]:
        for block in messages[-1]["content"] if messages else []:
            if "toolResult" in block:
                r = block["toolResult"]
                print(f"   the model reads for {r['toolUseId']} ({r['status']}): "
                      f"{' '.join(c.get('text', '') for c in r['content'])!r}")
        message = self.script.pop(0)
        yield {"messageStart": {"role": "assistant"}}
        for block in message["content"]:
            if "text" in block:
                yield {"contentBlockStart": {"start": {}}}
                yield {"contentBlockDelta": {"delta": {"text": block["text"]}}}
                yield {"contentBlockStop": {}}
            if "toolUse" in block:
                use = block["toolUse"]
                yield {"contentBlockStart": {"start": {"toolUse": {"name": use["name"],
                                                                   "toolUseId": use["toolUseId"]}}}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(use["input"])}}}}
                yield {"contentBlockStop": {}}
        stop = "tool_use" if any("toolUse" in b for b in message["content"]) else "end_turn"
        yield {"messageStop": {"stopReason": stop}}


def say(text: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}, *(
        {"toolUse": {"toolUseId": f"call_{i}", "name": n, "input": a}} for i, (n, a) in enumerate(calls, 1))]}


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


def build_agent(gate: Any, script: list[dict[str, Any]], sessions: Path) -> Agent:
    return Agent(model=ScriptedModel(script), tools=[lookup_order, issue_refund, close_account],
                 interventions=[SignoffIntervention(gate, agent="support-bot", wait=0.5)],
                 session_manager=FileSessionManager(session_id="bob", storage_dir=str(sessions)),
                 callback_handler=None)


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
    tmp = Path(tempfile.mkdtemp(prefix="signoff-strands-"))
    db = f"sqlite:///{tmp / 'signoff.db'}"

    print("1) the agent runs and pauses")
    async with agent_gate(db) as gate:
        agent = build_agent(gate, [say(
            "The order was 3 days late: policy 4.2 allows a full refund. Closing as asked.",
            ("lookup_order", {"order": "A-17"}), ("issue_refund", {"order": "A-17", "amount": 150.0}),
            ("close_account", {"customer": "bob"}))], tmp / "sessions")
        result = await agent.invoke_async("Refund A-17 and close my account")
        print(f"   stop_reason: {result.stop_reason}")
        paused = sorted(result.interrupts, key=lambda i: i.reason["tool_use_id"])
        print(f"   interrupts: {[(i.name, i.reason['tool']) for i in paused]}")
        tickets = [await gate.get_ticket(i.reason["ticket_id"]) for i in paused]
        for t in tickets:
            print(f"   - {t.id}: {t.action.name}({dict(t.action.args)}) batch {t.batch_id}")
        interrupt_ids = [i.id for i in result.interrupts]  # what an app keeps to resume later

    print("2) a reviewer decides")
    async with reviewer_gate(db) as alice:
        await alice.approve(tickets[0].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        await alice.reject(tickets[1].id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a fresh agent restores the session and resumes; the tickets decide")
    async with agent_gate(db) as gate:
        agent = build_agent(gate, [say("Refunded 100.00 on A-17; your account stays open.")], tmp / "sessions")
        # The response only says "look again": the hook reads each decision from signoff.
        result = await agent.invoke_async([{"interruptResponse": {"interruptId": i, "response": "decided"}}
                                           for i in interrupt_ids])
        print(f"   agent: {str(result).strip()}")
        print(f"   refund ticket execution: {(await gate.get_ticket(tickets[0].id)).execution}")


if __name__ == "__main__":
    asyncio.run(main())
