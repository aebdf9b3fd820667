"""A gating MCP proxy: any MCP client gets an upstream server's tools, each call decided by policy.

``signoff mcp-proxy --policy policy.yaml --db sqlite:///signoff.db -- python my_server.py``
runs :class:`GatingProxy`: an MCP server (the ``mcp`` package's low-level ``Server``, on
stdio) that connects to the upstream server as a client (a stdio subprocess, or
streamable HTTP with ``--upstream-url``). It presents itself as the upstream (its name,
version, instructions and capabilities) and relays everything it does not gate: prompts,
resources (and their subscriptions), completion, logging, list-changed notifications, and
the upstream's ``roots/list`` requests to the client. It gates every ``tools/call``:

* ``auto``: passed straight through (the store is not touched);
* ``notify``: passed through and recorded in the reviewers' feed;
* ``approve``: queued as a ticket, then the proxy waits for the decision (up to ``wait``
  seconds, 50 by default: less than the 60 s request timeout of the common clients,
  whose timers progress notifications do not reset). Approved: the call runs upstream
  once, with the reviewer's arguments. Rejected: the result is the reviewer's feedback.
  Still pending: "Pending approval: ticket X ...";
* ``deny`` / ``suggest``: not run; ``isError: true`` with the policy's reasons.

**Asking again.** A call's idempotency key is derived from who asks (``--session`` if
pinned, the agent name, the client's ``clientInfo.name``), the tool and its canonical
arguments, plus a generation. So the identical call retried, by this process or by a new
proxy process after the client restarted, finds its ticket: pending, it says so;
approved and not yet run, it runs (the gate's execution claim makes that at most once);
refused and not yet told, it gets the refusal. Once a ticket's answer was given (or its
approval used), the next generation's key is used: an identical call is a new request.

**A client that left.** A call whose client cancelled it (``notifications/cancelled``)
or went away stops waiting and never runs behind the client's back: its ticket stays
for the retry. A call already running upstream when the cancellation arrives finishes,
so that its execution record is true.

Every answer the proxy writes itself (pending, rejected, denied) has ``isError: true``:
the tool did not run, and a tool with an ``outputSchema`` may only return a non-error
result that carries conforming structured content, which the proxy cannot invent.

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio

from signoff._errors import AlreadyExecuted, StillPending, UserError
from signoff._gatelike import GateLike
from signoff._model import Decision, Level, Ticket, canonical_json, utcnow
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
    from mcp.client.session import ClientRequestContext, ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.models import InitializationOptions
    from mcp.server.session import ServerSession
    from mcp.server.stdio import stdio_server
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("mcp", "mcp", _exc) from _exc

__all__ = ["REASONING_ARG", "ClientRelay", "GatingProxy", "connect_upstream"]

REASONING_ARG = "_reasoning"
"""The optional argument the proxy adds to every tool's input schema: the model's reasoning for
the reviewer. The proxy removes it before the policy sees the arguments and before the call
reaches the upstream (unless the upstream tool declares an argument of that name itself)."""

_REASONING_SCHEMA = {
    "type": "string",
    "description": "Why you want to make this call, for the human who may have to approve it. "
                   "Removed before the call reaches the tool.",
}
_REFUSED = ("rejected", "expired", "aborted", "cancelled")


class ClientRelay:
    """The upstream session's callbacks: what the upstream sends reaches the proxy's client.

    It is created before the upstream connects (the callbacks are fixed then) and learns the
    client's session when the client has initialized.
    """

    def __init__(self) -> None:
        self.client: ServerSession | None = None

    async def list_roots(self, ctx: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        client = self.client
        if client is None or client.client_capabilities is None or client.client_capabilities.roots is None:
            return types.ErrorData(code=types.METHOD_NOT_FOUND,
                                   message="the MCP client behind signoff's proxy does not offer roots")
        return await client.list_roots()

    async def on_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, Exception):
            print(f"signoff mcp-proxy: upstream transport error: {message}", file=sys.stderr)
            return
        if self.client is None or isinstance(message, (types.ProgressNotification, types.CancelledNotification)):
            return  # progress of a relayed call goes through its own callback
        try:
            await self.client.send_notification(message)
        except Exception as exc:  # the client left: nothing to tell
            print(f"signoff mcp-proxy: could not relay {message.method}: {exc}", file=sys.stderr)


@asynccontextmanager
async def connect_upstream(command: Sequence[str] | None = None, *, url: str | None = None,
                           cwd: str | None = None, relay: ClientRelay | None = None
                           ) -> AsyncIterator[ClientSession]:
    """An initialized client session to the upstream server: a stdio ``command`` or a streamable HTTP ``url``.

    With ``relay``, the upstream's notifications and ``roots/list`` requests go to the client
    the relay learns (see :class:`GatingProxy`).
    """
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
    callbacks: dict[str, Any] = {}
    if relay is not None:
        callbacks = {"list_roots_callback": relay.list_roots, "message_handler": relay.on_message}
    async with transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write, **callbacks) as session:
            await session.initialize()
            yield session


def _text_result(text: str, *, is_error: bool) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=is_error)


def _with_note(result: types.CallToolResult, note: str) -> types.CallToolResult:
    return result.model_copy(update={"content": [types.TextContent(text=note), *result.content]})


def _result_text(result: types.CallToolResult, limit: int = 500) -> str:
    text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent)) or "(no text)"
    return text if len(text) <= limit else text[:limit] + "..."


class _ToolFailed(Exception):
    """The upstream answered ``isError: true``: the execution is recorded as failed."""

    def __init__(self, result: types.CallToolResult) -> None:
        super().__init__(f"the tool answered isError: {_result_text(result)}")
        self.result = result


class GatingProxy:
    """The proxy's behaviour, independent of transports (see the module docstring).

    Args:
        gate: the signoff Gate.
        upstream: an initialized client session to the upstream server (see :func:`connect_upstream`).
        agent: the agent's name on tickets.
        wait: seconds an ``approve`` call waits for the decision before answering "pending". Keep
            it under the client's request timeout (60 s for the common clients).
        session: pins the scope of "same call, same ticket" (default: the agent and the client's name).
        progress_interval: seconds between progress notifications while waiting.
        relay: the relay given to :func:`connect_upstream` (without one, nothing upstream-initiated
            reaches the client).
        proxy_reasoning: when the policy requires a reasoning and the model gave none (in
            ``_reasoning``), write one that says it came from the proxy; False refuses such calls.
        answer_window: seconds during which a refusal made while no call waited is still the answer
            to an identical call from another proxy process (this process knows what it told).
    """

    def __init__(self, gate: GateLike, upstream: ClientSession, *, agent: str = "", wait: float = 50.0,
                 session: str | None = None, progress_interval: float = 5.0,
                 describe: Describe | None = None, name: str | None = None, relay: ClientRelay | None = None,
                 proxy_reasoning: bool = True, answer_window: float = 600.0) -> None:
        if wait < 0:
            raise UserError(f"--wait must be >= 0 seconds, got {wait}")
        if progress_interval <= 0:
            raise UserError(f"progress_interval must be > 0 seconds, got {progress_interval}")
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.upstream = upstream
        self.wait = wait
        self.session = session or ""
        self.progress_interval = progress_interval
        self.proxy_reasoning = proxy_reasoning
        self.answer_window = answer_window
        self.relay = relay or ClientRelay()
        self._generation: dict[str, int] = {}
        self._told: dict[str, str] = {}
        """key -> "pending" (the client was told to ask again, or left) or "answered"."""
        self._waiting: set[str] = set()
        """Calls left pending: asked again, their ticket decides even if the policy now says auto."""
        self._own_reasoning: set[str] = set()
        """Tools whose upstream schema has an argument named ``_reasoning`` itself: left alone."""
        init = upstream.initialize_result
        self.server: Server[Any] = self._build_server(init, name)
        self.init_options = self._init_options(init, name)

    # -- what the client sees: the upstream's identity and capabilities -------------------------
    def _build_server(self, init: types.InitializeResult | None, name: str | None) -> Server[Any]:
        info = init.server_info if init is not None else None
        caps = init.capabilities if init is not None else types.ServerCapabilities()
        up = self.upstream
        handlers: dict[str, Any] = {"on_list_tools": self._list_tools, "on_call_tool": self._call_tool}
        if caps.prompts is not None:
            handlers["on_list_prompts"] = lambda ctx, p: up.list_prompts(params=p)
            handlers["on_get_prompt"] = lambda ctx, p: up.get_prompt(p.name, p.arguments)
        if caps.resources is not None:
            handlers["on_list_resources"] = lambda ctx, p: up.list_resources(params=p)
            handlers["on_list_resource_templates"] = lambda ctx, p: up.list_resource_templates(params=p)
            handlers["on_read_resource"] = lambda ctx, p: up.read_resource(p.uri)
            if caps.resources.subscribe:
                handlers["on_subscribe_resource"] = lambda ctx, p: up.subscribe_resource(p.uri)
                handlers["on_unsubscribe_resource"] = lambda ctx, p: up.unsubscribe_resource(p.uri)
        if caps.completions is not None:
            handlers["on_completion"] = lambda ctx, p: up.complete(p.ref, p.argument.model_dump(),
                                                                    context_arguments=(p.context.arguments
                                                                                       if p.context else None))
        server: Server[Any] = Server(
            name or (info.name if info else "signoff-mcp-proxy"), version=info.version if info else "",
            title=info.title if info else None, description=info.description if info else None,
            instructions=init.instructions if init else None, website_url=info.website_url if info else None,
            icons=info.icons if info else None, **handlers)
        if caps.logging is not None:
            server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        server.add_notification_handler("notifications/roots/list_changed", types.NotificationParams,
                                        self._roots_changed)
        server.add_notification_handler("notifications/initialized", types.NotificationParams, self._initialized)
        return server

    def _init_options(self, init: types.InitializeResult | None, name: str | None) -> InitializationOptions:
        if init is None:
            return self.server.create_initialization_options()
        info = init.server_info
        return InitializationOptions(
            server_name=name or info.name, server_version=info.version, title=info.title,
            description=info.description, capabilities=init.capabilities, instructions=init.instructions,
            website_url=info.website_url, icons=info.icons)

    async def serve_stdio(self) -> None:
        """Serve MCP on this process's stdin/stdout until the client disconnects."""
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.init_options)

    # -- relayed -----------------------------------------------------------------------------------
    async def _initialized(self, ctx: ServerRequestContext[Any], params: types.NotificationParams) -> None:
        self.relay.client = ctx.session

    async def _roots_changed(self, ctx: ServerRequestContext[Any], params: types.NotificationParams) -> None:
        await self.upstream.send_roots_list_changed()

    async def _set_level(self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
                         ) -> types.EmptyResult:
        with warnings.catch_warnings():  # relayed as the client asked, deprecated or not
            warnings.simplefilter("ignore")
            return await self.upstream.set_logging_level(params.level)

    async def _list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                          ) -> types.ListToolsResult:
        self.relay.client = ctx.session
        cursor = params.cursor if params is not None else None
        upstream = await self.upstream.list_tools(
            params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        return types.ListToolsResult(tools=[self._with_reasoning_arg(t) for t in upstream.tools],
                                     next_cursor=upstream.next_cursor)

    def _with_reasoning_arg(self, tool: types.Tool) -> types.Tool:
        schema = dict(tool.input_schema)
        props = dict(schema.get("properties") or {})
        if REASONING_ARG in props:
            self._own_reasoning.add(tool.name)
            return tool
        self._own_reasoning.discard(tool.name)
        schema["properties"] = {**props, REASONING_ARG: dict(_REASONING_SCHEMA)}
        return tool.model_copy(update={"input_schema": schema})

    # -- gated -------------------------------------------------------------------------------------
    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                         ) -> types.CallToolResult:
        self.relay.client = ctx.session
        return await self.call(params.name, dict(params.arguments or {}), ctx=ctx)

    async def _forward(self, name: str, args: Mapping[str, Any], ctx: ServerRequestContext[Any] | None = None
                       ) -> types.CallToolResult:
        token = (ctx.meta or {}).get("progress_token") if ctx is not None else None
        callback = None
        if token is not None and ctx is not None:
            session, rid = ctx.session, ctx.request_id

            async def callback(progress: float, total: float | None, message: str | None) -> None:
                await session.send_progress_notification(token, progress=progress, total=total, message=message,
                                                         related_request_id=str(rid) if rid is not None else None)

        result = await self.upstream.call_tool(name, dict(args), progress_callback=callback)
        if not isinstance(result, types.CallToolResult):  # pragma: no cover - input-required flows
            return _text_result(f"The upstream server answered {name} with a result the proxy cannot relay.",
                                is_error=True)
        return result

    def _client_name(self, ctx: ServerRequestContext[Any] | None) -> str:
        params = ctx.session.client_params if ctx is not None else None
        return params.client_info.name if params is not None else ""

    def _base(self, name: str, args: Mapping[str, Any], client: str) -> str:
        """Who asks for what: the stable part of the call's idempotency key."""
        body = canonical_json({"s": self.session, "c": client, "a": self.core.agent, "n": name, "args": dict(args)})
        return hashlib.sha256(body.encode()).hexdigest()[:32]

    async def call(self, name: str, args: dict[str, Any], *, ctx: ServerRequestContext[Any] | None = None
                   ) -> types.CallToolResult:
        """Gate one ``tools/call``."""
        core = self.core
        reasoning = ""
        if REASONING_ARG in args and name not in self._own_reasoning:
            given = args.pop(REASONING_ARG)
            if not isinstance(given, str):
                return _text_result(f"The call to {name} did not run: its {REASONING_ARG} argument must be a "
                                    f"string, got {type(given).__name__}.", is_error=True)
            reasoning = given.strip()
        client = self._client_name(ctx)
        base = self._base(name, args, client)
        [step] = core.plan([ToolCall(id="", name=name, args=args)], reasoning=reasoning)
        if step.passes and base not in self._waiting:
            return await self._forward(name, args, ctx)
        step.forced = True if step.passes else step.forced  # asked before: its ticket answers, not the policy
        if step.outcome.require_reasoning and not reasoning and (step.forced or step.outcome.level is Level.APPROVE):
            if not self.proxy_reasoning:
                return _text_result(f"The call to {name} did not run: this policy requires a reasoning for it. "
                                    f"Call it again with a {REASONING_ARG} argument saying why.", is_error=True)
            by = f" from {client}" if client else ""
            [step] = core.plan([ToolCall(id="", name=name, args=args)], reasoning=(
                f"[written by signoff mcp-proxy, not by the model: the call carried no {REASONING_ARG}] "
                f"MCP tools/call {name}{by}"), context={"reasoning_source": "signoff-mcp-proxy"})
            step.forced = True if step.passes else step.forced
        if not (step.forced or step.outcome.level is Level.APPROVE):
            await core.submit([step])  # notify: recorded; deny / suggest: audited
            assert step.decision is not None
            if step.decision.approved:
                return await self._forward(name, args, ctx)
            return _text_result(refusal_text(step.decision), is_error=True)
        decision, key = await self._approval(step, base, name, ctx)
        if decision is None:
            assert step.ticket is not None
            return _text_result(pending_text(name, step.ticket.id), is_error=True)
        self._told[key] = "answered"
        self._waiting.discard(base)
        if decision.edited:
            core.remember_edit(step.action)
        if not decision.approved:
            return _text_result(refusal_text(decision), is_error=True)
        await anyio.lowlevel.checkpoint_if_cancelled()  # the client left: do not run behind its back
        # From the claim on, the run and its record finish even if the client cancels now.
        with anyio.CancelScope(shield=True):
            try:
                result: types.CallToolResult = await core.gate.execute(decision, lambda **kw: self._run(name, kw, ctx))
            except AlreadyExecuted as exc:
                return _text_result(f"The call to {name} was not run again: {exc}", is_error=True)
            except _ToolFailed as exc:
                result = exc.result
        return _with_note(result, edited_note(decision.args)) if decision.edited else result

    async def _run(self, name: str, args: Mapping[str, Any], ctx: ServerRequestContext[Any] | None
                   ) -> types.CallToolResult:
        result = await self._forward(name, args, ctx)
        if result.is_error:
            raise _ToolFailed(result)
        return result

    async def _find(self, step: Step, base: str) -> tuple[Ticket, str]:
        """The ticket this call maps to: an open one under its key, or a new one (next generation)."""
        gate = self.core.gate
        n = self._generation.get(base, 0)
        while True:
            key = f"mcp:{base}:{n}"
            t = await gate.find_ticket(idempotency_key=key)
            if t is None:
                step.ticket = step.decision = None
                await self.core.submit([step], keys=[key])
                assert step.ticket is not None
                t = step.ticket
            self._generation[base] = n
            if self._open(t, key):
                return t, key
            n += 1

    def _open(self, t: Ticket, key: str) -> bool:
        """Is this ticket still the answer to the call (not answered yet, approval not used)?"""
        if t.status == "pending":
            return True
        if t.status == "approved":
            return t.execution == "none"
        told = self._told.get(key)
        if told is not None:
            return told == "pending"  # this process told the client to ask again: the answer is due
        decided = t.decided_at or t.created_at
        return utcnow() - decided <= timedelta(seconds=self.answer_window)

    async def _approval(self, step: Step, base: str, name: str, ctx: ServerRequestContext[Any] | None
                        ) -> tuple[Decision | None, str]:
        """Find or queue the ticket and wait for its decision; None when the wait is over first."""
        gate = self.core.gate
        t, key = await self._find(step, base)
        step.ticket = t
        if t.status != "pending":
            return await gate.wait(t.id, timeout=0), key
        token = (ctx.meta or {}).get("progress_token") if ctx is not None else None
        started = time.monotonic()
        deadline = started + self.wait
        self._told[key] = "pending"  # until answered: a client that leaves now asks again later
        self._waiting.add(base)
        while True:
            if token is not None and ctx is not None:
                await ctx.session.send_progress_notification(
                    token, progress=round(time.monotonic() - started, 3), total=self.wait or None,
                    message=f"waiting for a reviewer to approve {name}: ticket {t.id}",
                    related_request_id=str(ctx.request_id) if ctx.request_id is not None else None)
            remaining = deadline - time.monotonic()
            try:
                decision = await gate.wait(t.id, timeout=max(0.0, min(self.progress_interval, remaining)))
            except StillPending:
                if time.monotonic() >= deadline:
                    return None, key
                continue
            return decision, key
