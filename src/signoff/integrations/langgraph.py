"""signoff for LangGraph and LangChain: tool calls gated by policy, paused with ``interrupt()``.

Two entry points, one behaviour:

* :class:`SignoffMiddleware` for LangChain's ``create_agent`` (the slot of its own
  ``HumanInTheLoopMiddleware``)::

      agent = create_agent(model, tools=[...], checkpointer=SqliteSaver(conn),
                           middleware=[SignoffMiddleware(gate, agent="mailer")])

* :class:`SignoffToolNode` for a hand-built ``StateGraph`` (the slot of ``ToolNode``)::

      builder.add_node("tools", SignoffToolNode([send_email, lookup], gate=gate, agent="mailer"))

After each model turn the policy decides every tool call. ``auto`` calls run at once
and the store is not touched. Calls that need a person are queued as one batch
(``gate.submit_many``) and the graph stops with ``interrupt()``; the interrupt's value
lists the ticket ids. The checkpointer holds the graph, the ticket holds the request
(its state names the thread), so another process can resume it with :func:`resume`
after the decision: no re-reasoning, no model call. The resume value is ignored on
purpose: decisions are read from the gate, so nobody can approve a call by resuming
the graph with a made-up answer.

Approved calls run with the reviewer's arguments, at most once (``gate.execute``), and
an edited call's result starts with "Note: a reviewer edited the arguments to {...}".
Rejected calls do not run: the model reads the reviewer's feedback as the tool's result.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NotRequired

from signoff._decisions import decision_of
from signoff._errors import AlreadyExecuted, UserError
from signoff.gate import Gate
from signoff.integrations._common import Describe, Step, ToolCall, ToolGate, Verdict, idempotency_key, missing_extra

try:
    from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
    from langchain_core.runnables import RunnableConfig, RunnableLambda
    from langgraph.config import get_config
    from langgraph.prebuilt import ToolNode
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.types import Command, interrupt
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("langgraph", "langgraph", _exc) from _exc

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from langgraph.runtime import Runtime

__all__ = ["STATE_KEY", "SignoffMiddleware", "SignoffToolNode", "aresume", "resume"]

STATE_KEY = "signoff_calls"
"""The state key where approved calls wait for the tool node: ``{tool_call_id: {ticket_id, args, edited}}``."""

_FRAMEWORK = "langgraph"
_RESUMING = "__pregel_resuming"
"""LangGraph's config flag for the step that resumes interrupted tasks (langgraph._internal._constants)."""
ToolResult = Any  # ToolMessage | Command


# -- shared by the middleware and the tool node ----------------------------------------------
def _last_ai_message(messages: Sequence[Any]) -> AIMessage | None:
    for m in reversed(messages):
        if isinstance(m, AIMessage):
            return m
    return None


def _calls(msg: AIMessage) -> list[ToolCall]:
    return [ToolCall(id=str(c.get("id") or ""), name=c["name"], args=dict(c.get("args") or {})) for c in msg.tool_calls]


def _scope(config: Mapping[str, Any] | None) -> tuple[str, str]:
    """(thread id, task id): the task id is stable while a node is resumed and new for every turn."""
    conf = (config or {}).get("configurable", {})
    thread = conf.get("thread_id")
    if thread is None:
        raise UserError("signoff needs a checkpointer and a thread: compile the graph with a checkpointer and "
                        "invoke it with config={'configurable': {'thread_id': ...}}")
    task = conf.get("__pregel_task_id") or conf.get("checkpoint_ns") or ""
    return str(thread), str(task)


@dataclass
class _Turn:
    steps: list[Step]
    keys: list[str | None]
    states: list[Any]


