"""signoff.integrations.pydantic_ai against real Pydantic AI, offline (FunctionModel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai.tools import DeferredToolRequests, ToolApproved, ToolDenied
from pydantic_ai.toolsets import FunctionToolset

import signoff
from signoff.integrations.pydantic_ai import SignoffToolset
from tests.adapters import _pa_app as app
from tests.adapters.conftest import NOVELTY_POLICY

ROOT = Path(__file__).resolve().parents[2]
REFUND = ("issue_refund", {"order": "A-1", "amount": 150.0})
CLOSE = ("close_account", {"customer": "bob"})


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


class TestSignoffToolset:
    async def test_auto_calls_run_without_a_ticket(self, gate: signoff.Gate) -> None:
        """Auto calls run during the run and nothing is written to the store."""
        agent, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}))])
        result = await agent.run("help")
        assert ("done", [("lookup_order", {"order": "A-1"})], []) == \
            (result.output, app.RAN, await gate.list_tickets())

    async def test_deferred_calls_become_one_batch(self, gate: signoff.Gate) -> None:
        """Calls that need a person end the run as DeferredToolRequests and become one batch of tickets
        with name, args, agent and the model's words."""
        agent, tools = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}), REFUND, CLOSE)])
        result = await agent.run("help")
        assert isinstance(result.output, DeferredToolRequests)
        tickets = await tools.submit(result)
        assert [("issue_refund", {"order": "A-1", "amount": 150.0}, "support-bot", app.REASONING),
                ("close_account", {"customer": "bob"}, "support-bot", app.REASONING)] == \
            [(t.action.name, dict(t.action.args), t.action.agent, t.action.reasoning) for t in tickets]
        assert (1, [("lookup_order", {"order": "A-1"})]) == (len({t.batch_id for t in tickets}), app.RAN)

    async def test_decisions_become_approval_results(self, gate: signoff.Gate) -> None:
        """An edit becomes ToolApproved(override_args=...), a rejection ToolDenied with the feedback."""
        agent, tools = app.build(gate, [app.turn(REFUND, CLOSE)])
        refund, close = await tools.submit(await agent.run("help"))
        await gate.approve(refund.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await gate.reject(close.id, reviewer="alice", feedback="offer a voucher")
        _, results = await tools.resume(refund.id)
        assert {"call_1": ToolApproved(override_args={"order": "A-1", "amount": 100.0}),
                "call_2": ToolDenied("The call to close_account was rejected by alice and did not run: "
                                     "offer a voucher")} == results.approvals

    async def test_mixed_decisions_run(self, gate: signoff.Gate) -> None:
        """The edited call runs once with the reviewer's arguments and says so; the rejected one does not."""
        agent, tools = app.build(gate, [app.turn(REFUND, CLOSE)])
        refund, close = await tools.submit(await agent.run("help"))
        await gate.approve(refund.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await gate.reject(close.id, reviewer="alice", feedback="offer a voucher")
        history, results = await tools.resume(close.id)
        result = await agent.run(message_history=history, deferred_tool_results=results)
        back = app.returns(result.new_messages())
        assert [("issue_refund", {"order": "A-1", "amount": 100.0})] == app.RAN
        assert back["call_1"].startswith('Note: a reviewer edited the arguments to {"amount": 100.0, "order": "A-1"}.')
        assert "executed" == (await gate.get_ticket(refund.id)).execution

    async def test_resume_in_another_process(self, gate: signoff.Gate, db: str) -> None:
        """The message history stored with the tickets lets a fresh process finish the run."""
        agent, tools = app.build(gate, [app.turn(REFUND)])
        [ticket] = await tools.submit(await agent.run("help"))
        await gate.approve(ticket.id, reviewer="alice")
        out = subprocess.run([sys.executable, "-m", "tests.adapters._pa_app", "resume", db, ticket.id],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert ([["issue_refund", {"order": "A-1", "amount": 150.0}]], "refunded 150.0 on A-1", "answered") == \
            (report["ran"], report["returns"]["call_1"], report["final"])

    async def test_denied_and_notified_calls(self, gate: signoff.Gate) -> None:
        """A denied call returns the policy's reasons without running; a notify call runs and is recorded."""
        agent, _ = app.build(gate, [app.turn(("delete_customer_data", {"customer": "bob"}),
                                             ("send_receipt", {"to": "bob"}))])
        result = await agent.run("help")
        back = app.returns(result.all_messages())
        assert [("send_receipt", {"to": "bob"})] == app.RAN
        assert "no-data-deletion" in back["call_1"]
        assert ["notified"] == [t.status for t in await gate.list_tickets(kind="notification")]

    async def test_original_call_repeated_after_an_edit_is_deferred(self, db: str) -> None:
        """After an edit, the original call asked again is deferred for a person although novelty alone
        would let it pass now."""
        async with signoff.Gate.open(policy=NOVELTY_POLICY, store=db) as gate:
            gate.add_reviewer("alice")
            agent, tools = app.build(gate, [app.turn(REFUND), app.turn(REFUND, text="again", ids="retry_")])
            [ticket] = await tools.submit(await agent.run("help"))
            await gate.approve(ticket.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
            history, results = await tools.resume(ticket.id)
            result = await agent.run(message_history=history, deferred_tool_results=results)
            assert isinstance(result.output, DeferredToolRequests)
            assert ([("issue_refund", {"order": "A-1", "amount": 100.0})], ["retry_1"]) == \
                (app.RAN, [c.tool_call_id for c in result.output.approvals])

    async def test_submit_needs_deferred_output(self, gate: signoff.Gate) -> None:
        """submit() says what it needs when the run did not defer anything."""
        agent, tools = app.build(gate, [])
        with pytest.raises(signoff.UserError, match="DeferredToolRequests"):
            await tools.submit(await agent.run("help"))

    def test_wraps_only_toolsets(self, gate: signoff.Gate) -> None:
        """A wrong wrapped object is named in the error."""
        with pytest.raises(signoff.UserError, match="FunctionToolset"):
            SignoffToolset([app.lookup_order], gate=gate)  # type: ignore[arg-type]
        assert isinstance(SignoffToolset(FunctionToolset([]), gate=gate), SignoffToolset)
