"""A gating MCP proxy: any MCP client gets an upstream server's tools, each call decided by policy.

``signoff mcp-proxy --policy policy.yaml --db sqlite:///signoff.db -- python my_server.py``
runs :class:`GatingProxy`: an MCP server (the ``mcp`` package's low-level ``Server``, on
stdio) that connects to the upstream server as a client (a stdio subprocess, or
streamable HTTP with ``--upstream-url``), lists its tools with their schemas unchanged,
and gates every ``tools/call``:

* ``auto``: passed straight through (the store is not touched);
* ``notify``: passed through and recorded in the reviewers' feed;
* ``approve``: queued as a ticket, then the proxy waits for the decision (up to
  ``wait`` seconds, sending ``notifications/progress`` when the client gave a
  ``progressToken``). Approved: the call runs upstream once, with the reviewer's
  arguments (its result then starts with "Note: a reviewer edited the arguments to
  {...}"). Rejected: the result is the reviewer's feedback. Still pending when the wait
  is over: "Pending approval: ticket X ... ask again later with the same arguments";
  the same call again (same tool, arguments and session) maps to the same ticket
  through an idempotency key, and once that ticket has been answered a new identical
  call opens a new ticket;
* ``deny`` / ``suggest``: not run; ``isError: true`` with the policy's reasons.

Every answer the proxy writes itself (pending, rejected, denied) has ``isError: true``:
the tool did not run, and a tool with an ``outputSchema`` may only return a non-error
result that carries conforming structured content, which the proxy cannot invent.

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from signoff._errors import AlreadyExecuted, StillPending, UserError
from signoff._model import Decision, Level, canonical_json
from signoff.gate import Gate
from signoff.integrations._common import (
    Describe,
    Step,
    ToolCall,
    ToolGate,
    edited_note,
    missing_extra,
    pending_text,
    refusal_text,
)

try:
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("mcp", "mcp", _exc) from _exc

__all__ = ["GatingProxy", "connect_upstream"]


@asynccontextmanager
async def connect_upstream(command: Sequence[str] | None = None, *, url: str | None = None,
                           cwd: str | None = None) -> AsyncIterator[ClientSession]:
    """An initialized client session to the upstream server: a stdio ``command`` or a streamable HTTP ``url``."""
    if (command is None) == (url is None):
        raise UserError("give the upstream MCP server either as a command (after --) or as --upstream-url, not both")
    transport: AbstractAsyncContextManager[Any]
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"--upstream-url must be an http:// or https:// URL, got {url!r}")
        transport = streamable_http_client(url)
    else:
        assert command is not None
        if not command:
            raise UserError("the upstream command is empty: put it after --, e.g. -- python server.py")
        # The upstream runs with the proxy's environment, as it would from the user's shell.
        transport = stdio_client(StdioServerParameters(command=command[0], args=list(command[1:]),
                                                       env=dict(os.environ), cwd=cwd))
    async with transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def _text_result(text: str, *, is_error: bool) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=is_error)


def _with_note(result: types.CallToolResult, note: str) -> types.CallToolResult:
    return result.model_copy(update={"content": [types.TextContent(text=note), *result.content]})


class GatingProxy:
    """The proxy's behaviour, independent of transports (see the module docstring).

    Args:
        gate: the signoff Gate.
        upstream: a client session to the upstream server (see :func:`connect_upstream`).
        agent: the agent's name on tickets.
        wait: seconds an ``approve`` call waits for the decision before answering "pending".
        session: the scope of idempotency keys: identical calls in one session share a ticket
            (default: a random id per proxy process).
        progress_interval: seconds between progress notifications while waiting.
    """

    def __init__(self, gate: Gate, upstream: ClientSession, *, agent: str = "", wait: float = 120.0,
                 session: str | None = None, progress_interval: float = 5.0,
                 describe: Describe | None = None, name: str = "signoff-mcp-proxy") -> None:
        if wait < 0:
            raise UserError(f"--wait must be >= 0 seconds, got {wait}")
        if progress_interval <= 0:
            raise UserError(f"progress_interval must be > 0 seconds, got {progress_interval}")
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.upstream = upstream
        self.wait = wait
        self.session = session or secrets.token_hex(8)
        self.progress_interval = progress_interval
        self._generation: dict[str, int] = {}
        self._waiting: set[str] = set()
        """Calls answered "pending": asked again, their ticket decides even if the policy now says auto."""
        self.server: Server[Any] = Server(name, on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    async def serve_stdio(self) -> None:
        """Serve MCP on this process's stdin/stdout until the client disconnects."""
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    # -- handlers ------------------------------------------------------------------------------
    async def _list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                          ) -> types.ListToolsResult:
        cursor = params.cursor if params is not None else None
        upstream = await self.upstream.list_tools(
            params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        return types.ListToolsResult(tools=upstream.tools, next_cursor=upstream.next_cursor)

    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                         ) -> types.CallToolResult:
        return await self.call(params.name, dict(params.arguments or {}), ctx=ctx)

    async def _forward(self, name: str, args: dict[str, Any]) -> types.CallToolResult:
        result = await self.upstream.call_tool(name, args)
        if not isinstance(result, types.CallToolResult):  # pragma: no cover - input-required flows
            return _text_result(f"The upstream server answered {name} with a result the proxy cannot relay.",
                                is_error=True)
        return result

    def _key(self, name: str, args: dict[str, Any]) -> tuple[str, str]:
        body = canonical_json({"s": self.session, "a": self.core.agent, "n": name, "args": args})
        base = hashlib.sha256(body.encode()).hexdigest()[:32]
        return base, f"mcp:{base}:{self._generation.get(base, 0)}"

    async def call(self, name: str, args: dict[str, Any], *, ctx: ServerRequestContext[Any] | None = None
                   ) -> types.CallToolResult:
        """Gate one ``tools/call``."""
        core = self.core
        [step] = core.plan([ToolCall(id="", name=name, args=args)])
        if step.passes and not (self._waiting and self._key(name, args)[0] in self._waiting):
            return await self._forward(name, args)
        step.forced = True if step.passes else step.forced  # asked before: its ticket answers, not the policy
        if not (step.forced or step.outcome.level is Level.APPROVE):
            await core.submit([step])  # notify: recorded; deny / suggest: audited
            assert step.decision is not None
            if step.decision.approved:
                return await self._forward(name, args)
            return _text_result(refusal_text(step.decision), is_error=True)
        decision = await self._approval(step, name, args, ctx)
        if decision is None:
            assert step.ticket is not None
            return _text_result(pending_text(name, step.ticket.id), is_error=True)
        if decision.edited:
            core.remember_edit(step.action)
        if not decision.approved:
            return _text_result(refusal_text(decision), is_error=True)
        try:
            result: types.CallToolResult = await core.gate.execute(decision, lambda **kw: self._forward(name, kw))
        except AlreadyExecuted as exc:
            return _text_result(f"The call to {name} was not run again: {exc}", is_error=True)
        return _with_note(result, edited_note(decision.args)) if decision.edited else result

    async def _approval(self, step: Step, name: str, args: dict[str, Any],
                        ctx: ServerRequestContext[Any] | None) -> Decision | None:
        """Queue (or find) the ticket and wait for its decision; None when the wait is over first."""
        core = self.core
        while True:
            base, key = self._key(name, args)
            step.ticket = step.decision = None
            await core.submit([step], keys=[key])
            t = step.ticket
            assert t is not None
            if t.status == "pending":
                break
            self._answered(base)
            if t.status == "approved" and t.execution != "none":
                continue  # that approval was used: this identical call is a new request
            return step.decision  # decided while nobody was waiting: this call gets the answer
        token = (ctx.meta or {}).get("progress_token") if ctx is not None else None
        started = time.monotonic()
        deadline = started + self.wait
        while True:
            if token is not None and ctx is not None:
                await ctx.session.send_progress_notification(
                    token, progress=round(time.monotonic() - started, 3), total=self.wait or None,
                    message=f"waiting for a reviewer to approve {name}: ticket {t.id}",
                    related_request_id=str(ctx.request_id) if ctx.request_id is not None else None)
            remaining = deadline - time.monotonic()
            try:
                decision = await core.gate.wait(t.id, timeout=max(0.0, min(self.progress_interval, remaining)))
            except StillPending:
                if time.monotonic() >= deadline:
                    self._waiting.add(base)
                    return None
                continue
            self._answered(base)
            return decision

    def _answered(self, base: str) -> None:
        """The ticket under this key got its answer: an identical call from now on is a new request."""
        self._generation[base] = self._generation.get(base, 0) + 1
        self._waiting.discard(base)
