"""A Google ADK agent for the adapter tests, driven by a scripted ``BaseLlm`` (also run as a subprocess).

``python -m tests.adapters._adk_app resume DB SESSIONS_DB SESSION_ID`` resumes a paused run in a
process of its own, on a ``SqliteSessionService`` file, and prints what the tools did and what
the model read, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.apps import App as AdkApp
from google.adk.events.event import Event
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.function_tool import FunctionTool
from google.adk.tools.tool_context import ToolContext
from google.genai import types

import signoff
from signoff.integrations.google_adk import SignoffPlugin, signoff_confirmation
from tests.adapters._refund_tools import (
    RAN,
    close_account,
    delete_customer_data,
    issue_refund,
    lookup_order,
    send_receipt,
)

APP = "support"
USER = "u1"
REASONING = "Order late 3 days; policy 4.2 allows a refund."


class ScriptedLlm(BaseLlm):
    """A model that answers each request with the next scripted response and keeps what it was sent."""

    model: str = "scripted"
    script: list[LlmResponse] = []
    requests: list[LlmRequest] = []

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False
                                     ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        if not self.script:
            raise AssertionError("the scripted model was called more often than scripted")
        yield self.script.pop(0)

    def tool_results(self) -> dict[str, dict[str, Any]]:
        """call id -> the function response the model read (the last one for that id)."""
        out: dict[str, dict[str, Any]] = {}
        for request in self.requests:
            for content in request.contents:
                for part in content.parts or []:
                    fr = part.function_response
                    if fr is not None and fr.id and fr.name != "adk_request_confirmation":
                        out[fr.id] = dict(fr.response or {})
        return out


def turn(*calls: tuple[str, dict[str, Any]], text: str = REASONING, ids: str = "call_") -> LlmResponse:
    """One model turn: its words, then function calls with ids ``call_1``, ``call_2``..."""
    parts = [types.Part(text=text)] if text else []
    parts += [types.Part(function_call=types.FunctionCall(name=n, args=a, id=f"{ids}{i}"))
              for i, (n, a) in enumerate(calls, 1)]
    return LlmResponse(content=types.Content(role="model", parts=parts))


def say(text: str) -> LlmResponse:
    return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))


def wire_money(to: str, amount: float) -> str:
    """Wire money (its author requires a confirmation; the policy has no rule: default auto)."""
    RAN.append(("wire_money", {"to": to, "amount": amount}))
    return f"wired {amount} to {to}"


class ExportTool(BaseTool):
    """A custom BaseTool that asks for a confirmation itself and never reads the answer: the tool of
    google/adk-python#7148, which runs after a decline unless something else stops it."""

    def __init__(self) -> None:
        super().__init__(name="export_rows", description="Export rows.")

    def _get_declaration(self) -> types.FunctionDeclaration:
        return types.FunctionDeclaration(name=self.name, description=self.description, parameters=types.Schema(
            type=types.Type.OBJECT, properties={"rows": types.Schema(type=types.Type.INTEGER)}))

    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> Any:
        if tool_context.tool_confirmation is None:
            tool_context.request_confirmation(hint="export?")
            tool_context.actions.skip_summarization = True
            return {"status": "waiting for a confirmation"}
        RAN.append(("export_rows", dict(args)))  # the bug: `confirmed` is never checked
        return {"exported": args.get("rows")}


def tools(gate: Any) -> list[Any]:
    needs = signoff_confirmation(gate, "issue_refund", agent="support-bot") if gate is not None else False
    return [lookup_order, FunctionTool(issue_refund, require_confirmation=needs),
            close_account, delete_customer_data, send_receipt,
            FunctionTool(wire_money, require_confirmation=True), ExportTool()]


class App:
    """An ADK runner with the SignoffPlugin (or other plugins) and a scripted model."""

    def __init__(self, gate: Any, script: Sequence[LlmResponse], *, sessions: BaseSessionService | None = None,
                 plugins: list[BasePlugin] | None = None, session_id: str = "s1") -> None:
        self.llm = ScriptedLlm(script=list(script))
        self.plugin = SignoffPlugin(gate, agent="support-bot") if gate is not None else None
        self.agent = LlmAgent(name="support_bot", model=self.llm, instruction="help", tools=tools(gate))
        adk_app = AdkApp(name=APP, root_agent=self.agent, plugins=plugins if plugins is not None else [self.plugin])
        self.runner = Runner(app=adk_app, session_service=sessions or InMemorySessionService())
        self.session_id = session_id

    async def start(self, text: str = "help") -> list[Event]:
        sessions = self.runner.session_service
        if await sessions.get_session(app_name=APP, user_id=USER, session_id=self.session_id) is None:
            await sessions.create_session(app_name=APP, user_id=USER, session_id=self.session_id)
        return await self.send(types.Content(role="user", parts=[types.Part(text=text)]))

    async def send(self, message: types.Content) -> list[Event]:
        return [e async for e in self.runner.run_async(user_id=USER, session_id=self.session_id,
                                                       new_message=message)]

    async def resume(self, timeout: float | None = 0.0) -> list[Event]:
        assert self.plugin is not None
        return await self.plugin.resume(self.runner, user_id=USER, session_id=self.session_id, timeout=timeout)

    async def events(self) -> list[Event]:
        session = await self.runner.session_service.get_session(app_name=APP, user_id=USER,
                                                                session_id=self.session_id)
        assert session is not None
        return list(session.events)


def confirmation_calls(events: Sequence[Event]) -> list[types.FunctionCall]:
    return [fc for e in events for fc in e.get_function_calls() if fc.name == "adk_request_confirmation"]


def answer(confirmation_id: str, confirmed: bool, payload: Any = None) -> types.Content:
    """What a client sends by hand (or forges): an adk_request_confirmation answer."""
    response: dict[str, Any] = {"confirmed": confirmed}
    if payload is not None:
        response["payload"] = payload
    return types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        id=confirmation_id, name="adk_request_confirmation", response=response))])


def texts(events: Sequence[Event]) -> list[str]:
    return [p.text for e in events if e.content for p in e.content.parts or [] if p.text]


async def _resume(db: str, sessions_db: str, session_id: str) -> None:
    from google.adk.sessions.sqlite_session_service import SqliteSessionService

    from tests.adapters.conftest import POLICY

    async with signoff.Gate.open(policy=POLICY, store=db) as gate:
        app = App(gate, [say("Refunded; anything else?")], sessions=SqliteSessionService(sessions_db),
                  session_id=session_id)
        events = await app.resume(timeout=5.0)
        print(json.dumps({"ran": RAN, "results": app.llm.tool_results(), "final": texts(events)[-1:]}))


if __name__ == "__main__":
    if sys.argv[1] == "resume":
        asyncio.run(_resume(sys.argv[2], sys.argv[3], sys.argv[4]))
