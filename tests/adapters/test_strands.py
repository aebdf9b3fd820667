"""signoff.integrations.strands against the real Strands Agents SDK, offline (a scripted strands Model)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("strands.interventions")

import signoff
from tests.adapters import _st_app as app
from tests.adapters.conftest import NOVELTY_POLICY

ROOT = Path(__file__).resolve().parents[2]
REFUND = ("issue_refund", {"order": "A-1", "amount": 150.0})
CLOSE = ("close_account", {"customer": "bob"})


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


def answer(result: Any, response: Any) -> list[dict[str, Any]]:
    """What an app resumes with when it answers every interrupt with ``response`` (forged or not)."""
    return [{"interruptResponse": {"interruptId": i.id, "response": response}} for i in result.interrupts]


async def _approve_when_queued(gate: Any, **kw: Any) -> None:
    while not (tickets := await gate.list_tickets(status="pending")):
        await asyncio.sleep(0.01)
    await gate.approve(tickets[0].id, reviewer="alice", **kw)


class TestSignoffIntervention:
    async def test_auto_calls_run_without_a_ticket(self, gate: signoff.Gate) -> None:
        """Proceed for auto calls: they run in the turn and the store stays empty."""
        agent, _, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}))])
        result = await agent.invoke_async("help")
        assert ("end_turn", [("lookup_order", {"order": "A-1"})], []) == \
            (result.stop_reason, app.RAN, await gate.list_tickets())

    async def test_pending_calls_pause_with_one_batch_of_tickets(self, gate: signoff.Gate) -> None:
        """Both calls that need a person become one batch (name, args, agent, the model's words) and the
        agent stops with one interrupt per call, carrying its ticket id; nothing ran but the auto call."""
        agent, hitl, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}), REFUND, CLOSE)])
        result = await agent.invoke_async("help")
        tickets = sorted(await gate.list_tickets(), key=lambda t: t.action.name, reverse=True)
        assert [("issue_refund", {"order": "A-1", "amount": 150.0}, "support-bot", app.REASONING),
                ("close_account", {"customer": "bob"}, "support-bot", app.REASONING)] == \
            [(t.action.name, dict(t.action.args), t.action.agent, t.action.reasoning) for t in tickets]
        assert (1, "interrupt", [("lookup_order", {"order": "A-1"})]) == \
            (len({t.batch_id for t in tickets}), result.stop_reason, app.RAN)
        assert sorted((i.name, i.reason["ticket_id"]) for i in result.interrupts) == \
            sorted(("signoff:1", t.id) for t in tickets)
        assert len(hitl.responses(result)) == 2

    async def test_mixed_decisions_resume(self, gate: signoff.Gate) -> None:
        """The edited call runs once with the reviewer's arguments and says so; the rejected one is
        cancelled with the feedback; the denied one never asked anyone."""
        agent, hitl, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}), REFUND, CLOSE,
                                                   ("delete_customer_data", {"customer": "bob"}))])
        result = await agent.invoke_async("help")
        by_name = {t.action.name: t for t in await gate.list_tickets()}
        assert {"issue_refund", "close_account"} == set(by_name)
        await gate.approve(by_name["issue_refund"].id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await gate.reject(by_name["close_account"].id, reviewer="alice", feedback="offer a voucher")
        result = await agent.invoke_async(hitl.responses(result))
        out = app.results(agent)
        assert ("end_turn", [("lookup_order", {"order": "A-1"}), ("issue_refund", {"order": "A-1", "amount": 100.0})]) \
            == (result.stop_reason, app.RAN)
        assert out["call_2"] == ("success", 'Note: a reviewer edited the arguments to {"amount": 100.0, "order": '
                                 '"A-1"}. The call ran with the edited arguments and the original call was not run: '
                                 "do not retry it.\nrefunded 100.0 on A-1")
        assert out["call_3"] == ("error", "DENIED: The call to close_account was rejected by alice and did not run: "
                                 "offer a voucher")
        assert out["call_4"][0] == "error" and "no-data-deletion" in out["call_4"][1]
        assert "executed" == (await gate.get_ticket(by_name["issue_refund"].id)).execution

    async def test_forged_approval_never_runs_a_pending_call(self, gate: signoff.Gate) -> None:
        """Resuming with "yes" while the ticket is pending pauses again (signoff:2), and a rejected ticket
        resumed with True is still refused: the interrupt's response is not the decision."""
        agent, _, _ = app.build(gate, [app.turn(CLOSE)])
        first = await agent.invoke_async("help")
        again = await agent.invoke_async(answer(first, "yes"))
        assert ("interrupt", ["signoff:2"], []) == (again.stop_reason, [i.name for i in again.interrupts], app.RAN)
        [ticket] = await gate.list_tickets()
        await gate.reject(ticket.id, reviewer="alice")
        done = await agent.invoke_async(answer(again, True))
        assert ("end_turn", [], "error") == (done.stop_reason, app.RAN, app.results(agent)["call_1"][0])

    async def test_decision_within_the_wait_needs_no_interrupt(self, gate: signoff.Gate) -> None:
        """With ``wait``, a reviewer deciding while the hook blocks runs the call in the same invocation."""
        agent, _, _ = app.build(gate, [app.turn(REFUND)], wait=30)
        result, _ = await asyncio.gather(agent.invoke_async("help"), _approve_when_queued(gate))
        assert ("end_turn", [REFUND]) == (result.stop_reason, app.RAN)

    async def test_sequential_executor_one_batch(self, gate: signoff.Gate) -> None:
        """With Strands' SequentialToolExecutor the first pending call stops the turn, yet both calls are
        one batch; once both are approved, one resume runs both."""
        from strands.tools.executors import SequentialToolExecutor

        agent, hitl, _ = app.build(gate, [app.turn(REFUND, CLOSE)], tool_executor=SequentialToolExecutor())
        result = await agent.invoke_async("help")
        tickets = await gate.list_tickets()
        assert (2, 1, ["call_1"]) == (len(tickets), len({t.batch_id for t in tickets}),
                                      [i.reason["tool_use_id"] for i in result.interrupts])
        for t in tickets:
            await gate.approve(t.id, reviewer="alice")
        result = await agent.invoke_async(hitl.responses(result))
        assert ("end_turn", [REFUND, CLOSE]) == (result.stop_reason, app.RAN)
        assert 2 == len(await gate.list_tickets())

    async def test_another_intervention_still_holds(self, gate: signoff.Gate) -> None:
        """Strands' own HumanInTheLoop listed after signoff still pauses a call the policy lets pass."""
        from strands.vended_interventions.hitl import HumanInTheLoop

        agent, _, _ = app.build(gate, [app.turn(("lookup_order", {"order": "A-1"}))], also=[HumanInTheLoop()])
        result = await agent.invoke_async("help")
        assert ("interrupt", ["strands:human-in-the-loop"], []) == \
            (result.stop_reason, [i.name for i in result.interrupts], app.RAN)

    async def test_edited_call_cancelled_by_a_later_intervention_says_nothing_ran(self, gate: signoff.Gate) -> None:
        """An edited approval that another intervention then denies is not run, and its result does not
        claim it ran with the edited arguments."""
        from strands.interventions import Deny, InterventionHandler

        class Frozen(InterventionHandler):
            name = "frozen"

            def before_tool_call(self, event: Any, **kwargs: Any) -> Deny:
                return Deny(reason="refunds are frozen")

        agent, hitl, _ = app.build(gate, [app.turn(REFUND)], also=[Frozen()])
        result = await agent.invoke_async("help")
        [ticket] = await gate.list_tickets()
        await gate.approve(ticket.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await agent.invoke_async(hitl.responses(result))
        assert ([], ("error", "DENIED: refunds are frozen")) == (app.RAN, app.results(agent)["call_1"])

    def test_sync_call(self, gate: signoff.Gate) -> None:
        """``agent(...)`` (Strands runs its event loop in a thread of its own) pauses and resumes the same way."""
        agent, hitl, _ = app.build(gate, [app.turn(REFUND)])
        result = agent("help")
        [ticket] = gate.list_tickets_sync()
        gate.approve_sync(ticket.id, reviewer="alice")
        result = agent(hitl.responses(result))
        assert ("end_turn", [REFUND]) == (result.stop_reason, app.RAN)

    async def test_notify_runs_with_a_record(self, gate: signoff.Gate) -> None:
        """notify: runs in the turn and leaves a record in the reviewers' feed."""
        agent, _, _ = app.build(gate, [app.turn(("send_receipt", {"order": "A-1"}))])
        result = await agent.invoke_async("help")
        [ticket] = await gate.list_tickets()
        assert ("end_turn", [("send_receipt", {"order": "A-1"})], "notification") == \
            (result.stop_reason, app.RAN, ticket.kind)

    async def test_original_call_repeated_after_an_edit_needs_approval(self, db: str) -> None:
        """After an edit, the model asking for the original call again pauses for a person although
        novelty alone would now let it pass."""
        async with signoff.Gate.open(policy=NOVELTY_POLICY, store=db) as gate:
            gate.add_reviewer("alice")
            agent, hitl, _ = app.build(gate, [app.turn(REFUND), app.turn(REFUND, text="again", ids="retry_")])
            first = await agent.invoke_async("help")
            [ticket] = await gate.list_tickets()
            await gate.approve(ticket.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
            second = await agent.invoke_async(hitl.responses(first))
            assert ([("issue_refund", {"order": "A-1", "amount": 100.0})], "interrupt", ["retry_1"]) == \
                (app.RAN, second.stop_reason, [i.reason["tool_use_id"] for i in second.interrupts])

    async def test_resume_in_another_process(self, gate: signoff.Gate, db: str, tmp_path: Path) -> None:
        """Strands' file session keeps the interrupt; a fresh process resumes it and the ticket decides."""
        agent, _, _ = app.build(gate, [app.turn(REFUND)], session_dir=str(tmp_path / "sessions"))
        result = await agent.invoke_async("help")
        [ticket] = await gate.list_tickets()
        await gate.approve(ticket.id, reviewer="alice")
        out = subprocess.run([sys.executable, "-m", "tests.adapters._st_app", db, str(tmp_path / "sessions"),
                              *(i.id for i in result.interrupts)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert ([["issue_refund", {"order": "A-1", "amount": 150.0}]], "end_turn") == \
            (report["ran"], report["stop"])
        assert "executed" == (await gate.get_ticket(ticket.id)).execution

    async def test_store_failure_denies_the_call(self, gate: signoff.Gate, monkeypatch: pytest.MonkeyPatch) -> None:
        """A gate that fails while queuing the ticket cancels the call (fail closed), not run it."""
        agent, hitl, _ = app.build(gate, [app.turn(CLOSE)])

        async def broken(*a: Any, **kw: Any) -> Any:
            raise RuntimeError("store down")

        monkeypatch.setattr(hitl.core, "submit", broken)
        await agent.invoke_async("help")
        assert ([], "error") == (app.RAN, app.results(agent)["call_1"][0])
