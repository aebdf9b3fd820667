"""signoff for Strands Agents: an intervention whose "ask" is a signoff ticket.

::

    signoff_hitl = SignoffIntervention(gate, agent="support-bot", wait=30)
    agent = Agent(model=model, tools=[issue_refund, lookup_order], interventions=[signoff_hitl])

    result = await agent.invoke_async("refund order A-17")
    while result.stop_reason == "interrupt":           # nobody decided within ``wait``
        ...                                            # later (the agent's session may be restored)
        result = await agent.invoke_async(signoff_hitl.responses(result))

Strands calls :meth:`SignoffIntervention.before_tool_call` before every tool call
(``BeforeToolCallEvent``). ``auto`` returns ``Proceed`` without touching the store;
``notify`` runs and is recorded; ``deny`` / ``suggest`` return ``Deny`` with the policy's
reasons; ``approve`` queues a ticket (its idempotency key is the call's ``toolUseId``) and
waits up to ``wait`` seconds. Decided: the call runs (with the reviewer's arguments, at most
once through ``gate.execute``, its result starting with "Note: a reviewer edited...") or is
cancelled with the reviewer's feedback. Still pending: ``event.interrupt`` pauses the agent
(``stop_reason == "interrupt"``) with the ticket id in the interrupt's ``reason``.

Resuming runs the hook again for the same call and reads the ticket again: the interrupt's
response is never the decision, so a forged ``"yes"`` cannot run a call that is pending or
rejected (a still-pending ticket raises a new interrupt). Strands tools have no approval flag
of their own; another intervention (Strands' ``HumanInTheLoop``) listed with this one still
holds, because any ``Deny`` stops the call (the stricter wins).

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from signoff._errors import AlreadyExecuted
from signoff._gatelike import GateLike
from signoff._model import Decision
from signoff.integrations._common import (
    Describe,
    Step,
    ToolCall,
    ToolGate,
    idempotency_key,
    missing_extra,
    pending_text,
)

try:
    from strands.agent import AgentResult
    from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent
    from strands.interventions import Deny, InterventionAction, InterventionHandler, OnError, Proceed
    from strands.types.tools import AgentTool, ToolSpec, ToolUse
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("strands", "strands", _exc) from _exc

__all__ = ["INTERRUPT_NAME", "SignoffIntervention"]

_FRAMEWORK = "strands"
INTERRUPT_NAME = "signoff"
"""Interrupts this intervention raises are named ``signoff:1``, ``signoff:2``... (one per pause of a call)."""
_MAX_PAUSES = 10_000


def _args(tool_use: ToolUse) -> Mapping[str, Any]:
    value = tool_use.get("input")
    return value if isinstance(value, Mapping) else {"_input": value}


def _turn(event: BeforeToolCallEvent, tool_use_id: str) -> tuple[str, list[ToolCall]]:
    """The model's words (the reviewer reads them as reasoning) and every call of the message that asked
    for this call (they are queued as one batch)."""
    for message in reversed(event.agent.messages[-4:]):
        content = message.get("content") or []
        uses = [block["toolUse"] for block in content if "toolUse" in block]
        if any(use.get("toolUseId") == tool_use_id for use in uses):
            text = "\n".join(str(block["text"]) for block in content if block.get("text")).strip()
            return text, [ToolCall(id=str(u["toolUseId"]), name=str(u["name"]), args=_args(u)) for u in uses]
    return "", []


def _paused_before(event: BeforeToolCallEvent, tool_use_id: str) -> bool:
    """Whether this call paused on a signoff interrupt before (so this run is a resume).

    Strands keeps the raised interrupts until the tool cycle ends, in the agent's interrupt
    state (persisted by its session managers). Unknown shape: assume a resume (the store is asked)."""
    interrupts = getattr(getattr(event.agent, "_interrupt_state", None), "interrupts", None)
    if not isinstance(interrupts, Mapping):
        return True
    for interrupt in interrupts.values():
        reason = getattr(interrupt, "reason", None)
        if (str(getattr(interrupt, "name", "")).startswith(INTERRUPT_NAME + ":") and isinstance(reason, Mapping)
                and reason.get("tool_use_id") == tool_use_id):
            return True
    return False


class _ExecutedOnce(AgentTool):
    """The approved tool, run through ``gate.execute``: at most once per approval, its outcome recorded."""

    def __init__(self, tool: AgentTool, gate: GateLike, decision: Decision) -> None:
        super().__init__()
        self._tool, self._gate, self._decision = tool, gate, decision

    @property
    def tool_name(self) -> str:
        return self._tool.tool_name

    @property
    def tool_spec(self) -> ToolSpec:
        return self._tool.tool_spec

    @property
    def tool_type(self) -> str:
        return self._tool.tool_type

    async def stream(self, tool_use: ToolUse, invocation_state: dict[str, Any],
                     **kwargs: Any) -> AsyncGenerator[Any, None]:
        events: list[Any] = []

        async def run(**_: Any) -> None:  # the arguments are in tool_use (the reviewer's when edited)
            async for ev in self._tool.stream(tool_use, invocation_state, **kwargs):
                events.append(ev)

        try:
            await self._gate.execute(self._decision, run)
        except AlreadyExecuted as exc:
            raise RuntimeError(f"The call to {self.tool_name} was not run again: {exc}") from exc
        for ev in events:
            yield ev


class SignoffIntervention(InterventionHandler):
    """A Strands intervention: the policy gates every tool call; approvals are signoff tickets.

    Args:
        gate: a ``signoff.Gate`` or ``Gate.remote(...)``.
        agent: the agent's name on tickets (and in policy ``match: {agent: ...}``).
        describe: ``describe(tool_name, args) -> dict`` of extra Action fields (tags, external...).
        wait: seconds to wait for a reviewer inside the tool call before pausing the agent with
            an interrupt (0: pause at once).
    """

    name = "signoff"

    def __init__(self, gate: GateLike, *, agent: str = "", describe: Describe | None = None,
                 wait: float = 0.0) -> None:
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.wait = wait
        self._notes: dict[str, str] = {}
        self._in_flight: dict[tuple[str, ...], asyncio.Future[list[Step]]] = {}

    @property
    def gate(self) -> GateLike:
        return self.core.gate

    @property
    def on_error(self) -> OnError:
        """A failing gate (store down, bad policy) denies the call: fail closed."""
        return "deny"

    async def before_tool_call(self, event: BeforeToolCallEvent, **kwargs: Any) -> InterventionAction:
        """The policy's verdict on one call: Proceed, Deny, or an interrupt while a reviewer has not decided."""
        tool_use = event.tool_use
        call = ToolCall(id=str(tool_use["toolUseId"]), name=str(tool_use["name"]), args=_args(tool_use))
        resumed = _paused_before(event, call.id)
        [step] = self.core.plan([call])
        if step.passes and not resumed:
            return Proceed()
        text, turn = _turn(event, call.id)
        [step] = self.core.plan([call], reasoning=text)
        key = self._key(call)
        if resumed:
            await self.core.adopt([step], [key])  # the ticket decides, whatever the policy says now
        if step.ticket is None and step.decision is None:
            if step.needs_ticket:
                await self._queue(step, turn, text)
            else:
                await self.core.submit([step])  # deny / suggest without a ticket: audited
        if not await self.core.collect([step], timeout=self.wait):
            self._pause(event, step)
        [verdict] = self.core.verdicts([step])
        if not verdict.run:
            return Deny(reason=verdict.text)
        if verdict.decision is not None:  # reviewed: run once, recorded; with the reviewer's arguments
            if verdict.edited:
                event.tool_use = {**tool_use, "input": dict(verdict.args)}
                self._notes[call.id] = verdict.text
            if event.selected_tool is not None:
                event.selected_tool = _ExecutedOnce(event.selected_tool, self.core.gate, verdict.decision)
        return Proceed()

    def after_tool_call(self, event: AfterToolCallEvent, **kwargs: Any) -> Proceed:
        """An edited call's result starts with the note saying so (the model must not retry the original)."""
        note = self._notes.pop(str(event.tool_use.get("toolUseId")), "")
        if note and not event.cancel_message:  # cancelled after us (another intervention): it did not run
            result = event.result
            event.result = {**result, "content": [{"text": note}, *result.get("content", [])]}
        return Proceed()

    def _key(self, call: ToolCall) -> str:
        return idempotency_key(_FRAMEWORK, self.core.agent, call.id)

    async def _queue(self, step: Step, turn: list[ToolCall], text: str) -> None:
        """Queue this call with the model turn's other calls that need a person: ONE batch.

        Strands runs the hooks of one turn's calls concurrently (or one after the other); the first
        submits the batch, the others share that submission while it is in flight, and later ones
        find their tickets by idempotency key (no duplicates)."""
        others = [s for s in self.core.plan([c for c in turn if c.id != step.call.id], reasoning=text)
                  if s.needs_ticket]
        order = {c.id: i for i, c in enumerate(turn)}
        steps = sorted([step, *others], key=lambda s: order.get(s.call.id, -1))
        keys = [self._key(s.call) for s in steps]
        flight = tuple(sorted(keys))
        shared = self._in_flight.get(flight)
        if shared is None:
            shared = asyncio.ensure_future(self.core.submit(
                steps, keys=keys, states=[{"framework": _FRAMEWORK, "tool_use_id": s.call.id} for s in steps]))
            self._in_flight[flight] = shared
            shared.add_done_callback(lambda _: self._in_flight.pop(flight, None))
        queued = await asyncio.shield(shared)
        if step not in queued:  # another call's hook submitted the batch: take this call's ticket from it
            mine = next(s for s in queued if s.call.id == step.call.id)
            step.ticket, step.decision = mine.ticket, mine.decision

    @staticmethod
    def _pause(event: BeforeToolCallEvent, step: Step) -> None:
        """Raise Strands' interrupt for this call; each pause of the same call gets a new name."""
        assert step.ticket is not None
        reason = {"ticket_id": step.ticket.id, "tool": step.call.name, "tool_use_id": step.call.id,
                  "message": pending_text(step.call.name, step.ticket.id)}
        for n in itertools.count(1):  # signoff:1 answered on an earlier resume: raise signoff:2...
            if n > _MAX_PAUSES:
                raise RuntimeError(f"tool call {step.call.id} paused more than {_MAX_PAUSES} times")
            event.interrupt(f"{INTERRUPT_NAME}:{n}", reason=reason)

    @staticmethod
    def responses(result: AgentResult) -> list[Any]:
        """The prompt that resumes a run paused by signoff: one ``interruptResponse`` per signoff interrupt.

        The response is only "check again" (the ticket id): the hook reads the decision from the store."""
        return [{"interruptResponse": {"interruptId": i.id, "response": dict(i.reason or {}).get("ticket_id", "")}}
                for i in result.interrupts or [] if str(i.name).startswith(INTERRUPT_NAME + ":")]
