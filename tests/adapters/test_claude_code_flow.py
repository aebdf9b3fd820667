"""answer_hook, the Claude Code hook flow, on a local gate and through a real ``signoff serve``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from signoff import Gate
from signoff.integrations.claude_code import HookInputError, answer_hook
from tests.adapters import _cc_inputs as cc
from tests.adapters.conftest import NOVELTY_POLICY
from tests.remote import RemoteTeam, local_or_remote, serve

AGENT = "claude-code"


@contextmanager
def coding_gate(kind: str, tmp: Path) -> Iterator[Any]:
    """The coding_agent.yaml policy on a local Gate, or behind ``signoff serve`` (RemoteTeam), reviewer alice."""
    if kind == "local":
        with Gate.open(policy=cc.POLICY_PATH, store=f"sqlite:///{tmp / 'gate.db'}") as g:
            g.add_reviewer("alice")
            yield g
        return
    (tmp / "served").mkdir()
    with serve(tmp / "served", cc.POLICY_PATH.read_text(), reviewers={"alice": None}) as served:
        team = RemoteTeam(served, operator="alice")
        try:
            yield team
        finally:
            team.close()


@pytest.fixture(params=["local", "remote"])
def gate(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with coding_gate(request.param, tmp_path) as g:
        yield g


async def ask(gate: Any, payload: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return await answer_hook(gate, payload, agent=AGENT, **{"wait": 0.0, **kw})


async def until_pending(gate: Any) -> str:
    """The id of the first pending approval ticket, once there is one."""
    for _ in range(500):
        pending = await gate.list_tickets(status="pending", kind="approval")
        if pending:
            return str(pending[0].id)
        await asyncio.sleep(0.01)
    raise AssertionError("no pending ticket appeared")


class TestLevels:
    async def test_auto_allows_without_a_ticket(self, gate: Any) -> None:
        """A test run (routine-commands) is allowed at once and leaves no ticket."""
        answer = await ask(gate, cc.pre_tool_use("Bash", cc.BASH_TESTS))
        assert ({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}}, []) == \
            (answer, await gate.list_tickets())

    async def test_notify_allows_and_records_in_the_feed(self, gate: Any) -> None:
        """A write inside the project runs; a notification ticket records it."""
        answer = await ask(gate, cc.pre_tool_use("Write", cc.WRITE_IN_PROJECT))
        tickets = await gate.list_tickets()
        assert ("allow", [("notification", "Write", AGENT)]) == \
            (cc.out(answer)["permissionDecision"], [(t.kind, t.action.name, t.action.agent) for t in tickets])

    async def test_deny_tells_claude_why(self, gate: Any) -> None:
        """curl | sh is denied with the rule's message as the reason Claude reads; nothing is queued."""
        answer = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_PIPE_TO_SHELL)))
        assert ("deny", []) == (answer["permissionDecision"], await gate.list_tickets())
        assert "not allowed by policy and did not run: Running a script straight from the network" in \
            answer["permissionDecisionReason"]

    async def test_suggest_denies_and_records_the_suggestion_once(self, gate: Any) -> None:
        """terraform apply is denied, recorded as a suggestion; the retry finds the same suggestion."""
        first = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_TERRAFORM)))
        again = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_TERRAFORM, tool_use_id="toolu_02")))
        [ticket] = await gate.list_tickets()
        assert ("deny", "deny", "suggestion") == (first["permissionDecision"], again["permissionDecision"], ticket.kind)
        assert f"recorded for a person to carry out (ticket {ticket.id})" in again["permissionDecisionReason"]


