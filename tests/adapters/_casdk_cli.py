"""A scripted stand-in for the Claude Code CLI behind claude-agent-sdk's ``Transport``, offline.

It speaks the SDK's control protocol as claude-agent-sdk 0.2.189's ``Query`` does: answers
``initialize`` (keeping the hook callback ids), and on the user's prompt asks about each
scripted tool call the way the CLI would: a ``hook_callback`` control request for a registered
``PreToolUse`` hook, else a ``can_use_tool`` one. It records the SDK's answers, then ends the
turn with a ``result``. No model, no subprocess.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from claude_agent_sdk import Transport

SESSION = "sess-fake"


class ScriptedCLI(Transport):
    def __init__(self, calls: list[tuple[str, dict[str, Any]]], *, honours_on_failure: bool = True) -> None:
        self.calls = calls
        self.honours_on_failure = honours_on_failure
        self.hooks: dict[str, Any] = {}
        """The hooks the SDK registered in ``initialize`` (matcher, callback ids, timeout, onFailure)."""
        self.answers: list[dict[str, Any]] = []
        """The SDK's control responses, one per scripted call (what the CLI would act on)."""
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pre_tool_use: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        pass

    def is_ready(self) -> bool:
        return True

    async def end_input(self) -> None:
        pass

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()

    async def write(self, data: str) -> None:
        msg = json.loads(data)
        if msg["type"] == "control_request" and msg["request"]["subtype"] == "initialize":
            self.hooks = msg["request"].get("hooks") or {}
            for matcher in self.hooks.get("PreToolUse", []):
                self._pre_tool_use += matcher["hookCallbackIds"]
            await self._out.put({"type": "control_response", "response": {
                "subtype": "success", "request_id": msg["request_id"],
                "response": {"hook_on_failure_supported": True} if self.honours_on_failure else {}}})
        elif msg["type"] == "control_response":
            self._waiting.pop(msg["response"]["request_id"]).set_result(msg["response"])
        elif msg["type"] == "user":
            self._tasks.append(asyncio.create_task(self._turn()))

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id = f"cli_{len(self.answers)}_{len(self._waiting)}"
        self._waiting[request_id] = asyncio.get_running_loop().create_future()
        fut = self._waiting[request_id]
        await self._out.put({"type": "control_request", "request_id": request_id, "request": request})
        return await fut

    async def _turn(self) -> None:
        for i, (name, tool_input) in enumerate(self.calls):
            tool_use_id = f"toolu_{i}"
            if self._pre_tool_use:
                request = {"subtype": "hook_callback", "callback_id": self._pre_tool_use[0], "tool_use_id": tool_use_id,
                           "input": {"session_id": SESSION, "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp",
                                     "permission_mode": "default", "hook_event_name": "PreToolUse",
                                     "tool_name": name, "tool_input": tool_input, "tool_use_id": tool_use_id}}
            else:
                request = {"subtype": "can_use_tool", "tool_name": name, "input": tool_input,
                           "tool_use_id": tool_use_id, "permission_suggestions": []}
            self.answers.append(await self._ask(request))
        await self._out.put({"type": "result", "subtype": "success", "duration_ms": 1, "duration_api_ms": 1,
                             "is_error": False, "num_turns": 1, "session_id": SESSION, "result": "done"})
        await self._out.put(None)

    async def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        while (msg := await self._out.get()) is not None:
            yield msg
