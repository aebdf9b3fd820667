"""signoff for the OpenAI Agents SDK: the policy drives ``needs_approval``; interruptions become tickets.

::

    approvals = SignoffApprovals(gate, agent="support-bot")
    agent = Agent(name="support-bot", tools=approvals.tools([issue_refund, lookup_order]))

    result = await Runner.run(agent, "refund order A-17")
    if result.interruptions:                        # the policy asked for a person
        tickets = await approvals.submit(result)   # one batch; the RunState rides along
        ...                                         # this process may now exit
    # later, in any process (after reviewers decided in the inbox or the CLI):
    result = await approvals.resume(agent, tickets[0].id)

``tools()`` gives each tool a ``needs_approval`` callable that evaluates the policy (a few
microseconds; ``auto`` calls never touch the store). A tool's own ``needs_approval`` (``True``
or a callable) still holds: the stricter of the two wins, so a tool its author gated pauses
for a reviewer even where the policy says ``auto``. After a pause, ``submit`` queues every
interruption of the run as one batch and stores ``RunState.to_string()`` with it.
``resume`` waits for the decisions, rebuilds the RunState with ``RunState.from_string``,
approves or rejects each call (``state.approve`` / ``state.reject(rejection_message=...)``:
the model reads the reviewer's feedback) and continues the run with ``Runner.run``.

The SDK has no way to approve a call with other arguments, so the wrapped tool does it:
an approved call runs with the reviewer's arguments, at most once (``gate.execute``), and
its result starts with "Note: a reviewer edited the arguments to {...}". A call that
needs approval and reaches the tool without a signoff decision does not run (fail closed).

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any

from signoff._errors import AlreadyExecuted, UserError
from signoff._gatelike import GateLike
from signoff._model import Decision, Level, Ticket
from signoff.integrations._common import (
    Describe,
    ToolCall,
    ToolGate,
    edited_note,
    missing_extra,
    refusal_text,
    with_note,
)

try:
    from agents import Agent, FunctionTool, RunContextWrapper, Runner, RunResult, RunState, ToolApprovalItem
    from agents.items import ItemHelpers
    from agents.tool_context import ToolContext
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("openai_agents", "openai-agents", _exc) from _exc

__all__ = ["SignoffApprovals"]

_FRAMEWORK = "openai-agents"


def _parse_args(arguments: str | None) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"_unparsed_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": value}


def _turn_text(result: Any) -> str:
    """The model's words in the turn that asked for the tools (the reviewer reads them as reasoning)."""
    responses = getattr(result, "raw_responses", None) or []
    if not responses:
        return ""
    parts = []
    for item in responses[-1].output:
        if getattr(item, "type", None) == "message":
            text = ItemHelpers.extract_text(item)
            if text:
                parts.append(text)
    return "\n".join(parts).strip()