class TestApproval:
    async def test_pending_denies_with_the_ticket_and_a_retry_finds_it(self, gate: Any) -> None:
        """A write outside the project waits for a person: the answer names the ticket, and the retry
        (a new tool_use_id) gets the same ticket, not a second one."""
        first = cc.out(await ask(gate, cc.pre_tool_use("Write", cc.WRITE_OUTSIDE)))
        again = cc.out(await ask(gate, cc.pre_tool_use("Write", cc.WRITE_OUTSIDE, tool_use_id="toolu_02")))
        [ticket] = await gate.list_tickets()
        assert ("deny", "deny", ticket.id, ticket.id) == (
            first["permissionDecision"], again["permissionDecision"],
            cc.ticket_of(first["permissionDecisionReason"]), cc.ticket_of(again["permissionDecisionReason"]))
        assert "try again later" in first["permissionDecisionReason"]
        assert ("Write", dict(cc.WRITE_OUTSIDE), AGENT, cc.CWD, cc.SESSION) == (
            ticket.action.name, dict(ticket.action.args), ticket.action.agent, ticket.action.context["cwd"],
            ticket.action.context["session_id"])

    async def test_the_reviewer_reads_claudes_description_as_its_reasoning(self, gate: Any) -> None:
        """Bash's description (Claude's words) becomes the ticket's reasoning; the args stay what runs."""
        await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH))
        [ticket] = await gate.list_tickets()
        assert ("Force-push main", dict(cc.BASH_FORCE_PUSH)) == (ticket.action.reasoning, dict(ticket.action.args))

    async def test_pending_with_ask_hands_over_to_claude_codes_prompt(self, gate: Any) -> None:
        """on_pending="ask": PreToolUse answers ask (the reason names the ticket); PermissionRequest
        answers nothing, so Claude Code's own dialog decides."""
        pre = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH), on_pending="ask"))
        perm = await ask(gate, cc.permission_request("Bash", cc.BASH_FORCE_PUSH), on_pending="ask")
        [ticket] = await gate.list_tickets()
        assert ("ask", ticket.id, {}) == (pre["permissionDecision"], cc.ticket_of(pre["permissionDecisionReason"]),
                                          perm)

    async def test_edit_while_waiting_allows_the_edited_input(self, gate: Any) -> None:
        """The hook waits; the reviewer approves with other arguments; Claude Code gets allow with
        updatedInput, Claude is told, and the approval's one run is spent."""
        waiting = asyncio.ensure_future(ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH), wait=30.0))
        tid = await until_pending(gate)
        edited = {"command": "git push --force-with-lease origin main", "description": "Force-push main"}
        await gate.approve(tid, reviewer="alice", args=edited)
        answer = cc.out(await waiting)
        assert ("allow", edited) == (answer["permissionDecision"], answer["updatedInput"])
        assert answer["additionalContext"].startswith("Note: a reviewer edited the arguments to")
        assert "executed" == (await gate.get_ticket(tid)).execution

    async def test_reject_denies_with_the_feedback_every_time(self, gate: Any) -> None:
        """A rejection reaches Claude with the reviewer's words; the retry gets the same rejection."""
        first = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH)))
        await gate.reject(cc.ticket_of(first["permissionDecisionReason"]), reviewer="alice",
                          feedback="open a pull request instead")
        again = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH, tool_use_id="toolu_02")))
        assert ("deny", 1) == (again["permissionDecision"], len(await gate.list_tickets()))
        assert "rejected by alice and did not run: open a pull request instead" in again["permissionDecisionReason"]

    async def test_an_approval_lets_one_call_through(self, gate: Any) -> None:
        """After the approved call went through, the same call later in the session asks again."""
        first = cc.out(await ask(gate, cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE)))
        tid = cc.ticket_of(first["permissionDecisionReason"])
        await gate.approve(tid, reviewer="alice")
        allowed = cc.out(await ask(gate, cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE,
                                                         tool_use_id="toolu_02")))
        later = cc.out(await ask(gate, cc.pre_tool_use("mcp__github__merge_pull_request", cc.MCP_MERGE,
                                                       tool_use_id="toolu_03")))
        assert ("allow", "deny") == (allowed["permissionDecision"], later["permissionDecision"])
        assert "updatedInput" not in allowed
        assert tid != cc.ticket_of(later["permissionDecisionReason"])
        assert 2 == len(await gate.list_tickets(kind="approval"))

    async def test_a_cancelled_ticket_lets_the_next_attempt_ask_anew(self, gate: Any) -> None:
        """A withdrawn ticket does not stand: the retry queues a new one (and says so)."""
        first = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH)))
        tid = cc.ticket_of(first["permissionDecisionReason"])
        await gate.cancel(tid, reason="stale")
        again = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH, tool_use_id="toolu_02")))
        assert ("deny", True) == (again["permissionDecision"], cc.ticket_of(again["permissionDecisionReason"]) != tid)

    async def test_permission_request_answers_with_a_decision(self, gate: Any) -> None:
        """PermissionRequest: allow with updatedInput after an edit, deny with message after a rejection."""
        pending = cc.out(await ask(gate, cc.permission_request("Write", cc.WRITE_OUTSIDE)))
        await gate.approve(cc.ticket_of(pending["decision"]["message"]), reviewer="alice",
                           args={**cc.WRITE_OUTSIDE, "file_path": f"{cc.CWD}/hosts"})
        allowed = cc.out(await ask(gate, cc.permission_request("Write", cc.WRITE_OUTSIDE)))
        other = cc.permission_request("Bash", cc.BASH_FORCE_PUSH)
        await gate.reject(cc.ticket_of(cc.out(await ask(gate, other))["decision"]["message"]), reviewer="alice",
                          feedback="no")
        denied = cc.out(await ask(gate, other))
        assert ("PermissionRequest", {"behavior": "allow", "updatedInput": {**cc.WRITE_OUTSIDE,
                                                                           "file_path": f"{cc.CWD}/hosts"}}) == \
            (allowed["hookEventName"], allowed["decision"])
        assert ("deny", False) == (denied["decision"]["behavior"], denied["decision"]["interrupt"])
        assert "rejected by alice and did not run: no" in denied["decision"]["message"]


