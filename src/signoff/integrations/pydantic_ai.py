"""signoff for Pydantic AI: a toolset whose calls the policy gates, using deferred tools for approvals.

::

    tools = SignoffToolset(FunctionToolset([issue_refund, lookup_order]), gate=gate, agent="support-bot")
    agent = Agent(model, toolsets=[tools], output_type=[str, DeferredToolRequests])

    result = await agent.run("refund order A-17")
    if isinstance(result.output, DeferredToolRequests):
        tickets = await tools.submit(result)       # one batch; the message history rides along
    # later, in any process, after the reviewers decided:
    history, results = await tools.resume(tickets[0].id)
    result = await agent.run(message_history=history, deferred_tool_results=results)

Every call goes through :meth:`SignoffToolset.call_tool`: ``auto`` runs at once (the
store is not touched), ``approve`` raises the framework's ``ApprovalRequired`` so the run
ends with ``DeferredToolRequests``, which :meth:`~SignoffToolset.submit` turns into
tickets. :meth:`~SignoffToolset.resume` turns the decisions into the framework's
approval results: ``ToolApproved(override_args=...)`` for an approval (with the
reviewer's arguments when edited) and ``ToolDenied(message=...)`` carrying the
reviewer's feedback. An approved call runs at most once (``gate.execute``); an edited
call's result starts with "Note: a reviewer edited the arguments to {...}".

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
)

try:
    from pydantic_ai import RunContext
    from pydantic_ai.exceptions import ApprovalRequired
    from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse, TextPart, ToolReturn
    from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
    from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
    from pydantic_ai.toolsets.abstract import ToolsetTool
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("pydantic_ai", "pydantic-ai", _exc) from _exc

__all__ = ["SignoffToolset"]

_FRAMEWORK = "pydantic-ai"


def _turn_text(messages: list[ModelMessage]) -> str:
    """The model's words in its last response (the reviewer reads them as the reasoning)."""
    for m in reversed(messages):
        if isinstance(m, ModelResponse):
            return "\n".join(p.content for p in m.parts if isinstance(p, TextPart)).strip()
    return ""


class _Shared:
    """What every per-run copy of the toolset shares: the policy flow and the decisions it resumes with."""

    def __init__(self, gate: GateLike, agent: str, describe: Describe | None) -> None:
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.approved: dict[str, Decision] = {}


