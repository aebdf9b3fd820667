"""signoff for Google ADK: tool confirmation, ADK's own idiom, decided in signoff.

::

    plugin = SignoffPlugin(gate, agent="support-bot")
    agent = LlmAgent(name="support-bot", model=..., tools=[
        FunctionTool(issue_refund, require_confirmation=signoff_confirmation(gate, "issue_refund")),
        lookup_order])
    runner = Runner(agent=agent, app_name="support", session_service=..., plugins=[plugin])

    events = [e async for e in runner.run_async(user_id=..., session_id=..., new_message=...)]
    plugin.requests(events)          # the calls that wait on a reviewer (ticket ids)
    # later, in any process with the same session service, after reviewers decided:
    events = await plugin.resume(runner, user_id=..., session_id=...)

:class:`SignoffPlugin` is a ``BasePlugin`` whose ``before_tool_callback`` sees every tool
call of every agent on the runner. It evaluates the policy (microseconds; ``auto`` calls
never touch the store) and:

* ``auto`` / ``notify``: the tool runs (``notify`` leaves a record in the feed);
* ``deny`` / ``suggest``: the tool never runs; the model reads an ``{"error": ...}`` saying why;
* ``approve``: the call becomes a signoff ticket (all such calls of one model turn form one
  batch) and the plugin asks for ADK's tool confirmation
  (``tool_context.request_confirmation(hint=..., payload={"signoff": {"ticket_id": ...}})``),
  so the run pauses with an ``adk_request_confirmation`` call, as ADK's own confirmations do.

When the run resumes with the ``adk_request_confirmation`` answer, the plugin reads the
**ticket**, not the answer: approved, the call runs with the reviewer's (possibly edited)
arguments, at most once (``gate.execute``), and an edit is noted in the result the model
reads; rejected, the model reads the reviewer's feedback; still pending, the model is told
the call waits. An answer of ``confirmed: true`` for a ticket that is pending or rejected
runs nothing, and a declined confirmation never runs a call, whatever the tool (the plugin
refuses it before the tool is called: ADK issue #7148, where a custom tool ran after a
decline, cannot happen here). :meth:`SignoffPlugin.resume` writes the answers from the
decisions and continues the run in one call.

:func:`signoff_confirmation` is ``FunctionTool``'s ``require_confirmation`` callable asking the
policy, so ADK itself (its web UI, the resume validation) knows the tool needs a person for
these arguments. A tool's own ``require_confirmation`` (``True`` or a callable) still holds:
the stricter of the tool and the policy wins. Enforcement and tickets need the plugin on
the runner; without it ADK's plain yes/no confirmation applies.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from signoff._errors import AlreadyExecuted, StillPending, UserError
from signoff._gatelike import GateLike
from signoff._model import Decision, Level, Ticket, explain
from signoff.integrations._adk_requests import (
    PAYLOAD_KEY,
    SignoffRequest,
    confirmation_part,
    open_requests,
)
from signoff.integrations._common import (
    Describe,
    Step,
    ToolCall,
    ToolGate,
    edited_note,
    idempotency_key,
    missing_extra,
    refusal_text,
)

try:
    from google.adk.events.event import Event
    from google.adk.plugins.base_plugin import BasePlugin
    from google.adk.runners import Runner
    from google.adk.tools.base_tool import BaseTool
    from google.adk.tools.function_tool import FunctionTool
    from google.adk.tools.tool_confirmation import ToolConfirmation
    from google.adk.tools.tool_context import ToolContext
    from google.genai import types
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("google_adk", "google-adk", _exc) from _exc

__all__ = ["SignoffPlugin", "SignoffRequest", "signoff_confirmation"]

_FRAMEWORK = "google-adk"
_TURNS_KEPT = 256  # model turns whose batch submission is remembered for their sibling calls


class _PolicyConfirmation:
    """``require_confirmation`` for a FunctionTool: does the policy want a person for these arguments?"""

    def __init__(self, core: ToolGate, action: str) -> None:
        self.core = core
        self.action = action

    def __call__(self, **args: Any) -> bool:
        args = {k: v for k, v in args.items() if not isinstance(v, ToolContext)}
        [step] = self.core.plan([ToolCall(id="", name=self.action, args=args)])
        return step.forced or step.outcome.level >= Level.APPROVE


def signoff_confirmation(gate: GateLike, action: str, *, agent: str = "",
                         describe: Describe | None = None) -> Any:
    """A ``require_confirmation`` callable for ``FunctionTool(func, require_confirmation=...)``.

    True when the policy puts the call ``action(**args)`` at ``approve`` or stricter, so ADK
    treats it as a call that needs a confirmation. :class:`SignoffPlugin` decides it.
    """
    if not isinstance(action, str) or not action:
        raise UserError("signoff_confirmation(gate, action): action is the tool's name, a non-empty string")
    return _PolicyConfirmation(ToolGate(gate, agent=agent, describe=describe), action)


def _turn_text(event: Event | None) -> str:
    """The model's words in the turn that asked for the tools (the reviewer reads them as reasoning)."""
    if event is None or event.content is None:
        return ""
    return "\n".join(p.text for p in event.content.parts or [] if p.text and not p.thought).strip()


