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

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NotRequired

from signoff._decisions import decision_of
from signoff._errors import AlreadyExecuted, Conflict, UserError
from signoff._gatelike import GateLike
from signoff._model import Ticket
from signoff.integrations._common import Describe, Step, ToolCall, ToolGate, Verdict, idempotency_key, missing_extra

try:
    from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
    from langchain_core.runnables import RunnableConfig, RunnableLambda
    from langgraph.config import get_config
    from langgraph.errors import GraphInterrupt
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


_HITL_DECISIONS = ["approve", "edit", "reject"]
"""The HumanInTheLoopMiddleware decisions signoff accepts ("respond" has no signoff meaning)."""


@dataclass(frozen=True)
class _HitlDecision:
    """One checked HumanInTheLoopMiddleware decision, for the ticket at the same position."""

    kind: str
    args: dict[str, Any] | None = None
    message: str = ""


def _listed(steps: Sequence[Step]) -> list[Step]:
    """The calls a turn's interrupt asks about, in order: those still waiting for a decision."""
    return [s for s in steps if s.pending]


def _no_reviewer_error() -> UserError:
    return UserError(
        "this graph was resumed with HumanInTheLoopMiddleware decisions (Command(resume={'decisions': [...]})), "
        "but SignoffMiddleware does not know which reviewer they come from: decisions come through signoff "
        "(the inbox, `signoff tickets approve/reject`, the API or gate.approve / gate.reject), then "
        "resume(graph, gate, ticket_id) continues the run. To accept decisions from this UI instead, "
        "construct SignoffMiddleware(gate, ..., reviewer=\"NAME\") with the signoff reviewer the UI speaks "
        "for: they are then made as that reviewer, with its tier.")


def _hitl_decisions(answer: Any, listed: Sequence[Step]) -> list[_HitlDecision] | None:
    """The resume value as checked decisions; None when it is not a HITL answer (then the gate is read)."""
    if not isinstance(answer, Mapping):
        return None
    if "decisions" not in answer:
        if answer.get("type") in (*_HITL_DECISIONS, "respond"):
            raise UserError("SignoffMiddleware pauses once per model turn, like HumanInTheLoopMiddleware's "
                            "'batched' mode: resume with {'decisions': [one decision per action request]}, "
                            f"not a single decision ({dict(answer)!r})")
        return None
    decisions = answer["decisions"]
    if not isinstance(decisions, Sequence) or isinstance(decisions, (str, bytes)):
        raise UserError(f"'decisions' must be a list, got {type(decisions).__name__}")
    if len(decisions) != len(listed):
        waiting = ", ".join(f"{s.call.name} ({s.ticket.id if s.ticket else '-'})" for s in listed)
        raise UserError(f"{len(decisions)} decisions for {len(listed)} action request(s) ({waiting}): "
                        "give one decision per action request, in their order")
    out = []
    for i, (d, s) in enumerate(zip(decisions, listed, strict=True)):
        where = f"decisions[{i}] ({s.call.name})"
        kind = d.get("type") if isinstance(d, Mapping) else None
        if kind == "respond":
            raise UserError(f"{where}: signoff has no 'respond' decision (a reviewer answering in the tool's "
                            "place); use {'type': 'reject', 'message': ...} to tell the model instead")
        if kind not in _HITL_DECISIONS:
            raise UserError(f"{where}: expected a decision of type {', '.join(_HITL_DECISIONS)}, got {d!r}")
        assert isinstance(d, Mapping)
        if kind == "edit":
            edited = d.get("edited_action")
            if not isinstance(edited, Mapping):
                raise UserError(f"{where}: an edit needs 'edited_action': {{'name': ..., 'args': {{...}}}}")
            if edited.get("name") != s.call.name:
                raise UserError(f"{where}: an edit cannot switch tools ({s.call.name!r} to "
                                f"{edited.get('name')!r}); reject the call and tell the model instead")
            if not isinstance(edited.get("args"), Mapping):
                raise UserError(f"{where}: edited_action.args must be an object, got "
                                f"{type(edited.get('args')).__name__}")
            out.append(_HitlDecision("edit", args=dict(edited["args"])))
        elif kind == "reject":
            message = d.get("message", "")
            if not isinstance(message, str):
                raise UserError(f"{where}: a reject message must be a string, got {type(message).__name__}")
            out.append(_HitlDecision("reject", message=message))
        else:
            out.append(_HitlDecision("approve"))
    return out


def _already(t: Ticket, d: _HitlDecision, reviewer: str) -> bool:
    """Whether the ticket already reflects ``d`` (LangGraph replays a node's earlier resume values)."""
    if t.status == "pending":
        return d.kind != "reject" and reviewer in t.approvals
    if d.kind == "reject":
        return t.status != "approved"
    if t.status != "approved":
        return False
    if d.kind == "edit":
        return dict(t.executable_action.args) == d.args
    return t.edited_args is None or reviewer in t.decided_by