class TestInput:
    @pytest.mark.parametrize(("change", "field"), [
        ({"hook_event_name": "PostToolUse"}, "hook_event_name"),
        ({"tool_name": ""}, "tool_name"),
        ({"tool_input": "rm -rf /"}, "tool_input"),
        ({"session_id": None}, "session_id"),
        ({"cwd": 7}, "cwd"),
    ])
    async def test_malformed_input_names_the_field(self, gate: Any, change: dict[str, Any], field: str) -> None:
        """A malformed input raises HookInputError naming the field, and queues nothing."""
        with pytest.raises(HookInputError) as err:
            await ask(gate, {**cc.pre_tool_use("Bash", cc.BASH_FORCE_PUSH), **change})
        assert (field, []) == (err.value.field, await gate.list_tickets())


@pytest.mark.parametrize("kind", ["local", "remote"])
async def test_the_original_of_an_edited_call_goes_to_a_person_again(kind: str, tmp_path: Path) -> None:
    """Novelty: the first Bash call needs a person, who edits it; once learnt, Bash is auto, yet the
    original call again in the session is not let through as it was: it asks a person."""
    with local_or_remote(kind, tmp_path, NOVELTY_POLICY, reviewers={"alice": None}, operator="alice") as gate:
        first = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_INSTALL)))
        await gate.approve(cc.ticket_of(first["permissionDecisionReason"]), reviewer="alice",
                           args={**cc.BASH_INSTALL, "command": "npm install --save-exact left-pad@1.3.0"})
        ran = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_INSTALL, tool_use_id="toolu_02")))
        other = await ask(gate, cc.pre_tool_use("Bash", cc.BASH_TESTS, tool_use_id="toolu_03"))
        again = cc.out(await ask(gate, cc.pre_tool_use("Bash", cc.BASH_INSTALL, tool_use_id="toolu_04")))
        assert ("allow", "allow", "deny") == (ran["permissionDecision"], cc.out(other)["permissionDecision"],
                                              again["permissionDecision"])
        assert "waiting for approval" in again["permissionDecisionReason"]