class _LangGraphGate:
    """The flow both entry points share: plan, batch, interrupt while pending, verdicts."""

    def __init__(self, gate: Gate, *, agent: str, wait: float, describe: Describe | None) -> None:
        if wait < 0:
            raise UserError(f"wait must be >= 0 seconds, got {wait}")
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.wait = wait

    def turn(self, msg: AIMessage, config: Mapping[str, Any] | None) -> tuple[_Turn | None, bool]:
        """(None, _) when every call passes: the fast path, no store, no interrupt. The flag tells
        whether this step resumes the graph (tickets queued before the pause must be honoured)."""
        calls = _calls(msg)
        if not calls:
            return None, False
        steps = self.core.plan(calls, reasoning=str(msg.text).strip())
        resuming = bool((config or {}).get("configurable", {}).get(_RESUMING))
        if all(s.passes for s in steps) and not resuming:
            return None, False
        thread, task = _scope(config)
        keys: list[str | None] = [idempotency_key(_FRAMEWORK, thread, task, c.id) for c in calls]
        states: list[Any] = [{"framework": _FRAMEWORK, "thread_id": thread, "task_id": task, "tool_call_id": c.id}
                             for c in calls]
        return _Turn(steps, keys, states), resuming

    def request(self, steps: list[Step]) -> dict[str, Any]:
        """The interrupt's value: what is waiting, and where."""
        waiting = [s for s in steps if s.pending]
        return {
            "type": "signoff",
            "description": f"{len(waiting)} tool call(s) wait for a reviewer in signoff",
            "batch_id": next((s.ticket.batch_id for s in waiting if s.ticket is not None), None),
            "tickets": [s.ticket.id for s in waiting if s.ticket is not None],
            "action_requests": [
                {"ticket_id": s.ticket.id if s.ticket else None, "tool_call_id": s.call.id, "name": s.call.name,
                 "args": dict(s.call.args), "level": s.ticket.level.value if s.ticket else s.outcome.level.value,
                 "reasons": [r.message for r in (s.ticket.reasons if s.ticket else s.outcome.reasons)]}
                for s in waiting
            ],
        }

    def verdicts_sync(self, msg: AIMessage, config: Mapping[str, Any] | None) -> list[Verdict] | None:
        t, resuming = self.turn(msg, config)
        if t is None:
            return None
        if resuming:
            self.core.adopt_sync(t.steps, t.keys)
            if all(s.passes for s in t.steps):
                return None
        self.core.submit_sync(t.steps, keys=t.keys, states=t.states)
        while not self.core.collect_sync(t.steps, timeout=self.wait):
            interrupt(self.request(t.steps))  # resumed: look again (the resume value is not trusted)
        return self.core.verdicts(t.steps)

    async def verdicts(self, msg: AIMessage, config: Mapping[str, Any] | None) -> list[Verdict] | None:
        t, resuming = self.turn(msg, config)
        if t is None:
            return None
        if resuming:
            await self.core.adopt(t.steps, t.keys)
            if all(s.passes for s in t.steps):
                return None
        await self.core.submit(t.steps, keys=t.keys, states=t.states)
        while not await self.core.collect(t.steps, timeout=self.wait):
            interrupt(self.request(t.steps))
        return self.core.verdicts(t.steps)

    # -- verdicts -> messages / state ---------------------------------------------------------
    @staticmethod
    def answers(verdicts: list[Verdict]) -> list[ToolMessage]:
        """Tool messages standing in for the calls that must not run."""
        return [ToolMessage(content=v.text, name=v.call.name, tool_call_id=v.call.id,
                            status="error" if v.is_error else "success")
                for v in verdicts if not v.run]

    @staticmethod
    def approved(verdicts: list[Verdict]) -> dict[str, dict[str, Any]]:
        """What the tool node needs to run the reviewed calls: the ticket, the arguments, the note."""
        return {v.call.id: {"ticket_id": v.decision.ticket_id, "args": dict(v.args), "edited": v.edited,
                            "note": v.text}
                for v in verdicts if v.run and v.decision is not None and v.decision.status == "approved"}

    # -- running an approved call (at most once, with the reviewer's arguments) ---------------
    def _prepare(self, request: ToolCallRequest) -> tuple[dict[str, Any] | None, ToolCallRequest]:
        calls = (request.state or {}).get(STATE_KEY) if isinstance(request.state, Mapping) else None
        info = (calls or {}).get(request.tool_call.get("id"))
        if info is None:
            return None, request
        return info, request.override(tool_call={**request.tool_call, "args": dict(info["args"])})

    def wrap_sync(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        info, request = self._prepare(request)
        if info is None:
            return handler(request)
        gate = self.core.gate
        decision = decision_of(gate.get_ticket_sync(info["ticket_id"]))
        try:
            result = gate.execute_sync(decision, lambda **_: handler(request))
        except AlreadyExecuted as exc:
            return _already_ran(request, exc)
        return _noted(result, request, info["note"])

    async def wrap(self, request: ToolCallRequest,
                   handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
        info, request = self._prepare(request)
        if info is None:
            return await handler(request)
        gate = self.core.gate
        decision = decision_of(await gate.get_ticket(info["ticket_id"]))
        try:
            result = await gate.execute(decision, lambda **_: handler(request))
        except AlreadyExecuted as exc:
            return _already_ran(request, exc)
        return _noted(result, request, info["note"])


def _already_ran(request: ToolCallRequest, exc: AlreadyExecuted) -> ToolMessage:
    call = request.tool_call
    return ToolMessage(content=f"The call to {call['name']} was not run again: {exc}", name=call["name"],
                       tool_call_id=call.get("id") or "", status="error")


def _note_message(msg: ToolMessage, note: str) -> ToolMessage:
    if isinstance(msg.content, str):
        content: Any = f"{note}\n\nTool result:\n{msg.content}" if msg.content else note
    else:
        content = [{"type": "text", "text": note}, *msg.content]
    return msg.model_copy(update={"content": content})


def _noted(result: ToolResult, request: ToolCallRequest, note: str) -> ToolResult:
    """Put the reviewer-edit note before the tool's result (a ToolMessage, or one inside a Command)."""
    if not note:
        return result
    if isinstance(result, ToolMessage):
        return _note_message(result, note)
    if isinstance(result, Command) and isinstance(result.update, dict):
        call_id = request.tool_call.get("id")
        messages = result.update.get("messages")
        if isinstance(messages, list):
            from dataclasses import replace

            noted = [_note_message(m, note) if isinstance(m, ToolMessage) and m.tool_call_id == call_id else m
                     for m in messages]
            return replace(result, update={**result.update, "messages": noted})
    return result


# -- LangChain create_agent middleware --------------------------------------------------------
try:
    from langchain.agents.middleware import AgentMiddleware, AgentState
    from langchain.agents.middleware.types import PrivateStateAttr
except ImportError:  # pragma: no cover - langgraph without langchain: only SignoffToolNode
    AgentMiddleware = None  # type: ignore[assignment,misc]

if AgentMiddleware is not None:
    class _SignoffState(AgentState[Any]):
        """``create_agent`` state plus the approved calls waiting for the tool node."""

        signoff_calls: NotRequired[Annotated[dict[str, dict[str, Any]], PrivateStateAttr]]

    class SignoffMiddleware(AgentMiddleware[Any, Any, Any]):
        """Gate ``create_agent`` tool calls by signoff's policy (in place of ``HumanInTheLoopMiddleware``).

        Args:
            gate: the signoff Gate (its store is where tickets wait).
            agent: the agent's name on tickets (reviewers with that name cannot decide them).
            wait: seconds to wait for decisions before pausing the graph with ``interrupt()``
                (0, the default: pause at once; the graph is resumed with :func:`resume`).
            describe: ``describe(tool_name, args) -> dict`` of extra Action fields (tags, external...).
        """

        state_schema = _SignoffState

        def __init__(self, gate: Gate, *, agent: str = "", wait: float = 0.0,
                     describe: Describe | None = None) -> None:
            super().__init__()
            self._flow = _LangGraphGate(gate, agent=agent, wait=wait, describe=describe)

        @property
        def gate(self) -> Gate:
            return self._flow.core.gate

        def _update(self, state: Mapping[str, Any], verdicts: list[Verdict] | None) -> dict[str, Any] | None:
            if verdicts is None:
                # Drop an earlier turn's approvals so they cannot apply to this turn's calls.
                return {STATE_KEY: {}} if state.get(STATE_KEY) else None
            return {"messages": self._flow.answers(verdicts), STATE_KEY: self._flow.approved(verdicts)}

        def after_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
            msg = _last_ai_message(state.get("messages") or [])
            if msg is None or not msg.tool_calls:
                return self._update(state, None)
            return self._update(state, self._flow.verdicts_sync(msg, get_config()))

        async def aafter_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
            msg = _last_ai_message(state.get("messages") or [])
            if msg is None or not msg.tool_calls:
                return self._update(state, None)
            return self._update(state, await self._flow.verdicts(msg, get_config()))

        def wrap_tool_call(self, request: ToolCallRequest,
                           handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
            return self._flow.wrap_sync(request, handler)

        async def awrap_tool_call(self, request: ToolCallRequest,
                                  handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
            return await self._flow.wrap(request, handler)
else:  # pragma: no cover
    def __getattr__(name: str) -> Any:
        if name == "SignoffMiddleware":
            raise missing_extra("langgraph", "langgraph", ImportError("langchain", name="langchain"))
        raise AttributeError(name)


# -- hand-built StateGraph: a ToolNode that asks signoff first ---------------------------------
class SignoffToolNode(RunnableLambda[Any, Any]):
    """A graph node that gates the last AI message's tool calls, then runs them with ``ToolNode``.

    Use it where ``ToolNode`` would go (``tools_condition`` still routes to it). The state
    must be a mapping with a ``messages`` list (``MessagesState`` or your own TypedDict).

    Args:
        tools: the tools, as for ``ToolNode``.
        gate, agent, wait, describe: as for :class:`SignoffMiddleware`.
        name: the node's name (``"tools"``).
        handle_tool_errors: passed to ``ToolNode``.
    """

    def __init__(self, tools: Sequence[BaseTool | Callable[..., Any]], *, gate: Gate, agent: str = "",
                 wait: float = 0.0, describe: Describe | None = None, name: str = "tools",
                 handle_tool_errors: Any = True, messages_key: str = "messages") -> None:
        self._flow = _LangGraphGate(gate, agent=agent, wait=wait, describe=describe)
        self._key = messages_key
        self.tool_node = ToolNode(tools, name=name, handle_tool_errors=handle_tool_errors, messages_key=messages_key,
                                  wrap_tool_call=self._flow.wrap_sync, awrap_tool_call=self._flow.wrap)
        super().__init__(self._run, afunc=self._arun, name=name)

    @property
    def gate(self) -> Gate:
        return self._flow.core.gate

    def _messages(self, state: Any) -> tuple[list[AnyMessage], AIMessage | None]:
        if not isinstance(state, Mapping):
            raise UserError(f"SignoffToolNode needs a mapping state with a {self._key!r} list, "
                            f"got {type(state).__name__}")
        messages = list(state.get(self._key) or [])
        return messages, _last_ai_message(messages)

    def _input(self, state: Mapping[str, Any], messages: list[AnyMessage], msg: AIMessage,
               verdicts: list[Verdict]) -> dict[str, Any]:
        """The state ToolNode sees: the AI message keeps only the calls that run; approvals ride along."""
        run_ids = {v.call.id for v in verdicts if v.run}
        trimmed = msg.model_copy(update={"tool_calls": [c for c in msg.tool_calls if c.get("id") in run_ids]})
        idx = max(i for i, m in enumerate(messages) if m is msg)
        return {**state, self._key: [*messages[:idx], trimmed, *messages[idx + 1:]],
                STATE_KEY: self._flow.approved(verdicts)}

    def _merge(self, output: Any, answers: list[ToolMessage]) -> Any:
        if not answers:
            return output
        if isinstance(output, dict):
            return {**output, self._key: [*output.get(self._key, []), *answers]}
        if isinstance(output, list):
            return [*output, {self._key: answers}]
        return output

    def _run(self, state: Any, config: RunnableConfig) -> Any:
        messages, msg = self._messages(state)
        if msg is None or not msg.tool_calls:
            return self.tool_node.invoke(state, config)
        verdicts = self._flow.verdicts_sync(msg, config)
        if verdicts is None:
            return self.tool_node.invoke(state, config)
        answers = self._flow.answers(verdicts)
        if not any(v.run for v in verdicts):
            return {self._key: answers}
        return self._merge(self.tool_node.invoke(self._input(state, messages, msg, verdicts), config), answers)

    async def _arun(self, state: Any, config: RunnableConfig) -> Any:
        messages, msg = self._messages(state)
        if msg is None or not msg.tool_calls:
            return await self.tool_node.ainvoke(state, config)
        verdicts = await self._flow.verdicts(msg, config)
        if verdicts is None:
            return await self.tool_node.ainvoke(state, config)
        answers = self._flow.answers(verdicts)
        if not any(v.run for v in verdicts):
            return {self._key: answers}
        return self._merge(await self.tool_node.ainvoke(self._input(state, messages, msg, verdicts), config),
                           answers)


# -- resuming a paused run -------------------------------------------------------------------
def _thread(ticket_id: str, state: Any) -> str:
    if not isinstance(state, Mapping) or state.get("framework") != _FRAMEWORK or "thread_id" not in state:
        raise UserError(f"ticket {ticket_id} was not queued by signoff.integrations.langgraph (no thread in its state)")
    return str(state["thread_id"])


def _resume_config(thread: str, config: RunnableConfig | None) -> RunnableConfig:
    base: dict[str, Any] = dict(config or {})
    base["configurable"] = {**dict(base.get("configurable") or {}), "thread_id": thread}
    return base  # type: ignore[return-value]


async def aresume(graph: Any, gate: Gate, ticket_id: str, *, config: RunnableConfig | None = None) -> Any:
    """Resume the run that queued ``ticket_id``, from any process: wait for every decision of its
    batch, then ``graph.ainvoke(Command(resume=...))`` on the ticket's thread. Returns what the graph returns."""
    ticket = await gate.get_ticket(ticket_id)
    batch = await gate.list_tickets(batch=ticket.batch_id, limit=10_000) if ticket.batch_id else [ticket]
    for t in batch:
        if t.kind == "approval":
            await gate.wait(t.id)
    _, state = await gate.resume(ticket_id)
    thread = _thread(ticket_id, state)
    return await graph.ainvoke(Command(resume={"signoff": ticket_id}), _resume_config(thread, config))


def resume(graph: Any, gate: Gate, ticket_id: str, *, config: RunnableConfig | None = None) -> Any:
    """Sync twin of :func:`aresume` (keep in sync): ``graph.invoke`` in the calling thread."""
    ticket = gate.get_ticket_sync(ticket_id)
    batch = gate.list_tickets_sync(batch=ticket.batch_id, limit=10_000) if ticket.batch_id else [ticket]
    for t in batch:
        if t.kind == "approval":
            gate.wait_sync(t.id)
    _, state = gate.resume_sync(ticket_id)
    thread = _thread(ticket_id, state)
    return graph.invoke(Command(resume={"signoff": ticket_id}), _resume_config(thread, config))
