"""Claude Code hooks <-> signoff: the translation, and the answer to one hook call.

Claude Code runs a hook before each tool call. Its input (stdin of a ``command`` hook, the
POST body of an ``http`` hook) carries ``hook_event_name``, ``tool_name``, ``tool_input``,
``session_id``, ``cwd``, ``transcript_path``, ``permission_mode`` and, for ``PreToolUse``,
``tool_use_id`` (field names as the Claude Code hooks reference, code.claude.com/docs/en/hooks,
and claude-agent-sdk 0.2.189's ``PreToolUseHookInput`` / ``PermissionRequestHookInput`` give them).
The answers:

* ``PreToolUse``: ``{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
  "allow"|"deny"|"ask", "permissionDecisionReason": ..., "updatedInput": {...},
  "additionalContext": ...}}``. A ``deny`` reason is shown to Claude, an ``ask`` reason to the
  user in Claude Code's prompt; ``additionalContext`` reaches Claude.
* ``PermissionRequest``: ``{"hookSpecificOutput": {"hookEventName": "PermissionRequest",
  "decision": {"behavior": "allow"|"deny", "updatedInput": {...}, "message": ...,
  "interrupt": false}}}``; an empty object leaves the decision to Claude Code's own dialog.

:func:`answer_hook` is the whole flow, shared by ``POST /api/v1/hooks/claude-code`` and
``signoff hook claude-code``: ``auto`` allows; ``deny`` denies with the policy's reasons;
``approve`` queues a ticket and waits up to ``wait`` seconds (keep it below the hook's
timeout), then allows with the reviewer's edited input or denies with their feedback;
still pending, it denies with "waiting for approval: ticket X, try again later" (or, with
``on_pending="ask"``, hands the call to the person at Claude Code's own prompt); ``suggest``
denies and records the suggestion; ``notify`` allows and records it in the feed.

The same call in the same session (tool name and input, whatever the ``tool_use_id``) finds
its ticket again, so Claude retrying after "try again later" gets the decision, not a
duplicate. An approval is spent by the one call it lets through (``gate.execute``): the same
call later in the session asks again, and when the reviewer had edited it, the original is
never let through as it was, even where the policy would now pass it.

.. versionadded:: 0.2
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from signoff._decisions import decision_of
from signoff._errors import AlreadyExecuted, UserError
from signoff._gatelike import GateLike
from signoff._model import Action, Level, Ticket
from signoff.integrations._common import Step, ToolCall, ToolGate, edited_note

__all__ = [
    "HOOK_EVENTS",
    "HookInputError",
    "action_from_hook",
    "answer_hook",
    "hook_idempotency_key",
    "hook_output",
    "permission_request_output",
    "pretooluse_output",
    "validate_hook_input",
]

PermissionDecision = Literal["allow", "deny", "ask"]
OnPending = Literal["deny", "ask"]
HOOK_EVENTS = ("PreToolUse", "PermissionRequest")
"""The hook events signoff answers (the ones that can allow or block a tool call)."""

_CONTEXT_FIELDS = ("session_id", "cwd", "transcript_path", "permission_mode", "tool_use_id",
                   "agent_id", "agent_type")
_MAX_SESSION = 64  # longer session ids are hashed: idempotency keys stay under the API's 200 characters
_MAX_CHAIN = 100  # the same call approved this many times in one session: stop following the chain


class HookInputError(UserError, ValueError):
    """Raised when a hook input is malformed; ``field`` names the offending field (the server's 422)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (_hook_input_error, (str(self), self.field))


def _hook_input_error(message: str, field: str) -> HookInputError:
    return HookInputError(message, field=field)


# -- pure translation -------------------------------------------------------------------------
def validate_hook_input(payload: Any) -> str:
    """Check a hook input; returns its event name. Raises :class:`HookInputError` naming the field."""
    if not isinstance(payload, Mapping):
        raise HookInputError(f"the hook input must be a JSON object, got {type(payload).__name__}", field="body")
    event = payload.get("hook_event_name")
    if event not in HOOK_EVENTS:
        raise HookInputError(f"hook_event_name must be one of {list(HOOK_EVENTS)} (signoff answers only the "
                             f"hooks that can allow or block a tool call), got {event!r}", field="hook_event_name")
    name = payload.get("tool_name")
    if not isinstance(name, str) or not name:
        raise HookInputError("tool_name must be a non-empty string", field="tool_name")
    if not isinstance(payload.get("tool_input"), Mapping):
        raise HookInputError("tool_input must be a JSON object", field="tool_input")
    session = payload.get("session_id")
    if not isinstance(session, str) or not session:
        raise HookInputError("session_id must be a non-empty string (a retried call finds its ticket by it)",
                             field="session_id")
    for key in _CONTEXT_FIELDS:
        if key in payload and payload[key] is not None and not isinstance(payload[key], str):
            raise HookInputError(f"{key} must be a string", field=key)
    return str(event)


def action_from_hook(payload: Mapping[str, Any], *, agent: str = "") -> Action:
    """The Action a hook input asks for: the tool name is the action name, its input the args.

    Everything else Claude Code sends that rules may need goes into ``context``; the
    agent comes from the caller (the token or an option), never from the payload.
    """
    name = payload.get("tool_name")
    if not isinstance(name, str) or not name:
        raise HookInputError("hook input has no tool_name", field="tool_name")
    args = payload.get("tool_input") or {}
    if not isinstance(args, Mapping):
        raise HookInputError("hook input's tool_input must be an object", field="tool_input")
    return Action(name=name, args=dict(args), agent=agent, context=_context(payload), reasoning=_reasoning(args))


def _context(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in _CONTEXT_FIELDS if isinstance(payload.get(k), str)}


def _reasoning(tool_input: Mapping[str, Any]) -> str:
    """Claude's own words about the call (Bash's and Task's ``description``): the reviewer reads them
    as the agent's reasoning, marked unverified, besides the arguments that actually run."""
    words = tool_input.get("description")
    return words if isinstance(words, str) else ""


def hook_idempotency_key(payload: Mapping[str, Any]) -> str:
    """One key per tool call in a session, so a retried call finds its ticket.

    The key is the session plus a digest of tool name and input, not ``tool_use_id``:
    Claude retrying a call after a "try again later" denial is a new tool use.
    """
    session = str(payload.get("session_id", ""))
    if len(session) > _MAX_SESSION:
        session = "h" + hashlib.sha256(session.encode()).hexdigest()[:32]
    body = json.dumps(
        [payload.get("tool_name"), payload.get("tool_input")], sort_keys=True, default=str
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    return f"claude-code:{session}:{digest}"


def pretooluse_output(
    decision: PermissionDecision,
    reason: str = "",
    updated_input: Mapping[str, Any] | None = None,
    *,
    additional_context: str = "",
) -> dict[str, Any]:
    """The PreToolUse hook's JSON answer for one decision."""
    out: dict[str, Any] = {"hookEventName": "PreToolUse", "permissionDecision": decision}
    if reason:
        out["permissionDecisionReason"] = reason
    if updated_input is not None:
        out["updatedInput"] = dict(updated_input)
    if additional_context:
        out["additionalContext"] = additional_context
    return {"hookSpecificOutput": out}


def permission_request_output(
    behavior: Literal["allow", "deny"],
    message: str = "",
    updated_input: Mapping[str, Any] | None = None,
    *,
    interrupt: bool = False,
) -> dict[str, Any]:
    """The PermissionRequest hook's JSON answer: ``decision.behavior`` allow (with ``updatedInput``)
    or deny (with ``message``, shown to Claude, and ``interrupt``)."""
    decision: dict[str, Any] = {"behavior": behavior}
    if behavior == "allow":
        if updated_input is not None:
            decision["updatedInput"] = dict(updated_input)
    else:
        if message:
            decision["message"] = message
        decision["interrupt"] = interrupt
    return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}


def hook_output(event: str, decision: PermissionDecision, reason: str = "",
                updated_input: Mapping[str, Any] | None = None, *, note: str = "") -> dict[str, Any]:
    """The answer to ``event`` (``PreToolUse`` or ``PermissionRequest``) for one decision.

    ``ask`` on a PermissionRequest is the empty answer: Claude Code shows its own dialog.
    ``note`` (what Claude should know about an edit) travels as ``additionalContext``, which only
    PreToolUse has.
    """
    if event == "PermissionRequest":
        if decision == "ask":
            return {}
        return permission_request_output(decision, reason, updated_input)
    return pretooluse_output(decision, reason, updated_input, additional_context=note)


def pending_reason(ticket_id: str, tool: str) -> str:
    """What Claude (or, with ``ask``, the user) reads while a reviewer has not decided yet."""
    return (f"waiting for approval: ticket {ticket_id}, try again later. The call to {tool} did not run; a "
            "reviewer must decide in signoff first. Retry the same call unchanged to get the decision.")


# -- the flow ---------------------------------------------------------------------------------
def _spent(t: Ticket) -> bool:
    """A ticket a new request of the same call must not reuse: its approval let a call through
    already, it was withdrawn, or nobody decided in time (Claude asking again asks anew)."""
    if t.kind != "approval":
        return False
    if t.status == "approved":
        return t.execution != "none"
    return t.status in ("cancelled", "expired")


async def _current(gate: GateLike, base: str, agent: str) -> tuple[str, Ticket | None, bool]:
    """Follow this call's chain of tickets in the session: (the key to use, its ticket, edited before).

    Each spent ticket passes the call on to the key ``<base>:<its id>``, so a retry finds the
    live ticket and every request of the same call stays one ticket until it is spent.
    """
    key, edited = base, False
    for _ in range(_MAX_CHAIN):
        t = await gate.find_ticket(idempotency_key=key, agent=agent)
        if t is None or not _spent(t):
            return key, t, edited
        edited = edited or (t.status == "approved" and t.edited_args is not None)
        key = f"{base}:{t.id}"
    raise UserError(f"the same {base!r} call was requested {_MAX_CHAIN} times in one session; start a new session")


async def answer_hook(gate: GateLike, payload: Mapping[str, Any], *, agent: str = "", wait: float = 50.0,
                      on_pending: OnPending = "deny") -> dict[str, Any]:
    """The JSON answer to one ``PreToolUse`` or ``PermissionRequest`` hook input (see the module).

    Args:
        gate: a local Gate or ``Gate.remote(...)`` (with an agent token the token's agent acts).
        payload: the hook input as Claude Code sent it (agent-written: validated, never trusted).
        agent: the agent on tickets ("" with a RemoteGate: the token's).
        wait: seconds to wait for a reviewer; keep it below the hook's ``timeout``.
        on_pending: still pending after ``wait``: ``deny`` (Claude retries later) or ``ask``.

    Raises :class:`HookInputError` for a malformed input; other errors propagate (callers deny).
    """
    event = validate_hook_input(payload)
    core = ToolGate(gate, agent=agent)
    call = ToolCall(id=str(payload.get("tool_use_id") or ""), name=str(payload["tool_name"]),
                    args=dict(payload["tool_input"]))
    action = core.action(call, reasoning=_reasoning(call.args), context=_context(payload))
    step = Step(call=call, action=action, outcome=await gate.evaluate_async(action))
    if step.outcome.level is not Level.DENY:
        key, found, edited_before = await _current(gate, hook_idempotency_key(payload), agent)
        if found is not None:
            step.forced, step.ticket = True, found  # a person's decision on this very call stands
            if found.kind != "approval" or found.status != "pending":
                step.decision = decision_of(found)
        elif edited_before or not step.passes:
            step.forced = edited_before  # a reviewer rewrote this call: the original goes to a person again
            asks = step.forced or step.outcome.level in (Level.APPROVE, Level.SUGGEST)
            await core.submit([step], keys=[key if asks else None])  # notify: each call in the feed
    if step.outcome.level is Level.DENY:
        await core.submit([step])  # audited, never queued
    if step.passes:
        return hook_output(event, "allow")
    if step.pending:
        await core.collect([step], timeout=wait)
    if step.pending:
        assert step.ticket is not None
        return hook_output(event, on_pending, pending_reason(step.ticket.id, call.name))
    [verdict] = core.verdicts([step])
    decision = verdict.decision
    if not verdict.run or decision is None:
        return hook_output(event, "deny", verdict.text)
    if decision.status == "approved":
        try:  # the approval's one run: the call Claude Code is about to make
            await gate.execute(decision, lambda **kw: kw)
        except AlreadyExecuted as exc:
            return hook_output(event, "deny", f"The call to {call.name} did not run: its approval was already "
                                              f"used ({exc}). Ask again to request a new approval.")
    reason = decision.explanation or ("allowed; recorded in signoff's feed" if decision.status == "notified"
                                      else decision.status)
    if decision.edited:
        return hook_output(event, "allow", reason, decision.args, note=edited_note(decision.args))
    return hook_output(event, "allow", reason)
