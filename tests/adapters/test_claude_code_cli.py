"""`signoff hook claude-code` as Claude Code runs a command hook (a process, stdin to stdout), and
`signoff init claude-code`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from signoff import Gate
from signoff.cli import main
from tests.adapters import _cc_inputs as cc
from tests.remote import RemoteTeam, serve

SIGNOFF = [sys.executable, "-c", "from signoff.cli import main; main()"]


def run_hook(args: list[str], payload: Any, *, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    stdin = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run([*SIGNOFF, "hook", "claude-code", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def answer(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert (0, "") == (proc.returncode, proc.stderr), proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[list[str], Gate]]:
    """The hook's --policy/--db arguments, and a reviewer's Gate on the same database."""
    db = f"sqlite:///{tmp_path / 'signoff.db'}"
    with Gate.open(policy=cc.POLICY_PATH, store=db, sweep=False) as reviewer_side:
        reviewer_side.add_reviewer("alice")
        yield ["--policy", str(cc.POLICY_PATH), "--db", db], reviewer_side


class TestLocalGate:
    def test_routine_command_is_allowed(self, local: tuple[list[str], Gate]) -> None:
        args, _ = local
        assert {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}} == \
            answer(run_hook(args, cc.pre_tool_use("Bash", cc.BASH_TESTS)))

    def test_pending_then_edited_by_a_reviewer_in_another_process(self, local: tuple[list[str], Gate]) -> None:
        """First run: deny naming the ticket. A reviewer edits it (this process); the retry, a new hook
        process, allows the edited input."""
        args, reviewer_side = local
        first = cc.out(answer(run_hook([*args, "--wait", "0"], cc.pre_tool_use("Write", cc.WRITE_OUTSIDE))))
        tid = cc.ticket_of(first["permissionDecisionReason"])
        moved = {**cc.WRITE_OUTSIDE, "file_path": f"{cc.CWD}/etc/hosts"}
        reviewer_side.approve_sync(tid, reviewer="alice", args=moved)
        retry = cc.out(answer(run_hook([*args, "--wait", "0"], cc.pre_tool_use("Write", cc.WRITE_OUTSIDE,
                                                                               tool_use_id="toolu_02"))))
        assert ("deny", "allow", moved) == (first["permissionDecision"], retry["permissionDecision"],
                                            retry["updatedInput"])

    def test_a_rejection_while_the_hook_waits(self, local: tuple[list[str], Gate]) -> None:
        """The hook process waits; the reviewer rejects; the hook answers deny with the feedback."""
        args, reviewer_side = local
        proc = subprocess.Popen([*SIGNOFF, "hook", "claude-code", *args, "--wait", "60"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH)))
        proc.stdin.close()
        for _ in range(3000):
            pending = reviewer_side.list_tickets_sync(status="pending")
            if pending:
                break
            time.sleep(0.01)
        reviewer_side.reject_sync(pending[0].id, reviewer="alice", feedback="never force-push main")
        assert proc.stdout is not None and proc.stderr is not None
        proc.wait(60)
        out, err = proc.stdout.read(), proc.stderr.read()
        assert (0, "deny") == (proc.returncode, json.loads(out)["hookSpecificOutput"]["permissionDecision"]), err
        assert "never force-push main" in json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]

    def test_ask_on_pending(self, local: tuple[list[str], Gate]) -> None:
        args, _ = local
        out = cc.out(answer(run_hook([*args, "--wait", "0", "--on-pending", "ask"],
                                     cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH))))
        assert "ask" == out["permissionDecision"]


class TestFailsClosed:
    """Whatever goes wrong, exit 2 (Claude Code blocks the call, Claude reads stderr), never an allow."""

    def test_stdin_that_is_not_json(self, local: tuple[list[str], Gate]) -> None:
        proc = run_hook(local[0], "{not json")
        assert (2, "") == (proc.returncode, proc.stdout)
        assert "not JSON" in proc.stderr

    def test_a_hook_event_signoff_does_not_answer(self, local: tuple[list[str], Gate]) -> None:
        proc = run_hook(local[0], {**cc.pre_tool_use("Bash", cc.BASH_TESTS), "hook_event_name": "PostToolUse"})
        assert (2, "") == (proc.returncode, proc.stdout)
        assert "hook_event_name" in proc.stderr

    def test_no_gate_given(self) -> None:
        proc = run_hook([], cc.pre_tool_use("Bash", cc.BASH_TESTS), env={"SIGNOFF_DB": "", "SIGNOFF_POLICY": "",
                                                                       "SIGNOFF_SERVER": ""})
        assert (2, "") == (proc.returncode, proc.stdout)

    def test_a_server_that_does_not_answer(self) -> None:
        proc = run_hook(["--server", "http://127.0.0.1:9"], cc.pre_tool_use("Bash", cc.BASH_TESTS),
                        env={"SIGNOFF_TOKEN": "so_agent_x"})
        assert (2, "") == (proc.returncode, proc.stdout)
        assert "did not run" in proc.stderr


def test_through_a_server(tmp_path: Path) -> None:
    """--server with SIGNOFF_TOKEN: the token's agent asks; a reviewer's approval lets the retry through."""
    with serve(tmp_path, cc.POLICY_PATH.read_text(), reviewers={"alice": None}) as served:
        team = RemoteTeam(served, operator="alice")
        try:
            env = {"SIGNOFF_TOKEN": team.token("agent", "laptop-claude")}
            payload = cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE)
            first = cc.out(answer(run_hook(["--server", served.url, "--wait", "0"], payload, env=env)))
            tid = cc.ticket_of(first["permissionDecisionReason"])
            team.reviewer("alice").approve_sync(tid, reviewer="alice")
            retry = cc.out(answer(run_hook(["--server", served.url, "--wait", "0"], payload, env=env)))
            ticket = team.reviewer("alice").get_ticket_sync(tid)
        finally:
            team.close()
    assert ("allow", "laptop-claude", "executed") == (retry["permissionDecision"], ticket.action.agent,
                                                      ticket.execution)


class TestInit:
    def test_http_hook_for_a_server(self) -> None:
        """--server prints an http hook with the token from the environment, a wait below the timeout."""
        result = CliRunner().invoke(main, ["init", "claude-code", "--server", "https://signoff.example.com/"])
        assert 0 == result.exit_code, result.output
        [group] = json.loads(result.stdout)["hooks"]["PreToolUse"]
        assert {"matcher": "*", "hooks": [{
            "type": "http", "url": "https://signoff.example.com/api/v1/hooks/claude-code?wait=50",
            "headers": {"Authorization": "Bearer $SIGNOFF_TOKEN"}, "allowedEnvVars": ["SIGNOFF_TOKEN"],
            "timeout": 60, "onFailure": "block"}]} == group

    def test_command_hook_for_a_local_gate(self) -> None:
        result = CliRunner().invoke(main, ["init", "claude-code", "--policy", "p.yaml", "--db", "sqlite:///s.db",
                                           "--on-pending", "ask"])
        [hook] = json.loads(result.stdout)["hooks"]["PreToolUse"][0]["hooks"]
        assert {"type": "command", "timeout": 60, "onFailure": "block",
                "command": "signoff hook claude-code --policy p.yaml --db sqlite:///s.db --wait 50 --on-pending ask"} \
            == hook

    def test_wait_must_stay_below_the_timeout(self) -> None:
        result = CliRunner().invoke(main, ["init", "claude-code", "--wait", "60", "--timeout", "60"])
        assert 2 == result.exit_code
        assert "must be below --timeout" in result.output