def _needs_person(step: Step) -> bool:
    """An approval: the policy says ``approve``, or the tool (or an earlier edit) asks where it says less."""
    level = step.outcome.level
    return level is Level.APPROVE or (step.forced and level < Level.APPROVE)


def _waiting(name: str, ticket_id: str) -> str:
    return f"Pending approval: ticket {ticket_id}. The call to {name} did not run; a reviewer must decide it first."


def _result(value: Any, note: str) -> dict[str, Any]:
    """A tool's result as the dict ADK's function response takes, with the edit note when there is one."""
    out = dict(value) if isinstance(value, dict) else {"result": value}
    if note:
        out["signoff_note"] = note
    return out


class SignoffPlugin(BasePlugin):
    """Every tool call on the runner, gated by signoff's policy (see the module docstring).

    Args:
        gate: the signoff Gate or RemoteGate.
        agent: the agent's name on tickets (and in policy ``match: {agent: ...}``); empty: the
            name of the ADK agent that makes the call.
        describe: ``describe(tool_name, args) -> dict`` of extra Action fields (tags, external...).
        wait: seconds to wait for a reviewer before pausing the run (0: pause at once).
        name: the plugin's name on the runner.
    """

    def __init__(self, gate: GateLike, *, agent: str = "", describe: Describe | None = None,
                 wait: float = 0.0, name: str = "signoff") -> None:
        super().__init__(name=name)
        self.gate = gate
        self.agent = agent
        self.describe = describe
        self.wait = wait
        self._cores: dict[str, ToolGate] = {}
        self._turns: OrderedDict[str, asyncio.Task[dict[str, Step]]] = OrderedDict()
        self.core(agent)  # checks the gate now, not at the first tool call

    def core(self, agent: str) -> ToolGate:
        """The policy flow for one agent name (one per ADK agent when ``agent`` was not given)."""
        name = self.agent or agent
        core = self._cores.get(name)
        if core is None:
            core = self._cores[name] = ToolGate(self.gate, agent=name, describe=self.describe)
        return core

    # -- the callback ------------------------------------------------------------------------
    async def before_tool_callback(self, *, tool: BaseTool, tool_args: dict[str, Any],
                                   tool_context: ToolContext) -> dict[str, Any] | None:
        core = self.core(tool_context.agent_name)
        call = ToolCall(id=tool_context.function_call_id or "", name=tool.name, args=tool_args)
        session = tool_context.session
        context = {"adk": {"app": session.app_name, "user": session.user_id, "session": session.id,
                           "function_call_id": call.id}}
        [step] = core.plan([call], context=context)
        if step.outcome.level < Level.APPROVE and not step.forced:
            step.forced = await self._tool_asks(tool, tool_args, tool_context, core)
        confirmation = tool_context.tool_confirmation
        if confirmation is None and step.passes:
            return None  # the hot path: auto, nobody asked for a person
        key = idempotency_key(_FRAMEWORK, session.app_name, session.user_id, session.id, call.id) if call.id else None
        if confirmation is None:
            return await self._first(core, step, key, tool, tool_args, tool_context, context)
        return await self._resumed(core, step, key, confirmation, tool, tool_args, tool_context)

    async def _tool_asks(self, tool: BaseTool, args: dict[str, Any], ctx: ToolContext, core: ToolGate) -> bool:
        """The tool's own ``require_confirmation``: the policy may add a review, never lift the author's."""
        own = getattr(tool, "_require_confirmation", None)
        if isinstance(own, _PolicyConfirmation) and own.core.gate is core.gate:
            return False  # the policy itself, just evaluated
        if isinstance(tool, FunctionTool) and isinstance(own, bool):
            return own
        return bool(await tool.check_require_confirmation(dict(args), ctx))

    async def _first(self, core: ToolGate, step: Step, key: str | None, tool: BaseTool,
                     tool_args: dict[str, Any], ctx: ToolContext, context: Mapping[str, Any]
                     ) -> dict[str, Any] | None:
        """The call as the model made it: queue it (with its turn) or refuse it."""
        if not _needs_person(step):
            # deny (audited), suggest (recorded for a person to carry out), notify (a feed record, then it runs)
            step.forced = step.forced and step.outcome.level < Level.APPROVE
            await core.submit([step], keys=[key], states=[self._state(ctx, step)])
            assert step.decision is not None
            return None if step.decision.approved else {"error": refusal_text(step.decision)}
        step = await self._batched(core, step, key, ctx, context)
        if step.decision is None and self.wait > 0:
            await core.collect([step], timeout=self.wait)
        if step.decision is None:
            assert step.ticket is not None
            return self._pause(step, step.ticket, ctx)
        return await self._decided(core, step, step.decision, tool, tool_args, ctx)

    async def _resumed(self, core: ToolGate, step: Step, key: str | None, confirmation: ToolConfirmation,
                       tool: BaseTool, tool_args: dict[str, Any], ctx: ToolContext) -> dict[str, Any] | None:
        """The call again, with the app's confirmation: the ticket decides, the answer can only say no."""
        if step.outcome.level >= Level.SUGGEST:  # the policy forbids acting by now: no approval lifts that
            step.forced = False
            await core.submit([step])
            assert step.decision is not None
            return {"error": refusal_text(step.decision)}
        ticket = await core.gate.find_ticket(idempotency_key=key, agent=core.agent) if key else None
        if ticket is None:
            if not confirmation.confirmed:  # declined: never runs, whatever the tool does with it
                return {"error": f"The call to {step.call.name} was declined and did not run."}
            if step.passes:
                return None  # signoff has nothing to say; the tool's own confirmation flow goes on
            # A confirmation signoff never asked for (the policy changed, or it is forged): ask a person now.
            await core.submit([step], keys=[key], states=[self._state(ctx, step)])
        elif ticket.kind != "approval":  # it ran (notify) or never may (suggest): no confirmation was asked
            return {"error": f"The call to {step.call.name} did not run again: signoff asked no confirmation "
                             f"for it (ticket {ticket.id}, {ticket.kind})."}
        else:
            ToolGate._adopt(step, ticket)
        if step.decision is None and step.ticket is not None and self.wait > 0:
            await core.collect([step], timeout=self.wait)
        if step.decision is None:
            assert step.ticket is not None
            return {"error": _waiting(step.call.name, step.ticket.id), "signoff_ticket": step.ticket.id}
        if step.decision.approved and not confirmation.confirmed:
            return {"error": f"The call to {step.call.name} was declined by the app and did not run "
                             f"(ticket {step.decision.ticket_id} was approved)."}
        return await self._decided(core, step, step.decision, tool, tool_args, ctx)

    async def _decided(self, core: ToolGate, step: Step, decision: Decision, tool: BaseTool,
                       tool_args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Run an approved call with the reviewer's arguments (at most once), or refuse it."""
        if not decision.approved:
            return {"error": refusal_text(decision)}
        if decision.edited:
            core.remember_edit(step.action)

        async def run(**kwargs: Any) -> Any:
            tool_args.clear()
            tool_args.update(kwargs)  # after_tool_callbacks see what ran
            # The tool's own confirmation check (FunctionTool, a custom tool) reads the ticket's answer.
            ctx.tool_confirmation = ToolConfirmation(confirmed=True, payload={PAYLOAD_KEY: {
                "ticket_id": decision.ticket_id, "status": decision.status}})
            return await tool.run_async(args=dict(kwargs), tool_context=ctx)

        try:
            result = await core.gate.execute(decision, run)
        except AlreadyExecuted as exc:
            return {"error": f"The call to {step.call.name} was not run again: {exc}"}
        return _result(result, edited_note(decision.args) if decision.edited else "")

    def _pause(self, step: Step, ticket: Ticket, ctx: ToolContext) -> dict[str, Any]:
        """Ask ADK for a confirmation carrying the ticket; the run pauses as for ADK's own confirmations."""
        why = explain(step.outcome.reasons, step.outcome.level) or "a reviewer must approve it"
        ctx.request_confirmation(
            hint=(f"signoff ticket {ticket.id}: {step.call.name} waits for a reviewer ({why.rstrip('.')}). "
                  "Decide it in the signoff inbox; SignoffPlugin.resume() answers this confirmation."),
            payload={PAYLOAD_KEY: {"ticket_id": ticket.id, "batch_id": ticket.batch_id,
                                   "level": step.outcome.level.value, "rules": list(step.outcome.matched_rules),
                                   "reasons": [r.message for r in step.outcome.reasons]}})
        ctx.actions.skip_summarization = True  # the pause is no result for the model to answer
        return {"error": _waiting(step.call.name, ticket.id) + " The run resumes with the decision: do not call it "
                         "again.", "signoff_ticket": ticket.id}

    # -- one batch per model turn ------------------------------------------------------------
    async def _batched(self, core: ToolGate, step: Step, key: str | None, ctx: ToolContext,
                       context: Mapping[str, Any]) -> Step:
        """Queue ``step`` with every call of its model turn that needs a person, as one batch."""
        event = self._turn_event(ctx)
        if event is None or key is None:
            await core.submit([step], keys=[key], states=[self._state(ctx, step)])
            return step
        memo = f"{event.id}:{core.agent}"
        task = self._turns.get(memo)
        if task is None:
            task = asyncio.ensure_future(self._submit_turn(core, event, step, ctx, context))
            self._turns[memo] = task
            while len(self._turns) > _TURNS_KEPT:
                self._turns.popitem(last=False)
        steps = await task
        mine = steps.get(step.call.id)
        if mine is None:  # not queued with its turn (its tool alone asks for a person): a batch of its own
            step.action = step.action.evolve(reasoning=_turn_text(event))
            await core.submit([step], keys=[key], states=[self._state(ctx, step)])
            return step
        return mine

    async def _submit_turn(self, core: ToolGate, event: Event, first: Step, ctx: ToolContext,
                           context: Mapping[str, Any]) -> dict[str, Step]:
        session = ctx.session
        reasoning = _turn_text(event)
        steps: list[Step] = []
        for fc in event.get_function_calls():
            if not fc.id:
                continue
            call = ToolCall(id=fc.id, name=fc.name or "", args=dict(fc.args or {}))
            [s] = core.plan([call], reasoning=reasoning,
                            context={"adk": {**dict(context["adk"]), "function_call_id": fc.id}})
            s.forced = s.forced or (fc.id == first.call.id and first.forced)
            steps.append(s)
        queued = [s for s in steps if _needs_person(s)]
        keys: list[str | None] = [idempotency_key(_FRAMEWORK, session.app_name, session.user_id, session.id,
                                                  s.call.id) for s in queued]
        await core.submit(queued, keys=keys, states=[self._state(ctx, s) for s in queued])
        return {s.call.id: s for s in queued}

    @staticmethod
    def _turn_event(ctx: ToolContext) -> Event | None:
        """The model's event that made this call (its siblings are the turn's other calls)."""
        call_id = ctx.function_call_id
        for event in reversed(ctx.session.events):
            if any(fc.id == call_id for fc in event.get_function_calls()):
                return event
        return None

    @staticmethod
    def _state(ctx: ToolContext, step: Step) -> dict[str, Any]:
        """Stored with the ticket: where the paused call lives, so any process can resume it."""
        s = ctx.session
        return {"framework": _FRAMEWORK, "app_name": s.app_name, "user_id": s.user_id, "session_id": s.id,
                "function_call_id": step.call.id, "invocation_id": ctx.invocation_id}

    # -- the app side ------------------------------------------------------------------------
    @staticmethod
    def requests(events: Iterable[Event]) -> list[SignoffRequest]:
        """The calls in ``events`` (a run's, or ``session.events``) that wait on a signoff ticket, unanswered."""
        return open_requests(events)

    async def answers(self, events: Iterable[Event], *, timeout: float | None = 0.0) -> types.Content | None:
        """The user message answering every request of ``events`` whose ticket is decided.

        Waits up to ``timeout`` seconds in all (``None``: until each is decided or expires).
        Requests still pending are left open for a later resume. None when nothing is decided.
        """
        requests = self.requests(events)
        if not requests:
            return None
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)

        async def decide(r: SignoffRequest) -> Decision | None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self.gate.wait(r.ticket_id, timeout=left)
            except StillPending:
                return None

        decisions = await asyncio.gather(*(decide(r) for r in requests))
        parts = [confirmation_part(r, d) for r, d in zip(requests, decisions, strict=True) if d is not None]
        return types.Content(role="user", parts=parts) if parts else None

    async def resume(self, runner: Runner, *, user_id: str, session_id: str,
                     timeout: float | None = None, **run_kwargs: Any) -> list[Event]:
        """Answer the session's decided confirmations and continue the run; returns the new events.

        Raises ``signoff.StillPending`` when no request is decided within ``timeout`` seconds
        (``None``: wait until each is decided or expires). ``run_kwargs`` go to ``runner.run_async``.
        """
        session = await runner.session_service.get_session(app_name=runner.app_name, user_id=user_id,
                                                           session_id=session_id)
        if session is None:
            raise UserError(f"no ADK session {session_id!r} for user {user_id!r} in app {runner.app_name!r}")
        message = await self.answers(session.events, timeout=timeout)
        if message is None:
            waiting = [r.ticket_id for r in self.requests(session.events)]
            raise StillPending(f"no decision yet for ticket(s) {', '.join(waiting) or '(none open)'}",
                               ticket_id=waiting[0] if waiting else None)
        return [e async for e in runner.run_async(user_id=user_id, session_id=session_id, new_message=message,
                                                  **run_kwargs)]