def _conflict(t: Ticket, d: _HitlDecision, reviewer: str) -> Conflict:
    who = ", ".join(t.decided_by) or "signoff"
    return Conflict(f"ticket {t.id} ({t.action.name}) was already {t.status} by {who}; the {d.kind!r} decision "
                    f"from {reviewer} was not applied. Resume with a decision that agrees, or with "
                    f"resume(graph, gate, {t.id!r}) to go on with the decision taken.")


def _description(s: Step) -> str:
    """What a HITL UI shows for one call: the ticket, where it stands, why, and the call itself."""
    t = s.ticket
    assert t is not None
    if t.status == "pending":
        need = f"{t.required_approvals} approval(s)" + (f" of tier {t.tier} or above" if t.tier else "")
        so_far = f"; approved so far by {', '.join(t.approvals)}" if t.approvals else ""
        head = f"signoff ticket {t.id} waits for {need}{so_far}."
    else:
        head = f"signoff ticket {t.id} was already {t.status} by {', '.join(t.decided_by) or 'signoff'}."
    why = " ".join(r.message for r in t.reasons if r.message)
    args = json.dumps(dict(s.call.args), ensure_ascii=False, sort_keys=True, default=str)
    return f"{head}\n{why}\n\nTool: {s.call.name}\nArgs: {args}".replace("\n\n\n", "\n\n")


