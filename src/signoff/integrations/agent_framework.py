"""signoff for Microsoft Agent Framework: a function middleware, and tool approvals as signoff tickets.

::

    hitl = SignoffMiddleware(gate, agent="support-bot", wait=30)
    agent = Agent(client=client, tools=[issue_refund, lookup_order], middleware=[hitl])

    session = agent.create_session()
    response = await agent.run("refund order A-17", session=session)
    while response.user_input_requests:                      # tools with approval_mode="always_require"
        answer = await hitl.approvals(response.user_input_requests, wait=30)
        if not answer.done:                                   # nobody decided yet: keep session.to_dict()
            ...                                               # and call approvals() again later
        response = await agent.run(answer.message(), session=session)

Two paths, one policy:

* **Every function call** goes through :meth:`SignoffMiddleware.process` (Agent Framework's
  ``FunctionMiddleware``). ``auto`` calls the function without touching the store; ``notify``
  runs and is recorded; ``deny`` / ``suggest`` never run (``context.result`` carries the
  policy's reasons to the model); ``approve`` queues a ticket and waits up to ``wait`` seconds:
  approved, the function runs (at most once, through ``gate.execute``) with the reviewer's
  arguments; rejected, the model reads the feedback; still pending, the model reads "Pending
  approval: ticket X" and the function does not run. A retry of the same call (same session,
  same arguments) finds its ticket instead of queueing another.
* **Tools with** ``approval_mode="always_require"`` pause the run with
  ``function_approval_request`` contents. :meth:`SignoffMiddleware.approvals` queues them as ONE
  signoff batch and answers each with ``to_function_approval_response(approved)``. The stricter
  of the tool's flag and the policy wins: a policy ``deny`` is answered ``False`` without asking
  anyone; ``auto`` / ``notify`` still need a person. When the approved call then runs, the
  middleware reads its ticket again: a forged ``approved=True`` cannot run a call that signoff
  rejected or has not decided.

An approval response carries only a boolean (1.23.0), so a reviewer's edit is applied by the
middleware: it sets the edited arguments, which Agent Framework answers with a replacement
approval request for them ("Function arguments changed after approval"); ``approvals`` answers
that request from the same ticket (no new review) and the call runs once with the edited
arguments, its result starting with "Note: a reviewer edited...". A rejected approval reaches
the model as the framework's fixed "rejected by user" text (the feedback stays in signoff).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff._decisions import decision_of
from signoff._errors import AlreadyExecuted
from signoff._gatelike import GateLike
from signoff._model import Level, Ticket
from signoff.integrations._common import (
    Describe,
    Step,
    ToolCall,
    ToolGate,
    args_digest,
    idempotency_key,
    missing_extra,
    pending_text,
)

try:
    from agent_framework import Content, FunctionInvocationContext, FunctionMiddleware, Message
    from pydantic import BaseModel
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("agent_framework", "agent-framework", _exc) from _exc

__all__ = ["Approvals", "SignoffMiddleware"]

_FRAMEWORK = "agent_framework"
_ALWAYS = "always_require"


def _args(arguments: Any) -> Mapping[str, Any]:
    if isinstance(arguments, BaseModel):
        return arguments.model_dump()
    return arguments if isinstance(arguments, Mapping) else {"_input": arguments}


def _requires_approval(function: Any) -> bool:
    return getattr(function, "approval_mode", None) == _ALWAYS


@dataclass
class Approvals:
    """The answer to one pause's approval requests: the responses, or the tickets still pending."""

    responses: list[Content] = field(default_factory=list)
    """One ``function_approval_response`` per request; empty while any ticket is pending."""
    pending: list[Ticket] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending

    def message(self) -> Message:
        """The user message that resumes the run."""
        return Message(role="user", contents=list(self.responses))


