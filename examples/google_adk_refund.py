"""A Google ADK agent whose tool confirmations signoff decides; resumed in a fresh runner.

Offline: the model is a scripted ``BaseLlm`` (ADK ships none). Run: python examples/google_adk_refund.py

1. The model calls lookup_order (auto: runs), issue_refund and close_account (the policy
   wants a person). SignoffPlugin queues both as one batch of tickets and asks for ADK's
   tool confirmation: the run pauses on two ``adk_request_confirmation`` calls whose
   payload names the tickets. The session lives in ADK's SqliteSessionService.
2. A reviewer edits the refund (150 -> 100) and rejects closing the account.
3. A fresh runner (as in another process) resumes: SignoffPlugin.resume answers the
   confirmations from the decisions; the refund runs once with 100 and the model reads the
   reviewer's feedback for close_account.

Against a running server instead (policy: this file's POLICY; reviewer alice; tokens from
`signoff token create`): SIGNOFF_URL=http://127.0.0.1:8080 SIGNOFF_TOKEN=<support-bot's token>
SIGNOFF_REVIEWER_TOKEN=<alice's token> python examples/google_adk_refund.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.adk.tools.function_tool import FunctionTool
from google.genai import types

import signoff
from signoff.integrations.google_adk import SignoffPlugin, signoff_confirmation

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


class ScriptedLlm(BaseLlm):
    """Answers each model request with the next scripted response, printing the tool results it reads."""

    model: str = "scripted"
    script: list[LlmResponse] = []

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False
                                     ) -> AsyncGenerator[LlmResponse, None]:
        for part in llm_request.contents[-1].parts or [] if llm_request.contents else []:
            if part.function_response and part.function_response.name != "adk_request_confirmation":
                print(f"   the model reads for {part.function_response.name}: {part.function_response.response}")
        yield self.script.pop(0)


def say(text: str, *calls: tuple[str, dict[str, Any]]) -> LlmResponse:
    parts = [types.Part(text=text)]
    parts += [types.Part(function_call=types.FunctionCall(name=n, args=a, id=f"call_{i}"))
              for i, (n, a) in enumerate(calls, 1)]
    return LlmResponse(content=types.Content(role="model", parts=parts))


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


def build_runner(gate: Any, script: list[LlmResponse], sessions: SqliteSessionService) -> tuple[Runner, SignoffPlugin]:
    plugin = SignoffPlugin(gate, agent="support-bot")
    agent = LlmAgent(name="support_bot", instruction="Help customers.", model=ScriptedLlm(script=script), tools=[
        lookup_order,
        # ADK's own idiom: the policy answers require_confirmation (True here for amounts over 50)
        FunctionTool(issue_refund, require_confirmation=signoff_confirmation(gate, "issue_refund",
                                                                             agent="support-bot")),
        close_account])
    app = App(name="support", root_agent=agent, plugins=[plugin])
    return Runner(app=app, session_service=sessions), plugin


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
    tmp = Path(tempfile.mkdtemp(prefix="signoff-adk-"))
    db = f"sqlite:///{tmp / 'signoff.db'}"
    sessions_db = str(tmp / "adk-sessions.db")

    print("1) the agent runs and pauses")
    async with agent_gate(db) as gate:
        runner, plugin = build_runner(gate, [say(
            "The order was 3 days late: policy 4.2 allows a full refund. Closing as asked.",
            ("lookup_order", {"order": "A-17"}), ("issue_refund", {"order": "A-17", "amount": 150.0}),
            ("close_account", {"customer": "bob"}))], SqliteSessionService(sessions_db))
        session = await runner.session_service.create_session(app_name="support", user_id="bob")
        events = [e async for e in runner.run_async(user_id="bob", session_id=session.id, new_message=types.Content(
            role="user", parts=[types.Part(text="Refund A-17 and close my account")]))]
        requests = plugin.requests(events)
        print(f"   adk_request_confirmation for: {[r.call.name for r in requests]}")
        tickets = [await gate.get_ticket(r.ticket_id) for r in requests]
        for t in tickets:
            print(f"   - {t.id}: {t.action.name}({dict(t.action.args)}) batch {t.batch_id}")

    print("2) a reviewer decides")
    async with reviewer_gate(db) as alice:
        await alice.approve(tickets[0].id, reviewer="alice", args={"order": "A-17", "amount": 100.0})
        await alice.reject(tickets[1].id, reviewer="alice", feedback="offer a voucher instead of closing")
        print("   approved the refund with amount 100.0; rejected close_account")

    print("3) a fresh runner resumes the session with the decisions")
    async with agent_gate(db) as gate:
        runner, plugin = build_runner(gate, [say("Refunded 100.00 on A-17; your account stays open.")],
                                      SqliteSessionService(sessions_db))
        events = await plugin.resume(runner, user_id="bob", session_id=session.id)
        print(f"   agent: {[p.text for e in events if e.content for p in e.content.parts or [] if p.text][-1]}")
        print(f"   refund ticket execution: {(await gate.get_ticket(tickets[0].id)).execution}")


if __name__ == "__main__":
    asyncio.run(main())
