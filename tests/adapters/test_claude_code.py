"""The pure Claude Code hook translation (signoff.integrations.claude_code)."""

from __future__ import annotations

import pytest

from signoff.integrations.claude_code import (
    action_from_hook,
    hook_idempotency_key,
    pretooluse_output,
)

# Shape of a PreToolUse input as the Claude Code hooks reference documents it.
PAYLOAD = {
    "session_id": "abc123",
    "transcript_path": "/home/u/.claude/projects/p/abc123.jsonl",
    "cwd": "/home/u/project",
    "permission_mode": "default",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "git push --force"},
    "tool_use_id": "toolu_01",
}


def test_action_from_hook() -> None:
    action = action_from_hook(PAYLOAD, agent="claude")
    assert action.name == "Bash"
    assert action.args == {"command": "git push --force"}
    assert action.agent == "claude"
    assert action.context["session_id"] == "abc123"
    assert action.context["cwd"] == "/home/u/project"
    assert "hook_event_name" not in action.context


def test_action_from_hook_rejects_missing_tool() -> None:
    with pytest.raises(ValueError):
        action_from_hook({"tool_input": {}})


def test_idempotency_key_same_call_same_key() -> None:
    retry = dict(PAYLOAD, tool_use_id="toolu_02")
    assert hook_idempotency_key(PAYLOAD) == hook_idempotency_key(retry)
    other = dict(PAYLOAD, tool_input={"command": "ls"})
    assert hook_idempotency_key(PAYLOAD) != hook_idempotency_key(other)
    assert hook_idempotency_key(PAYLOAD) != hook_idempotency_key(dict(PAYLOAD, session_id="x"))


def test_pretooluse_output() -> None:
    assert pretooluse_output("allow") == {
        "hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}
    }
    out = pretooluse_output("deny", "no", {"command": "ls"})["hookSpecificOutput"]
    assert out["permissionDecisionReason"] == "no"
    assert out["updatedInput"] == {"command": "ls"}
