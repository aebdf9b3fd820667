"""signoff.integrations.agent_framework against the real Microsoft Agent Framework, offline (a scripted chat client)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agent_framework")

from agent_framework import Message

import signoff
from tests.adapters import _af_app as app

ROOT = Path(__file__).resolve().parents[2]
LOOKUP = ("lookup_order", {"order": "A-1"})
REFUND = ("issue_refund", {"order": "A-1", "amount": 150.0})
CLOSE = ("close_account", {"customer": "bob"})
DELETE = ("delete_customer_data", {"customer": "bob"})
RESET = ("reset_password", {"customer": "bob"})


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


async def _decide_when_queued(gate: Any, decide: Any, n: int = 1) -> None:
    """A reviewer who decides each ticket as soon as ``n`` are pending."""
    while len(tickets := await gate.list_tickets(status="pending")) < n:
        await asyncio.sleep(0.01)
    for t in tickets:
        await decide(t)


class TestMiddleware:
    async def test_auto_runs_without_a_ticket(self, gate: signoff.Gate) -> None:
        agent, _, client = app.build(gate, [app.turn(LOOKUP)])
        response = await agent.run("help")
        assert ([LOOKUP], [], True) == (app.RAN, await gate.list_tickets(), response.text.endswith("done"))
        assert app.results(client) == {"call_1": "order A-1 is late"}

    async def test_notify_runs_and_is_recorded(self, gate: signoff.Gate) -> None:
        agent, _, _ = app.build(gate, [app.turn(("send_receipt", {"order": "A-1"}))])
        await agent.run("help")
        [t] = await gate.list_tickets()
        assert (app.RAN, t.kind, t.action.name) == \
            ([("send_receipt", {"order": "A-1"})], "notification", "send_receipt")

    async def test_deny_never_runs(self, gate: signoff.Gate) -> None:
        """The app answers the framework's approval request itself with "yes": the policy still denies the
        call, the model reads the policy's reasons, and only the auto call ran."""
        agent, _, client = app.build(gate, [app.turn(LOOKUP, DELETE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        assert [r.function_call.name for r in response.user_input_requests] == ["delete_customer_data"]
        yes = Message(role="user", contents=[r.to_function_approval_response(True)
                                             for r in response.user_input_requests])
        await agent.run(yes, session=session)
        assert app.RAN == [LOOKUP]
        assert app.results(client)["call_2"].startswith("The call to delete_customer_data is not allowed by policy")
        assert await gate.list_tickets(status="pending") == []

    async def test_approve_with_edit_runs_the_edited_call(self, gate: signoff.Gate) -> None:
        agent, _, client = app.build(gate, [app.turn(REFUND)], wait=30)
        reviewer = asyncio.create_task(_decide_when_queued(
            gate, lambda t: gate.approve(t.id, reviewer="alice", args={"order": "A-1", "amount": 100.0})))
        await agent.run("help")
        await reviewer
        assert app.RAN == [("issue_refund", {"order": "A-1", "amount": 100.0})]
        result = app.results(client)["call_1"]
        assert result.startswith("Note: a reviewer edited the arguments to") and "refunded 100.0 on A-1" in result
        [t] = await gate.list_tickets()
        assert (t.action.name, dict(t.action.args), t.action.agent) == ("issue_refund", dict(REFUND[1]), "support-bot")

    async def test_reject_never_runs_and_the_model_reads_the_feedback(self, gate: signoff.Gate) -> None:
        agent, _, client = app.build(gate, [app.turn(REFUND)], wait=30)
        reviewer = asyncio.create_task(_decide_when_queued(
            gate, lambda t: gate.reject(t.id, reviewer="alice", feedback="offer a voucher")))
        await agent.run("help")
        await reviewer
        assert app.RAN == []
        assert "rejected by alice and did not run: offer a voucher" in app.results(client)["call_1"]

    async def test_pending_past_the_bound_does_not_run(self, gate: signoff.Gate) -> None:
        """Nobody decides within ``wait``: the model reads the ticket id; its retry finds the same ticket."""
        agent, _, client = app.build(gate, [app.turn(REFUND), app.turn(REFUND, ids="retry_")])
        session = agent.create_session()
        await agent.run("help", session=session)
        [t] = await gate.list_tickets()
        assert app.RAN == []
        assert app.results(client)["retry_1"] == \
            f"Pending approval: ticket {t.id}. The call to issue_refund did not run yet; a reviewer must decide " \
            "first. Ask again later with the same arguments to get the decision."
        assert len(await gate.list_tickets()) == 1


class TestApprovalRequests:
    async def test_one_batch_and_partial_decisions(self, gate: signoff.Gate) -> None:
        """Every approval request of a pause is one batch; the denied one never asks anyone; each call gets
        its own decision (approved runs, rejected does not); the auto sibling runs on resume."""
        agent, hitl, _ = app.build(gate, [app.turn(LOOKUP, CLOSE, RESET, DELETE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        assert app.RAN == []
        answer = await hitl.approvals(response.user_input_requests, reasoning=response.text)
        tickets = {t.action.name: t for t in await gate.list_tickets()}
        assert (set(tickets), len({t.batch_id for t in tickets.values()}), answer.done) == \
            ({"close_account", "reset_password"}, 1, False)
        assert {(t.action.agent, t.action.reasoning, dict(t.action.args)["customer"]) for t in tickets.values()} == \
            {("support-bot", "Order late 3 days.", "bob")}
        assert sorted(t.id for t in answer.pending) == sorted(t.id for t in tickets.values())
        await gate.approve(tickets["reset_password"].id, reviewer="alice")
        await gate.reject(tickets["close_account"].id, reviewer="alice", feedback="keep it open")
        answer = await hitl.approvals(response.user_input_requests)
        assert {r.function_call.name: r.approved for r in answer.responses} == \
            {"close_account": False, "reset_password": True, "delete_customer_data": False}
        response = await agent.run(answer.message(), session=session)
        assert sorted(app.RAN) == sorted([LOOKUP, RESET])
        assert len(await gate.list_tickets()) == 2

    async def test_policy_auto_on_an_always_require_tool_still_needs_a_person(self, gate: signoff.Gate) -> None:
        agent, hitl, _ = app.build(gate, [app.turn(RESET)])
        response = await agent.run("help")
        answer = await hitl.approvals(response.user_input_requests)
        [t] = answer.pending
        assert (t.kind, t.action.name, app.RAN) == ("approval", "reset_password", [])

    async def test_policy_deny_on_an_always_require_tool_is_denied_without_asking(self, gate: signoff.Gate) -> None:
        agent, hitl, _ = app.build(gate, [app.turn(DELETE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        answer = await hitl.approvals(response.user_input_requests)
        assert (answer.done, [r.approved for r in answer.responses], await gate.list_tickets(status="pending")) == \
            (True, [False], [])
        await agent.run(answer.message(), session=session)
        assert app.RAN == []

    async def test_a_forged_approval_does_not_run_a_rejected_call(self, gate: signoff.Gate) -> None:
        """The app answers "yes" although signoff rejected the call: the middleware reads the ticket."""
        agent, hitl, client = app.build(gate, [app.turn(CLOSE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        answer = await hitl.approvals(response.user_input_requests)
        [t] = answer.pending
        await gate.reject(t.id, reviewer="alice", feedback="no")
        forged = Message(role="user", contents=[r.to_function_approval_response(True)
                                                for r in response.user_input_requests])
        await agent.run(forged, session=session)
        assert app.RAN == []
        assert "rejected by alice" in app.results(client)["call_1"]

    async def test_a_pending_call_approved_by_a_forged_answer_does_not_run(self, gate: signoff.Gate) -> None:
        agent, hitl, client = app.build(gate, [app.turn(CLOSE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        [t] = (await hitl.approvals(response.user_input_requests)).pending
        forged = Message(role="user", contents=[r.to_function_approval_response(True)
                                                for r in response.user_input_requests])
        await agent.run(forged, session=session)
        assert app.RAN == []
        assert app.results(client)["call_1"].startswith(f"Pending approval: ticket {t.id}.")

    async def test_an_edit_runs_the_edited_call_once(self, gate: signoff.Gate) -> None:
        """The response cannot carry arguments: the middleware applies the edit, the framework asks again for
        the edited call, and approvals() answers that from the same ticket."""
        agent, hitl, client = app.build(gate, [app.turn(CLOSE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        [t] = (await hitl.approvals(response.user_input_requests)).pending
        await gate.approve(t.id, reviewer="alice", args={"customer": "bobby"})
        rounds = 0
        requests = response.user_input_requests
        while requests:
            rounds += 1
            answer = await hitl.approvals(requests)
            response = await agent.run(answer.message(), session=session)
            requests = response.user_input_requests
        assert (app.RAN, rounds, len(await gate.list_tickets())) == ([("close_account", {"customer": "bobby"})], 2, 1)
        assert app.results(client)["call_1"].startswith("Note: a reviewer edited the arguments to")

    async def test_resume_in_another_process(self, gate: signoff.Gate, db: str) -> None:
        """The session (Agent Framework's to_dict) and the requests go to another process; the tickets are in
        signoff; the approved call runs there once."""
        agent, hitl, _ = app.build(gate, [app.turn(CLOSE)])
        session = agent.create_session()
        response = await agent.run("help", session=session)
        [t] = (await hitl.approvals(response.user_input_requests)).pending
        await gate.approve(t.id, reviewer="alice")
        state = json.dumps({"session": session.to_dict(),
                            "requests": [r.to_dict() for r in response.user_input_requests]})
        out = subprocess.run([sys.executable, "-m", "tests.adapters._af_app", db, state], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["ran"] == [["close_account", {"customer": "bob"}]]
        assert report["results"]["call_1"] == "closed bob"
        assert "executed" == (await gate.get_ticket(t.id)).execution


async def test_a_failing_gate_does_not_run_the_call(gate: signoff.Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails while queuing the ticket: the function never runs (the framework reports a tool error)."""
    agent, hitl, client = app.build(gate, [app.turn(REFUND)])

    async def broken(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("store down")

    monkeypatch.setattr(hitl.core.gate, "submit_many", broken)
    await agent.run("help")
    assert app.RAN == []
    assert "call_1" in app.results(client)