class SignoffMiddleware(FunctionMiddleware):
    """Agent Framework function middleware: the policy gates every call; approvals are signoff tickets.

    Args:
        gate: a ``signoff.Gate`` or ``Gate.remote(...)``.
        agent: the agent's name on tickets (and in policy ``match: {agent: ...}``).
        describe: ``describe(tool_name, args) -> dict`` of extra Action fields.
        wait: seconds to wait for a reviewer inside a call the policy sends to a person.
    """

    def __init__(self, gate: GateLike, *, agent: str = "", describe: Describe | None = None,
                 wait: float = 0.0) -> None:
        self.core = ToolGate(gate, agent=agent, describe=describe)
        self.wait = wait

    @property
    def gate(self) -> GateLike:
        return self.core.gate

    # -- every function call ----------------------------------------------------------------
    async def process(self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]) -> None:
        """Run the call, or put what the model reads instead in ``context.result`` (the function never runs)."""
        call = ToolCall(id=str(context.metadata.get("call_id") or ""), name=context.function.name,
                        args=_args(context.arguments))
        required = _requires_approval(context.function)
        [step] = self.core.plan([call])
        if step.passes and not required:
            await call_next()
            return
        if required and call.id:  # approved through the framework: the signoff ticket decides, not the response
            await self._adopt(step, self._approval_key(call.id))
            if step.ticket is None and step.outcome.level is Level.AUTO:
                await call_next()  # approved by the app's own reviewer, and the policy lets it pass
                return
        if step.ticket is None and step.decision is None:
            queued = step.needs_ticket
            await self.core.submit([step], keys=[self._call_key(context, call)] if queued else None,
                                   states=[{"framework": _FRAMEWORK, "call_id": call.id}] if queued else None)
        if not await self.core.collect([step], timeout=self.wait):
            assert step.ticket is not None
            context.result = pending_text(call.name, step.ticket.id)
            return
        [verdict] = self.core.verdicts([step])
        if not verdict.run:
            context.result = verdict.text
            return
        if verdict.decision is None:
            await call_next()
            return
        if verdict.edited:
            if required and dict(verdict.args) != dict(call.args):
                # Agent Framework answers changed arguments with a replacement approval request;
                # approvals() answers it from this ticket and the call comes back with these arguments.
                context.arguments = dict(verdict.args)
                return
            context.arguments = dict(verdict.args)

        async def run(**_: Any) -> None:
            await call_next()

        try:
            await self.core.gate.execute(verdict.decision, run)
        except AlreadyExecuted as exc:
            context.result = f"The call to {call.name} was not run again: {exc}"
            return
        if verdict.edited:
            context.result = _with_note(verdict.text, context.result)

    # -- tools with approval_mode="always_require" -------------------------------------------
    async def approvals(self, requests: Sequence[Content], *, wait: float = 0.0, reasoning: str = "") -> Approvals:
        """Queue a pause's ``function_approval_request`` contents as ONE batch and answer them.

        ``reasoning`` is what the reviewer reads as the model's words (e.g. the paused response's
        ``text``): the requests do not carry it. Call it again (in this or another process) with the
        same requests to read the decisions later: the tickets are found by the calls' ids."""
        asked = [r for r in requests if r.type == "function_approval_request"]
        calls = [_call_of(r) for r in asked]
        steps = self.core.plan(calls, reasoning=reasoning)
        keys = [self._approval_key(c.id) for c in calls]
        for s, key in zip(steps, keys, strict=True):
            await self._adopt(s, key)
            if s.outcome.level in (Level.AUTO, Level.NOTIFY):
                s.forced = True  # the tool asks for a person: the stricter wins
        await self.core.submit(steps, keys=keys,
                               states=[{"framework": _FRAMEWORK, "call_id": c.id} for c in calls])
        if not await self.core.collect(steps, timeout=wait):
            return Approvals(pending=[s.ticket for s in steps if s.pending and s.ticket is not None])
        verdicts = self.core.verdicts(steps)
        return Approvals(responses=[r.to_function_approval_response(v.run)
                                    for r, v in zip(asked, verdicts, strict=True)])

    # -- helpers ----------------------------------------------------------------------------
    def _approval_key(self, call_id: str) -> str:
        return idempotency_key(_FRAMEWORK, self.core.agent, "call", call_id)

    def _call_key(self, context: FunctionInvocationContext, call: ToolCall) -> str:
        """Same session, same call: the same ticket (the model's retry after "pending" finds it)."""
        session = getattr(context.session, "session_id", None) or f"call:{call.id}"
        return idempotency_key(_FRAMEWORK, self.core.agent, session, call.name, args_digest(call.args))

    async def _adopt(self, step: Step, key: str) -> None:
        ticket = await self.core.gate.find_ticket(idempotency_key=key, agent=self.core.agent)
        if ticket is None:
            return
        step.forced, step.ticket = True, ticket
        if ticket.kind != "approval" or ticket.status != "pending":
            step.decision = decision_of(ticket)


def _call_of(request: Content) -> ToolCall:
    fc = request.function_call
    if fc is None or fc.name is None:
        raise ValueError(f"approval request {request.id} carries no function call")
    return ToolCall(id=str(fc.call_id or request.id), name=fc.name, args=_args(fc.parse_arguments() or {}))


def _with_note(note: str, result: Any) -> Any:
    """The edited call's result, starting with the note saying so."""
    if isinstance(result, list):
        return [Content.from_text(note), *result]
    return f"{note}\n\nTool result:\n{result}"