class _LangGraphGate:
    """The flow both entry points share: plan, batch, interrupt while pending, verdicts."""

    def __init__(self, gate: GateLike, *, agent: str, wait: float, describe: Describe | None,
                 reviewer: str | None = None) -> None:
        if wait < 0:
            raise UserError(f"wait must be >= 0 seconds, got {wait}")
        if reviewer is not None and (not isinstance(reviewer, str) or not reviewer.strip()):
            raise UserError(f"reviewer must be a signoff reviewer's name, got {reviewer!r}")
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.wait = wait
        self.reviewer = reviewer

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
        """The interrupt's value: signoff's own keys, and LangChain's ``HITLRequest`` (``action_requests``
        and ``review_configs``, exactly as HumanInTheLoopMiddleware writes them) for UIs built for it."""
        waiting = [s for s in steps if s.pending]
        listed = _listed(steps)
        allowed = list(_HITL_DECISIONS) if self.reviewer is not None else []
        return {
            "type": "signoff",
            "description": f"{len(waiting)} tool call(s) wait for a reviewer in signoff",
            "batch_id": next((s.ticket.batch_id for s in waiting if s.ticket is not None), None),
            "tickets": [s.ticket.id for s in waiting if s.ticket is not None],
            "calls": [
                {"ticket_id": s.ticket.id, "status": s.ticket.status, "tool_call_id": s.call.id,
                 "name": s.call.name, "args": dict(s.call.args), "level": s.ticket.level.value,
                 "reasons": [r.message for r in s.ticket.reasons]}
                for s in listed if s.ticket is not None
            ],
            "action_requests": [{"name": s.call.name, "args": dict(s.call.args), "description": _description(s)}
                                for s in listed],
            "review_configs": [{"action_name": s.call.name, "allowed_decisions": list(allowed)} for s in listed],
        }

    def _checked(self, answer: Any, steps: list[Step]) -> list[tuple[Step, _HitlDecision]]:
        """The HITL decisions in a resume value, checked and paired with their calls (empty: none given)."""
        listed = _listed(steps)
        decisions = _hitl_decisions(answer, listed)
        if decisions is None:
            return []
        if self.reviewer is None:
            raise _no_reviewer_error()
        return list(zip(listed, decisions, strict=True))

    def _decide_sync(self, answer: Any, steps: list[Step]) -> bool:
        """Apply the HITL decisions in ``answer`` as the reviewer; False when it holds none."""
        pairs = self._checked(answer, steps)
        gate, reviewer = self.core.gate, self.reviewer
        for s, d in pairs:
            assert s.ticket is not None and reviewer is not None
            t = gate.get_ticket_sync(s.ticket.id)
            if _already(t, d, reviewer):
                continue
            if t.status != "pending":
                raise _conflict(t, d, reviewer)
            if d.kind == "reject":
                s.ticket = gate.reject_sync(t.id, reviewer=reviewer, feedback=d.message)
            else:  # the ticket as decided: a pause that follows shows it
                s.ticket = gate.approve_sync(t.id, reviewer=reviewer, args=d.args)
        return bool(pairs)

    async def _decide(self, answer: Any, steps: list[Step]) -> bool:
        pairs = self._checked(answer, steps)
        gate, reviewer = self.core.gate, self.reviewer
        for s, d in pairs:
            assert s.ticket is not None and reviewer is not None
            t = await gate.get_ticket(s.ticket.id)
            if _already(t, d, reviewer):
                continue
            if t.status != "pending":
                raise _conflict(t, d, reviewer)
            if d.kind == "reject":
                s.ticket = await gate.reject(t.id, reviewer=reviewer, feedback=d.message)
            else:  # the ticket as decided: a pause that follows shows it
                s.ticket = await gate.approve(t.id, reviewer=reviewer, args=d.args)
        return bool(pairs)

    def _pause_again(self, paused: GraphInterrupt, steps: list[Step]) -> GraphInterrupt:
        """The pause LangGraph was about to make, with a value that shows the decisions just applied."""
        return GraphInterrupt([dataclasses.replace(i, value=self.request(steps)) for i in paused.args[0]])

    # How a resume works: LangGraph re-runs the node and hands back, in order, the value of every
    # interrupt() it already answered (replays), then the new one; the interrupt() after that
    # pauses. Only the newest value is this resume's: replays were applied when they were new,
    # perhaps as another reviewer (four eyes, two UIs), so applying them again here would decide
    # in this reviewer's name what someone else said. So the last value is applied when the next
    # interrupt() is about to pause: then the run goes on, or pauses showing the new state.
    # Any value that is not HITL decisions only makes the node read the gate again: the
    # decisions always come from the gate, so a made-up answer decides nothing.
    def verdicts_sync(self, msg: AIMessage, config: Mapping[str, Any] | None) -> list[Verdict] | None:
        t, resuming = self.turn(msg, config)
        if t is None:
            return None
        if resuming:
            self.core.adopt_sync(t.steps, t.keys)
            if all(s.passes for s in t.steps):
                return None
        self.core.submit_sync(t.steps, keys=t.keys, states=t.states)
        answers: list[Any] = []
        while not self.core.collect_sync(t.steps, timeout=0.0 if answers else self.wait):
            try:
                answers.append(interrupt(self.request(t.steps)))
            except GraphInterrupt as paused:
                if not answers or not self._decide_sync(answers[-1], t.steps):
                    raise
                if self.core.collect_sync(t.steps):
                    break
                raise self._pause_again(paused, t.steps) from None
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
        answers: list[Any] = []
        while not await self.core.collect(t.steps, timeout=0.0 if answers else self.wait):
            try:
                answers.append(interrupt(self.request(t.steps)))
            except GraphInterrupt as paused:
                if not answers or not await self._decide(answers[-1], t.steps):
                    raise
                if await self.core.collect(t.steps):
                    break
                raise self._pause_again(paused, t.steps) from None
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
            reviewer: the signoff reviewer a UI built for ``HumanInTheLoopMiddleware`` speaks for: its
                ``Command(resume={"decisions": [...]})`` then decides the tickets as that reviewer
                (tier, four eyes and "not your own" apply). Without it such decisions raise
                ``UserError``: decisions come through signoff.
        """

        state_schema = _SignoffState

        def __init__(self, gate: GateLike, *, agent: str = "", wait: float = 0.0,
                     describe: Describe | None = None, reviewer: str | None = None) -> None:
            super().__init__()
            self._flow = _LangGraphGate(gate, agent=agent, wait=wait, describe=describe, reviewer=reviewer)

        @property
        def gate(self) -> GateLike:
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
        gate, agent, wait, describe, reviewer: as for :class:`SignoffMiddleware`.
        name: the node's name (``"tools"``).
        handle_tool_errors: passed to ``ToolNode``.
    """

    def __init__(self, tools: Sequence[BaseTool | Callable[..., Any]], *, gate: GateLike, agent: str = "",
                 wait: float = 0.0, describe: Describe | None = None, name: str = "tools",
                 handle_tool_errors: Any = True, messages_key: str = "messages",
                 reviewer: str | None = None) -> None:
        self._flow = _LangGraphGate(gate, agent=agent, wait=wait, describe=describe, reviewer=reviewer)
        self._key = messages_key
        self.tool_node = ToolNode(tools, name=name, handle_tool_errors=handle_tool_errors, messages_key=messages_key,
                                  wrap_tool_call=self._flow.wrap_sync, awrap_tool_call=self._flow.wrap)
        super().__init__(self._run, afunc=self._arun, name=name)

    @property
    def gate(self) -> GateLike:
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


async def aresume(graph: Any, gate: GateLike, ticket_id: str, *, config: RunnableConfig | None = None) -> Any:
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


def resume(graph: Any, gate: GateLike, ticket_id: str, *, config: RunnableConfig | None = None) -> Any:
    """Sync twin of :func:`aresume` (keep in sync): ``graph.invoke`` in the calling thread."""
    ticket = gate.get_ticket_sync(ticket_id)
    batch = gate.list_tickets_sync(batch=ticket.batch_id, limit=10_000) if ticket.batch_id else [ticket]
    for t in batch:
        if t.kind == "approval":
            gate.wait_sync(t.id)
    _, state = gate.resume_sync(ticket_id)
    thread = _thread(ticket_id, state)
    return graph.invoke(Command(resume={"signoff": ticket_id}), _resume_config(thread, config))