@dataclass
class SignoffToolset(WrapperToolset[Any]):
    """Wrap a toolset so that signoff's policy decides each call (see the module docstring).

    Args:
        wrapped: the toolset to gate (``FunctionToolset([...])``, an MCP server...).
        gate: the signoff Gate.
        agent: the agent's name on tickets.
        describe: ``describe(tool_name, args) -> dict`` of extra Action fields (tags, external...).
    """

    gate: GateLike = field(kw_only=True)
    agent: str = field(default="", kw_only=True)
    describe: Describe | None = field(default=None, kw_only=True)
    shared: _Shared | None = field(default=None, kw_only=True, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.wrapped, AbstractToolset):
            raise UserError(f"SignoffToolset wraps a pydantic_ai toolset (e.g. FunctionToolset([...])), "
                            f"got {type(self.wrapped).__name__}")
        if self.shared is None:  # per-run copies (dataclasses.replace) keep the same one
            self.shared = _Shared(self.gate, self.agent, self.describe)

    @property
    def _s(self) -> _Shared:
        assert self.shared is not None
        return self.shared

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any],
                        tool: ToolsetTool[Any]) -> Any:
        core = self._s.core
        call_id = ctx.tool_call_id or ""
        if ctx.tool_call_approved:
            decision = self._s.approved.get(call_id)
            if decision is not None:
                return await self._run_approved(decision, name, ctx, tool)
        [step] = core.plan([ToolCall(id=call_id, name=name, args=tool_args)], reasoning=_turn_text(ctx.messages))
        if step.passes:
            return await super().call_tool(name, tool_args, ctx, tool)
        if step.forced or step.outcome.level is Level.APPROVE:
            if ctx.tool_call_approved:  # approved, but not through signoff: fail closed
                return (f"The call to {name} did not run: it needs a reviewer's approval through signoff and "
                        f"none was found for call {call_id}.")
            raise ApprovalRequired(metadata={"signoff": {
                "level": step.outcome.level.value, "rules": list(step.outcome.matched_rules),
                "reasons": [r.message for r in step.outcome.reasons]}})
        await core.submit([step])  # notify: recorded in the feed; deny / suggest: audited, not run
        assert step.decision is not None
        if step.decision.approved:
            return await super().call_tool(name, tool_args, ctx, tool)
        return refusal_text(step.decision)

    async def _run_approved(self, decision: Decision, name: str, ctx: RunContext[Any], tool: ToolsetTool[Any]) -> Any:
        async def run(**kwargs: Any) -> Any:
            return await WrapperToolset.call_tool(self, name, kwargs, ctx, tool)

        try:
            result = await self._s.core.gate.execute(decision, run)
        except AlreadyExecuted as exc:
            return f"The call to {name} was not run again: {exc}"
        if not decision.edited:
            return result
        note = edited_note(decision.args)
        if isinstance(result, str):
            return f"{note}\n\nTool result:\n{result}"
        if isinstance(result, ToolReturn):
            return result  # the tool already shapes what the model sees
        return ToolReturn(return_value=result, content=note)

    # -- pause -------------------------------------------------------------------------------
    async def submit(self, result: Any) -> list[Ticket]:
        """Queue the run's approval requests as one batch, with the message history to resume from.

        ``result`` is the ``AgentRunResult`` whose output is ``DeferredToolRequests``. Returns the
        tickets (empty when there is nothing to approve); any of their ids resumes the run.
        """
        requests = getattr(result, "output", None)
        if not isinstance(requests, DeferredToolRequests):
            raise UserError("submit() takes an agent run result whose output is DeferredToolRequests; add "
                            "DeferredToolRequests to the agent's output_type")
        if not requests.approvals:
            return []
        messages: list[ModelMessage] = result.all_messages()
        calls = [ToolCall(id=p.tool_call_id, name=p.tool_name, args=p.args_as_dict()) for p in requests.approvals]
        steps = self._s.core.plan(calls, reasoning=_turn_text(messages))
        for s in steps:
            s.forced = True  # the framework deferred it for approval: a person decides
        history = ModelMessagesTypeAdapter.dump_json(messages).decode()
        # A call the policy now denies outright gets no ticket; its refusal rides with the first ticket.
        queued = [s for s in steps if s.needs_ticket]
        denied = [s for s in steps if not s.needs_ticket]
        await self._s.core.submit(denied)  # audited; decision "denied"
        states: list[Any] = [{"framework": _FRAMEWORK, "tool_call_id": s.call.id} for s in queued]
        if states:
            states[0].update(messages=history, denied={s.call.id: refusal_text(s.decision) for s in denied
                                                       if s.decision is not None})
        await self._s.core.submit(queued, states=states)
        return [s.ticket for s in steps if s.ticket is not None]

    # -- resume ------------------------------------------------------------------------------
    async def resume(self, ticket_id: str, *, timeout: float | None = None
                     ) -> tuple[list[ModelMessage], DeferredToolResults]:
        """Wait for every decision of the batch, then return ``(message_history, deferred_tool_results)``
        for ``agent.run(message_history=..., deferred_tool_results=...)``. From any process.

        Raises ``signoff.StillPending`` when ``timeout`` seconds pass first.
        """
        gate = self._s.core.gate
        ticket = await gate.get_ticket(ticket_id)
        batch = await gate.list_tickets(batch=ticket.batch_id, limit=10_000) if ticket.batch_id else [ticket]
        results = DeferredToolResults()
        history: str | None = None
        for t in batch:
            decision = await gate.wait(t.id, timeout=timeout)
            _, state = await gate.resume(t.id)
            if not isinstance(state, Mapping) or state.get("framework") != _FRAMEWORK:
                raise UserError(f"ticket {t.id} was not queued by signoff.integrations.pydantic_ai")
            call_id = str(state["tool_call_id"])
            if "messages" in state:
                history = str(state["messages"])
                for denied_id, text in dict(state.get("denied") or {}).items():
                    results.approvals[str(denied_id)] = ToolDenied(str(text))
            results.approvals[call_id] = self.approval(call_id, decision, original=t)
        if history is None:
            raise UserError(f"no message history stored with the batch of ticket {ticket_id}")
        return ModelMessagesTypeAdapter.validate_json(history), results

    def approval(self, call_id: str, decision: Decision, *,
                 original: Ticket | None = None) -> ToolApproved | ToolDenied:
        """The framework's approval result for one decision (and remember it for the run that follows)."""
        if decision.approved:
            self._s.approved[call_id] = decision
            if decision.edited and original is not None:
                self._s.core.remember_edit(original.action)
            return ToolApproved(override_args=decision.args if decision.edited else None)
        return ToolDenied(refusal_text(decision))
