"""Claude Code hooks <-> signoff: the pure translation, no I/O.

A Claude Code ``PreToolUse`` hook receives JSON on stdin (command hook) or as a POST
body (http hook) with ``tool_name``, ``tool_input``, ``tool_use_id``, ``session_id``,
``cwd``, ``transcript_path`` and ``permission_mode``; it answers with
``{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
"allow"|"deny"|"ask", "permissionDecisionReason": ..., "updatedInput": {...}}}``
(field names as listed by the Claude Code hooks reference, code.claude.com/docs/en/hooks).
A ``deny`` reason is shown to Claude; an ``ask`` reason is shown in Claude Code's prompt.

Only this module's translation exists so far; the endpoint, the command hook and the
wait-for-approval flow are not built yet (see issue 13).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from signoff._model import Action

__all__ = ["action_from_hook", "hook_idempotency_key", "pretooluse_output"]

PermissionDecision = Literal["allow", "deny", "ask"]

_CONTEXT_FIELDS = ("session_id", "cwd", "transcript_path", "permission_mode", "tool_use_id")


def action_from_hook(payload: Mapping[str, Any], *, agent: str = "") -> Action:
    """The Action a hook input asks for: the tool name is the action name, its input the args.

    Everything else Claude Code sends that rules may need goes into ``context``; the
    agent comes from the caller (the token or an option), never from the payload.
    """
    name = payload.get("tool_name")
    if not isinstance(name, str) or not name:
        raise ValueError("hook input has no tool_name")
    args = payload.get("tool_input") or {}
    if not isinstance(args, Mapping):
        raise ValueError("hook input's tool_input must be an object")
    context = {k: payload[k] for k in _CONTEXT_FIELDS if isinstance(payload.get(k), str)}
    return Action(name=name, args=dict(args), agent=agent, context=context)


def hook_idempotency_key(payload: Mapping[str, Any]) -> str:
    """One key per tool call in a session, so a retried call finds its ticket.

    The key is the session plus a digest of tool name and input, not ``tool_use_id``:
    Claude retrying a call after a "try again later" denial is a new tool use.
    """
    session = str(payload.get("session_id", ""))
    body = json.dumps(
        [payload.get("tool_name"), payload.get("tool_input")], sort_keys=True, default=str
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    return f"claude-code:{session}:{digest}"


def pretooluse_output(
    decision: PermissionDecision,
    reason: str = "",
    updated_input: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The PreToolUse hook's JSON answer for one decision."""
    out: dict[str, Any] = {"hookEventName": "PreToolUse", "permissionDecision": decision}
    if reason:
        out["permissionDecisionReason"] = reason
    if updated_input is not None:
        out["updatedInput"] = dict(updated_input)
    return {"hookSpecificOutput": out}
