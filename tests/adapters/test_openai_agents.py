"""signoff.integrations.openai_agents against the real Agents SDK, offline (agents.testing.ScriptedModel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents.testing")

from agents import Runner
from agents.testing import assistant_message

import signoff
from tests.adapters import _oa_app as app
from tests.adapters.conftest import NOVELTY_POLICY

ROOT = Path(__file__).resolve().parents[2]
DONE = [assistant_message("done")]


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


class TestSignoffApprovals:
    async def test_auto_calls_run_without_a_ticket(self, gate: signoff.Gate) -> None:
        """needs_approval is False for auto calls: they run in the turn and the store stays empty."""
        agent, _, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"})), DONE])
        result = await Runner.run(agent, "help")
        assert ([], [("lookup_order", {"order": "A-1"})], []) == \
            (result.interruptions, app.RAN, await gate.list_tickets())

    async def test_interruptions_become_one_batch_with_the_run_state(self, gate: signoff.Gate) -> None:
        """Both calls that need a person become tickets of one batch carrying name, args, agent, reasoning."""
        agent, approvals, _ = app.build(gate, [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0}),
                                                        ("close_account", {"customer": "bob"}))])
        result = await Runner.run(agent, "help")
        tickets = await approvals.submit(result)
        assert [("issue_refund", {"order": "A-1", "amount": 150.0}, "support-bot", app.REASONING),
                ("close_account", {"customer": "bob"}, "support-bot", app.REASONING)] == \
            [(t.action.name, dict(t.action.args), t.action.agent, t.action.reasoning) for t in tickets]
        assert (1, []) == (len({t.batch_id for t in tickets}), app.RAN)

    async def test_repeated_call_id_runs_at_most_once(self, gate: signoff.Gate) -> None:
        """A later call reusing an approved call's id does not run the approval a second time."""
        call = ("close_account", {"customer": "bob"})
        agent, approvals, _ = app.build(gate, [app.turn(call), app.turn(call, text="again"), DONE])
        [ticket] = await approvals.submit(await Runner.run(agent, "help"))
        await gate.approve(ticket.id, reviewer="alice")
        await approvals.resume(agent, ticket.id)
        assert [("close_account", {"customer": "bob"})] == app.RAN

    async def test_mixed_decisions(self, gate: signoff.Gate) -> None:
        """The edited call runs once with the reviewer's arguments and says so; the rejected one returns
        the feedback to the model; the auto one ran in the first turn."""
        agent, approvals, _ = app.build(gate, [
            app.turn(("lookup_order", {"order": "A-1"}), ("issue_refund", {"order": "A-1", "amount": 150.0}),
                     ("close_account", {"customer": "bob"})), DONE])
        refund, close = await approvals.submit(await Runner.run(agent, "help"))
        await gate.approve(refund.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await gate.reject(close.id, reviewer="alice", feedback="offer a voucher")
        out = app.outputs(await approvals.resume(agent, close.id))
        assert [("lookup_order", {"order": "A-1"}), ("issue_refund", {"order": "A-1", "amount": 100.0})] == app.RAN
        assert out["call_2"].startswith('Note: a reviewer edited the arguments to {"amount": 100.0, "order": "A-1"}.')
        assert "The call to close_account was rejected by alice and did not run: offer a voucher" == out["call_3"]
        assert "executed" == (await gate.get_ticket(refund.id)).execution

    async def test_resume_in_another_process(self, gate: signoff.Gate, db: str) -> None:
        """The serialized RunState stored with the tickets lets a fresh process finish the run."""
        agent, approvals, _ = app.build(gate, [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0}))])
        [ticket] = await approvals.submit(await Runner.run(agent, "help"))
        await gate.approve(ticket.id, reviewer="alice")
        out = subprocess.run([sys.executable, "-m", "tests.adapters._oa_app", "resume", db, ticket.id],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert ([["issue_refund", {"order": "A-1", "amount": 150.0}]], "refunded 150.0 on A-1", "answered") == \
            (report["ran"], report["outputs"]["call_1"], report["final"])

    async def test_denied_call_is_refused_in_the_turn(self, gate: signoff.Gate) -> None:
        """A denied call does not pause the run; its result tells the model why it did not run."""
        agent, _, _ = app.build(gate, [app.turn(("delete_customer_data", {"customer": "bob"})), DONE])
        result = await Runner.run(agent, "help")
        out = app.outputs(result)["call_1"]
        assert ([], [], True) == (result.interruptions, app.RAN, "no-data-deletion" in out)

    async def test_approval_outside_signoff_does_not_run(self, gate: signoff.Gate) -> None:
        """A call approved on the RunState directly, without a signoff decision, is refused (fail closed)."""
        agent, _, _ = app.build(gate, [app.turn(("close_account", {"customer": "bob"})), DONE])
        result = await Runner.run(agent, "help")
        state = result.to_state()
        state.approve(result.interruptions[0])
        out = app.outputs(await Runner.run(agent, state))["call_1"]
        assert ([], True) == (app.RAN, out.startswith("The call to close_account did not run"))

    async def test_original_call_repeated_after_an_edit_needs_approval(self, db: str) -> None:
        """After an edit, the model asking for the original call again pauses for a person although
        novelty alone would now let it pass."""
        async with signoff.Gate.open(policy=NOVELTY_POLICY, store=db) as gate:
            gate.add_reviewer("alice")
            original = ("issue_refund", {"order": "A-1", "amount": 150.0})
            agent, approvals, _ = app.build(gate, [app.turn(original), app.turn(original, text="again", ids="retry_"),
                                                   DONE])
            [ticket] = await approvals.submit(await Runner.run(agent, "help"))
            await gate.approve(ticket.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
            result = await approvals.resume(agent, ticket.id)
            assert ([("issue_refund", {"order": "A-1", "amount": 100.0})], ["issue_refund"]) == \
                (app.RAN, [i.name for i in result.interruptions])

    async def test_tool_gated_by_its_author_pauses_under_an_auto_policy(self, gate: signoff.Gate) -> None:
        """A tool with its own needs_approval=True still pauses when the policy says auto (the stricter
        wins): it becomes a ticket and runs once, after a reviewer approved it."""
        agent, approvals, _ = app.build(gate, [app.turn(("wire_money", {"to": "bob", "amount": 5.0})), DONE])
        result = await Runner.run(agent, "help")
        assert (["wire_money"], []) == ([i.name for i in result.interruptions], app.RAN)
        [ticket] = await approvals.submit(result)
        await gate.approve(ticket.id, reviewer="alice")
        await approvals.resume(agent, ticket.id)
        assert [("wire_money", {"to": "bob", "amount": 5.0})] == app.RAN

    async def test_tool_gated_by_its_author_waits_for_a_person_under_a_notify_rule(self, db: str) -> None:
        """Where the policy says notify (act, then show in the feed), a tool its author gated still waits
        for a person: its ticket is an approval, and nothing runs before a reviewer approves."""
        policy = {"version": 1, "defaults": {"level": "auto"},
                  "rules": [{"name": "wires-feed", "match": {"action": "wire_money"}, "level": "notify"}]}
        async with signoff.Gate.open(policy=policy, store=db) as gate:
            gate.add_reviewer("alice")
            agent, approvals, _ = app.build(gate, [app.turn(("wire_money", {"to": "bob", "amount": 5.0})), DONE])
            [ticket] = await approvals.submit(await Runner.run(agent, "help"))
            assert ("approval", "pending", []) == (ticket.kind, ticket.status, app.RAN)
            await gate.approve(ticket.id, reviewer="alice")
            await approvals.resume(agent, ticket.id)
        assert [("wire_money", {"to": "bob", "amount": 5.0})] == app.RAN

    async def test_author_needs_approval_callable_is_asked_too(self, gate: signoff.Gate) -> None:
        """A needs_approval callable keeps deciding alongside the policy: large exports pause, small run."""
        agent, _, _ = app.build(gate, [app.turn(("export_rows", {"rows": 10}), ("export_rows", {"rows": 5000})),
                                       DONE])
        result = await Runner.run(agent, "help")
        assert ([{"rows": 5000}], [("export_rows", {"rows": 10})]) == \
            ([json.loads(str(i.arguments)) for i in result.interruptions], app.RAN)

    async def test_author_gated_tool_approved_outside_signoff_does_not_run(self, gate: signoff.Gate) -> None:
        """Its author's gate holds in the tool too: approving on the RunState without signoff runs nothing."""
        agent, _, _ = app.build(gate, [app.turn(("wire_money", {"to": "bob", "amount": 5.0})), DONE])
        result = await Runner.run(agent, "help")
        state = result.to_state()
        state.approve(result.interruptions[0])
        out = app.outputs(await Runner.run(agent, state))["call_1"]
        assert ([], True) == (app.RAN, out.startswith("The call to wire_money did not run"))

    async def test_tool_rejects_non_function_tools(self, gate: signoff.Gate) -> None:
        """tools() names what it needs when given something else."""
        with pytest.raises(signoff.UserError, match="FunctionTool"):
            app.SignoffApprovals(gate).tool(lambda: None)  # type: ignore[arg-type]
