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


def test_validate_hook_input_names_the_event() -> None:
    from signoff.integrations.claude_code import validate_hook_input

    assert ("PreToolUse", "PermissionRequest") == (
        validate_hook_input(PAYLOAD), validate_hook_input(dict(PAYLOAD, hook_event_name="PermissionRequest")))


@pytest.mark.parametrize(("payload", "field"), [
    ([], "body"),
    ({**PAYLOAD, "hook_event_name": "PostToolUse"}, "hook_event_name"),
    ({k: v for k, v in PAYLOAD.items() if k != "tool_input"}, "tool_input"),
    ({**PAYLOAD, "session_id": ""}, "session_id"),
    ({**PAYLOAD, "transcript_path": ["x"]}, "transcript_path"),
])
def test_validate_hook_input_refuses_with_the_field(payload: object, field: str) -> None:
    from signoff.integrations.claude_code import HookInputError, validate_hook_input

    with pytest.raises(HookInputError) as err:
        validate_hook_input(payload)
    assert field == err.value.field


def test_hook_input_error_pickles_with_its_field() -> None:
    import pickle

    from signoff.integrations.claude_code import HookInputError

    err = pickle.loads(pickle.dumps(HookInputError("bad", field="tool_name")))
    assert ("bad", "tool_name") == (str(err), err.field)


def test_permission_request_output() -> None:
    from signoff.integrations.claude_code import permission_request_output

    assert {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                   "decision": {"behavior": "allow", "updatedInput": {"command": "ls"}}}} == \
        permission_request_output("allow", "ignored", {"command": "ls"})
    assert {"behavior": "deny", "message": "no", "interrupt": False} == \
        permission_request_output("deny", "no")["hookSpecificOutput"]["decision"]


def test_hook_output_per_event() -> None:
    """ask on a PermissionRequest is the empty answer (Claude Code's own dialog); the note is
    PreToolUse's additionalContext."""
    from signoff.integrations.claude_code import hook_output

    assert {} == hook_output("PermissionRequest", "ask", "waiting")
    assert "n" == hook_output("PreToolUse", "allow", note="n")["hookSpecificOutput"]["additionalContext"]


def test_idempotency_key_stays_short() -> None:
    """A very long session id is hashed: keys stay under the API's 200 characters."""
    assert len(hook_idempotency_key(dict(PAYLOAD, session_id="s" * 5000))) < 200
