"""signoff for the Claude Agent SDK: a ``can_use_tool`` callback and a ``PreToolUse`` hook.

::

    options = ClaudeAgentOptions(
        can_use_tool=can_use_tool(gate, agent="support-bot"),            # or, or both:
        hooks={"PreToolUse": [pre_tool_use_hook(gate, agent="support-bot")]},
    )

Both answer each tool call with the flow of :func:`signoff.integrations.claude_code.answer_hook`
(the SDK drives the same Claude Code CLI, and its hook inputs are Claude Code's): ``auto`` and
``notify`` allow; ``deny`` denies with the policy's reasons (Claude reads them); ``approve``
queues a ticket and waits up to ``wait`` seconds, then allows with the reviewer's edited input
or denies with their feedback, and while still pending denies with "waiting for approval:
ticket X, try again later"; ``suggest`` denies and records the suggestion. The same call
(tool and input) in the same session finds its ticket again, so Claude retrying gets the
decision, not a duplicate; an approval lets exactly one call through.

``can_use_tool`` returns the SDK's ``PermissionResultAllow(updated_input=...)`` or
``PermissionResultDeny(message=..., interrupt=...)``. The CLI asks it only for calls its own
permission rules do not settle, and the callback gets no session id, so each callback is one
session (``session=`` to share one across processes). ``PermissionResultAllow`` carries no
message: the hook, which also tells Claude about an edit (``additionalContext``), is the one
to use when every call must pass the policy. Any error denies (fail closed).

Verified against claude-agent-sdk 0.2.189 (``ToolPermissionContext.tool_use_id``,
``HookMatcher(timeout=, on_failure=)``, ``PreToolUseHookInput.tool_use_id``).

.. versionadded:: 0.2
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from signoff._gatelike import GateLike
from signoff.integrations._common import missing_extra
from signoff.integrations.claude_code import HOOK_EVENTS, answer_hook, pending_reason, pretooluse_output

try:
    from claude_agent_sdk import (
        HookContext,
        HookInput,
        HookJSONOutput,
        HookMatcher,
        PermissionResultAllow,
        PermissionResultDeny,
        ToolPermissionContext,
    )
    from claude_agent_sdk.types import PermissionResult
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("claude_agent_sdk", "claude-agent-sdk", _exc) from _exc

__all__ = ["can_use_tool", "pre_tool_use_callback", "pre_tool_use_hook"]

CanUseTool = Callable[[str, dict[str, Any], ToolPermissionContext], Awaitable[PermissionResult]]
HookCallback = Callable[[HookInput, "str | None", HookContext], Awaitable[HookJSONOutput]]

_PENDING = pending_reason("", "").split(",", 1)[0].removesuffix(" ticket ")  # "waiting for approval:"


def _failed(exc: BaseException) -> str:
    return (f"signoff could not decide on this call, so it did not run ({type(exc).__name__}: {exc}). "
            "Try again later.")


def can_use_tool(gate: GateLike, *, agent: str = "", wait: float = 50.0, session: str = "",
                 interrupt: bool = False) -> CanUseTool:
    """The SDK's ``can_use_tool`` callback: the policy and the reviewers decide each call.

    Args:
        gate: a local Gate or ``Gate.remote(...)``.
        agent: the agent on tickets ("" with a RemoteGate: the token's).
        wait: seconds to wait for a reviewer before denying with "try again later".
        session: retries find their ticket within one session; default: one per callback.
        interrupt: stop Claude's turn when a call is refused (not while it is pending).
    """
    session_id = session or f"sdk-{uuid.uuid4().hex}"

    async def decide(tool_name: str, input_data: dict[str, Any],
                     context: ToolPermissionContext) -> PermissionResult:
        payload = {"hook_event_name": "PreToolUse", "session_id": session_id, "tool_name": tool_name,
                   "tool_input": input_data, "tool_use_id": getattr(context, "tool_use_id", None) or "",
                   "agent_id": getattr(context, "agent_id", None)}
        try:
            out = (await answer_hook(gate, {k: v for k, v in payload.items() if v is not None},
                                     agent=agent, wait=wait))["hookSpecificOutput"]
        except Exception as exc:  # fail closed: no answer is a denial
            return PermissionResultDeny(message=_failed(exc))
        if out.get("permissionDecision") == "allow":
            edited = out.get("updatedInput")
            return PermissionResultAllow(updated_input=dict(edited) if edited is not None else None)
        reason = str(out.get("permissionDecisionReason") or f"The call to {tool_name} was denied by signoff.")
        return PermissionResultDeny(message=reason, interrupt=interrupt and not reason.startswith(_PENDING))

    return decide


def pre_tool_use_callback(gate: GateLike, *, agent: str = "", wait: float = 50.0) -> HookCallback:
    """The hook callback ``(input, tool_use_id, context) -> HookJSONOutput`` for ``PreToolUse``
    (or ``PermissionRequest``); other events get ``{}`` (no opinion)."""

    async def hook(input_data: HookInput, tool_use_id: str | None, context: HookContext) -> HookJSONOutput:
        payload: Mapping[str, Any] = input_data
        if payload.get("hook_event_name") not in HOOK_EVENTS:
            return {}
        try:
            out = await answer_hook(gate, payload, agent=agent, wait=wait)
        except Exception as exc:  # fail closed: a malformed input or an unreachable gate denies
            out = pretooluse_output("deny", _failed(exc))
            if payload.get("hook_event_name") == "PermissionRequest":
                out = {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                              "decision": {"behavior": "deny", "message": _failed(exc)}}}
        result: HookJSONOutput = out  # type: ignore[assignment]  # answer_hook builds exactly this shape
        return result

    return hook


def pre_tool_use_hook(gate: GateLike, *, agent: str = "", wait: float = 50.0, matcher: str | None = None,
                      timeout: float | None = None,
                      on_failure: Literal["block", "continue"] = "block") -> HookMatcher:
    """A ``HookMatcher`` for ``ClaudeAgentOptions(hooks={"PreToolUse": [...]})``.

    ``matcher`` limits it to some tools ("Bash|Write"; default: every tool). ``timeout``
    defaults to ``wait`` plus 10 seconds, so the CLI never gives up on the hook first.
    ``on_failure="block"``: a hook that times out or fails blocks the call instead of leaving
    it to Claude Code's own rules (fail closed); the SDK refuses to connect to a CLI that
    cannot honour it.
    """
    return HookMatcher(matcher=matcher, hooks=[pre_tool_use_callback(gate, agent=agent, wait=wait)],
                       timeout=timeout if timeout is not None else wait + 10.0, on_failure=on_failure)