class SignoffApprovals:
    """Policy-driven approvals for one agent's function tools (see the module docstring).

    Args:
        gate: the signoff Gate.
        agent: the agent's name on tickets (and in policy ``match: {agent: ...}``).
        describe: ``describe(tool_name, args) -> dict`` of extra Action fields (tags, external...).
    """

    def __init__(self, gate: GateLike, *, agent: str = "", describe: Describe | None = None) -> None:
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self._approved: dict[str, Decision] = {}
        self._denied: dict[str, str] = {}

    @property
    def gate(self) -> GateLike:
        return self.core.gate

    # -- tools -----------------------------------------------------------------------------
    def tools(self, tools: Iterable[FunctionTool]) -> list[FunctionTool]:
        """The tools, each gated by :meth:`tool`."""
        return [self.tool(t) for t in tools]

    def tool(self, tool: FunctionTool) -> FunctionTool:
        """A copy of ``tool`` whose ``needs_approval`` is the policy and whose invocation obeys the decision."""
        if not isinstance(tool, FunctionTool):
            raise UserError(f"SignoffApprovals.tool() takes a FunctionTool (from @function_tool), "
                            f"got {type(tool).__name__}")
        core = self.core
        name = tool.name
        original = tool.on_invoke_tool
        own = tool.needs_approval
        if not isinstance(own, bool) and not callable(own):
            raise UserError(f"tool {name!r} has a needs_approval that is neither a bool nor a callable: "
                            f"{type(own).__name__}")

        async def author_asks(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            """The tool's own needs_approval: the policy may add a review, never lift the author's."""
            if isinstance(own, bool):
                return own
            answer: Any = own(ctx, params, call_id)
            if inspect.isawaitable(answer):
                answer = await answer
            return bool(answer)

        async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            [step] = core.plan([ToolCall(id=call_id, name=name, args=params)])
            if step.forced or step.outcome.level is Level.APPROVE:
                return True
            if step.outcome.level > Level.APPROVE:
                return False  # suggest / deny: stricter than any approval; refused in invoke
            return await author_asks(ctx, params, call_id)

        async def invoke(ctx: ToolContext[Any], input_json: str) -> Any:
            decision = self._approved.get(ctx.tool_call_id)
            if decision is not None:
                try:
                    result = await core.gate.execute(decision, lambda **kw: original(ctx, json.dumps(kw)))
                except AlreadyExecuted as exc:
                    return f"The call to {name} was not run again: {exc}"
                return with_note(edited_note(decision.args), str(result)) if decision.edited else result
            params = _parse_args(input_json)
            [step] = core.plan([ToolCall(id=ctx.tool_call_id, name=name, args=params)])
            needs_review = step.forced or step.outcome.level is Level.APPROVE or (
                step.outcome.level < Level.APPROVE and await author_asks(ctx, params, ctx.tool_call_id))
            if needs_review:  # approved on the RunState, but not through signoff: fail closed
                return (f"The call to {name} did not run: it needs a reviewer's approval through signoff and "
                        f"none was found for call {ctx.tool_call_id}.")
            if step.passes:
                return await original(ctx, input_json)
            await core.submit([step])  # notify: a record in the feed; deny / suggest: audited, not run
            assert step.decision is not None
            if step.decision.approved:
                return await original(ctx, input_json)
            return refusal_text(step.decision)

        return dataclasses.replace(tool, needs_approval=needs_approval, on_invoke_tool=invoke)

    # -- pause -------------------------------------------------------------------------------
    async def submit(self, result: RunResult, *, context_serializer: Any = None) -> list[Ticket]:
        """Queue the run's interruptions as one batch of tickets, the serialized RunState with them.

        Returns the tickets (empty when the run did not pause). Any of their ids resumes the run.
        """
        items = [i for i in result.interruptions if isinstance(i, ToolApprovalItem)]
        if not items:
            return []
        calls = [ToolCall(id=str(i.call_id or ""), name=str(i.name or "tool"), args=_parse_args(i.arguments))
                 for i in items]
        steps = self.core.plan(calls, reasoning=_turn_text(result))
        for s in steps:
            s.forced = True  # the SDK paused on it: a person decides, whatever else the policy says
        run_state = result.to_state().to_string(context_serializer=context_serializer)
        # The policy may deny a call outright by now (a mode, an edit): it gets no ticket, and the
        # first ticket's state carries its refusal for resume().
        denied = {s.call.id: refusal_text(self._denial(s)) for s in steps if s.outcome.level is Level.DENY}
        states: list[Any] = [{"framework": _FRAMEWORK, "call_id": s.call.id} for s in steps if s.needs_ticket]
        if states:
            states[0].update(run_state=run_state, denied=denied)
        queued = [s for s in steps if s.needs_ticket]
        await self.core.submit(queued, states=states)
        await self.core.submit([s for s in steps if not s.needs_ticket])  # denials: audited
        return [s.ticket for s in steps if s.ticket is not None]

    @staticmethod
    def _denial(step: Any) -> Decision:
        return Decision(status="denied", approved=False, action=step.action, reasons=step.outcome.reasons,
                        level=step.outcome.level)

    # -- resume ------------------------------------------------------------------------------
    async def decisions(self, ticket_id: str, *, timeout: float | None = None) -> tuple[dict[str, Decision], str]:
        """Wait for every decision of the batch ``ticket_id`` belongs to: ({call_id: decision}, run state)."""
        gate = self.core.gate
        ticket = await gate.get_ticket(ticket_id)
        batch = await gate.list_tickets(batch=ticket.batch_id, limit=10_000) if ticket.batch_id else [ticket]
        by_call: dict[str, Decision] = {}
        run_state: str | None = None
        for t in batch:
            decision = await gate.wait(t.id, timeout=timeout)
            _, state = await gate.resume(t.id)
            if not isinstance(state, Mapping) or state.get("framework") != _FRAMEWORK:
                raise UserError(f"ticket {t.id} was not queued by signoff.integrations.openai_agents")
            by_call[str(state["call_id"])] = decision
            if "run_state" in state:
                run_state = str(state["run_state"])
                for call_id, text in dict(state.get("denied") or {}).items():
                    self._denied[str(call_id)] = str(text)
        if run_state is None:
            raise UserError(f"no run state stored with the batch of ticket {ticket_id}")
        return by_call, run_state

    def apply(self, state: RunState[Any], decisions: Mapping[str, Decision]) -> None:
        """Approve or reject the state's interruptions as the reviewers decided."""
        for item in state.get_interruptions():
            decision = decisions.get(str(item.call_id or ""))
            if decision is None:
                denied = self._denied.get(str(item.call_id or ""))
                if denied is not None:
                    state.reject(item, rejection_message=denied)
                continue  # not ours: it stays pending and the run pauses on it again
            if decision.approved:
                self._approved[str(item.call_id)] = decision
                if decision.edited:
                    self.core.remember_edit(self.core.action(
                        ToolCall(id=str(item.call_id), name=str(item.name), args=_parse_args(item.arguments))))
                state.approve(item)
            else:
                state.reject(item, rejection_message=refusal_text(decision))

    async def resume(self, agent: Agent[Any], ticket_id: str, *, timeout: float | None = None,
                     context_override: Any = None, context_deserializer: Any = None,
                     **run_kwargs: Any) -> RunResult:
        """Continue the paused run from any process, once every call of its batch is decided.

        Raises ``signoff.StillPending`` when ``timeout`` seconds pass first. ``run_kwargs`` go to
        ``Runner.run`` (``max_turns``, ``run_config``, ``hooks``...).
        """
        decisions, run_state = await self.decisions(ticket_id, timeout=timeout)
        state = await RunState.from_string(agent, run_state, context_override=context_override,
                                           context_deserializer=context_deserializer)
        self.apply(state, decisions)
        return await Runner.run(agent, state, **run_kwargs)

