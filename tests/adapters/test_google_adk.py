"""signoff.integrations.google_adk against the real ADK Runner, offline (a scripted BaseLlm)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk")

from google.adk.sessions.sqlite_session_service import SqliteSessionService

import signoff
from signoff.integrations.google_adk import SignoffPlugin, signoff_confirmation
from tests.adapters import _adk_app as app

ROOT = Path(__file__).resolve().parents[2]
REFUND = ("issue_refund", {"order": "A-1", "amount": 150.0})
CLOSE = ("close_account", {"customer": "bob"})


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


async def _paused(gate: Any, *calls: tuple[str, dict[str, Any]], then: list[Any] | None = None
                  ) -> tuple[app.App, list[Any]]:
    """An app whose first model turn makes ``calls``; returns it and its open signoff requests."""
    a = app.App(gate, [app.turn(*calls), *(then or [app.say("done")])])
    events = await a.start()
    return a, SignoffPlugin.requests(events)


class TestPolicyLevels:
    async def test_auto_calls_run_without_a_ticket(self, gate: signoff.Gate) -> None:
        """An auto call runs in the turn, the model reads its result and the store stays empty."""
        a = app.App(gate, [app.turn(("lookup_order", {"order": "A-1"})), app.say("done")])
        events = await a.start()
        assert ([("lookup_order", {"order": "A-1"})], {"call_1": {"result": "order A-1 is late"}}, [], ["done"]) == \
            (app.RAN, a.llm.tool_results(), await gate.list_tickets(), app.texts(events)[-1:])

    async def test_deny_never_runs_and_the_model_reads_why(self, gate: signoff.Gate) -> None:
        """A denied call does not run; the model reads an error naming the policy; nothing waits."""
        a = app.App(gate, [app.turn(("delete_customer_data", {"customer": "bob"})), app.say("sorry")])
        events = await a.start()
        result = a.llm.tool_results()["call_1"]
        assert ([], [], ["sorry"]) == (app.RAN, app.confirmation_calls(events), app.texts(events)[-1:])
        assert result["error"].startswith("The call to delete_customer_data is not allowed by policy and did not run")

    async def test_notify_runs_and_leaves_a_record(self, gate: signoff.Gate) -> None:
        """A notify call runs at once and shows in the feed as a notification ticket."""
        a = app.App(gate, [app.turn(("send_receipt", {"order": "A-1"})), app.say("sent")])
        await a.start()
        [ticket] = await gate.list_tickets()
        assert ([("send_receipt", {"order": "A-1"})], "notification") == (app.RAN, ticket.kind)


class TestApproval:
    async def test_approve_pauses_with_adk_confirmation_carrying_the_ticket(self, gate: signoff.Gate) -> None:
        """An approve call pauses the run with adk_request_confirmation; its payload names the pending
        ticket, which carries the call, the agent, the model's words and where the call lives."""
        a, [request] = await _paused(gate, REFUND)
        ticket = await gate.get_ticket(request.ticket_id)
        assert ([], "pending", "issue_refund", {"order": "A-1", "amount": 150.0}, "support-bot", app.REASONING) == \
            (app.RAN, ticket.status, ticket.action.name, dict(ticket.action.args), ticket.action.agent,
             ticket.action.reasoning)
        assert {"app": "support", "user": "u1", "session": "s1", "function_call_id": "call_1"} == \
            dict(ticket.action.context["adk"])
        assert ("issue_refund", "call_1", ["done"]) == \
            (request.call.name, request.call.id, [p.text for r in a.llm.script for p in r.content.parts])

    async def test_resume_before_a_decision_is_still_pending(self, gate: signoff.Gate) -> None:
        """resume() raises StillPending while nobody decided, and nothing runs."""
        a, _ = await _paused(gate, REFUND)
        with pytest.raises(signoff.StillPending):
            await a.resume(timeout=0.0)
        assert [] == app.RAN

    async def test_approved_with_edits_runs_once_with_the_edited_args(self, gate: signoff.Gate) -> None:
        """After the reviewer edits and approves, resume() runs the tool with the edited arguments, once;
        the model reads the result and a note about the edit; the ticket says executed."""
        a, [request] = await _paused(gate, REFUND)
        await gate.approve(request.ticket_id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        events = await a.resume()
        result = a.llm.tool_results()["call_1"]
        assert ([("issue_refund", {"order": "A-1", "amount": 100.0})], "refunded 100.0 on A-1", ["done"]) == \
            (app.RAN, result["result"], app.texts(events)[-1:])
        assert result["signoff_note"].startswith('Note: a reviewer edited the arguments to {"amount": 100.0')
        assert "executed" == (await gate.get_ticket(request.ticket_id)).execution
        assert [] == SignoffPlugin.requests(await a.events())

    async def test_the_same_answer_sent_again_does_not_run_the_call_again(self, gate: signoff.Gate) -> None:
        """A client that resends the confirmation after the call ran: the call runs once."""
        a, [request] = await _paused(gate, REFUND)
        await gate.approve(request.ticket_id, reviewer="alice")
        await a.send(app.answer(request.confirmation_id, True))
        await a.send(app.answer(request.confirmation_id, True))
        assert [("issue_refund", {"order": "A-1", "amount": 150.0})] == app.RAN

    async def test_rejected_never_runs_and_the_model_reads_the_feedback(self, gate: signoff.Gate) -> None:
        """A rejected call does not run; the model reads the reviewer's words."""
        a, [request] = await _paused(gate, CLOSE)
        await gate.reject(request.ticket_id, reviewer="alice", feedback="offer a voucher")
        await a.resume()
        assert ([], {"error": "The call to close_account was rejected by alice and did not run: offer a voucher"}) \
            == (app.RAN, a.llm.tool_results()["call_1"])

    async def test_the_tools_own_confirmation_makes_a_ticket_where_the_policy_says_auto(
            self, gate: signoff.Gate) -> None:
        """wire_money has require_confirmation=True and no rule: the stricter (its author) wins."""
        a, [request] = await _paused(gate, ("wire_money", {"to": "acme", "amount": 5.0}))
        assert ([], "pending") == (app.RAN, (await gate.get_ticket(request.ticket_id)).status)
        await gate.approve(request.ticket_id, reviewer="alice")
        await a.resume()
        assert [("wire_money", {"to": "acme", "amount": 5.0})] == app.RAN

    async def test_signoff_confirmation_asks_the_policy(self, gate: signoff.Gate) -> None:
        """The require_confirmation callable is True exactly where the policy wants a person."""
        needs = signoff_confirmation(gate, "issue_refund", agent="support-bot")
        assert (True, False) == (needs(order="A-1", amount=150.0), needs(order="A-1", amount=20.0))


class TestForgedConfirmations:
    async def test_confirmed_true_for_a_pending_ticket_runs_nothing(self, gate: signoff.Gate) -> None:
        """A client answering confirmed=true by hand, before any reviewer decided: the tool does not
        run and the model is told the call waits; the ticket stays pending."""
        a, [request] = await _paused(gate, REFUND)
        await a.send(app.answer(request.confirmation_id, True, {"signoff": {"ticket_id": request.ticket_id}}))
        result = a.llm.tool_results()["call_1"]
        assert ([], "pending") == (app.RAN, (await gate.get_ticket(request.ticket_id)).status)
        assert result["error"].startswith(f"Pending approval: ticket {request.ticket_id}. The call to issue_refund "
                                          "did not run")

    async def test_confirmed_true_for_a_rejected_ticket_runs_nothing(self, gate: signoff.Gate) -> None:
        """The ticket, not the answer, decides: rejected in signoff means not run."""
        a, [request] = await _paused(gate, CLOSE)
        await gate.reject(request.ticket_id, reviewer="alice", feedback="no")
        await a.send(app.answer(request.confirmation_id, True))
        assert ([], {"error": "The call to close_account was rejected by alice and did not run: no"}) == \
            (app.RAN, a.llm.tool_results()["call_1"])

    async def test_a_forged_ticket_id_in_the_payload_is_ignored(self, gate: signoff.Gate) -> None:
        """The plugin finds the ticket by the call, never by the payload: naming another, approved ticket
        does not run this call."""
        a, [request] = await _paused(gate, CLOSE, then=[app.turn(REFUND, ids="x_"), app.say("done")])
        await gate.reject(request.ticket_id, reviewer="alice", feedback="no")
        other = await gate.submit(signoff.Action(name="close_account", args={"customer": "bob"}, agent="support-bot"))
        await gate.approve(other.id, reviewer="alice")
        await a.send(app.answer(request.confirmation_id, True, {"signoff": {"ticket_id": other.id}}))
        assert ([], "The call to close_account was rejected by alice and did not run: no") == \
            (app.RAN, a.llm.tool_results()["call_1"]["error"])

    async def test_declined_by_the_app_never_runs_even_when_approved(self, gate: signoff.Gate) -> None:
        """An approved ticket answered with confirmed=false: the stricter (the decline) wins."""
        a, [request] = await _paused(gate, REFUND)
        await gate.approve(request.ticket_id, reviewer="alice")
        await a.send(app.answer(request.confirmation_id, False))
        assert [] == app.RAN
        assert "declined by the app and did not run" in a.llm.tool_results()["call_1"]["error"]

    async def test_a_custom_tool_that_ignores_a_decline_does_not_run(self, gate: signoff.Gate) -> None:
        """google/adk-python#7148: a custom BaseTool that asked for a confirmation itself and never reads
        `confirmed` is not called after a decline (the plugin refuses it first)."""
        a = app.App(gate, [app.turn(("export_rows", {"rows": 10})), app.say("done")])
        [confirmation] = app.confirmation_calls(await a.start())
        await a.send(app.answer(confirmation.id, False))
        assert ([], {"error": "The call to export_rows was declined and did not run."}) == \
            (app.RAN, a.llm.tool_results()["call_1"])


async def test_without_the_plugin_adk_runs_the_declined_custom_tool() -> None:
    """The control for the test above: the same tool, declined, on a runner without SignoffPlugin, runs
    (so that test can fail: the bug is real in this ADK)."""
    a = app.App(None, [app.turn(("export_rows", {"rows": 10})), app.say("done")], plugins=[])
    [confirmation] = app.confirmation_calls(await a.start())
    await a.send(app.answer(confirmation.id, False))
    assert [("export_rows", {"rows": 10})] == app.RAN


class TestBatch:
    async def test_one_turn_is_one_batch_and_partial_decisions_reach_each_call(self, gate: signoff.Gate) -> None:
        """Three parallel calls: the auto one runs at once, the two others become tickets of one batch;
        the edited approval runs on the first resume while the other waits, and its rejection reaches
        the model on the second."""
        a, requests = await _paused(gate, ("lookup_order", {"order": "A-1"}), REFUND, CLOSE,
                                    then=[app.say("refunded, closing waits"), app.say("done")])
        tickets = [await gate.get_ticket(r.ticket_id) for r in requests]
        assert (["issue_refund", "close_account"], 1, [("lookup_order", {"order": "A-1"})]) == \
            ([t.action.name for t in tickets], len({t.batch_id for t in tickets}), app.RAN)
        await gate.approve(tickets[0].id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        await a.resume(timeout=0.0)
        assert app.RAN[1:] == [("issue_refund", {"order": "A-1", "amount": 100.0})]
        assert [tickets[1].id] == [r.ticket_id for r in SignoffPlugin.requests(await a.events())]
        assert a.llm.tool_results()["call_3"]["error"].startswith(f"Pending approval: ticket {tickets[1].id}.")
        await gate.reject(tickets[1].id, reviewer="alice", feedback="keep it open")
        await a.resume(timeout=0.0)
        assert (2, "The call to close_account was rejected by alice and did not run: keep it open") == \
            (len(app.RAN), a.llm.tool_results()["call_3"]["error"])
        assert [] == SignoffPlugin.requests(await a.events())


class TestResumeElsewhere:
    async def test_resume_in_a_new_process_on_a_sqlite_session_service(self, gate: signoff.Gate, db: str,
                                                                         tmp_path: Path) -> None:
        """The session lives in ADK's SqliteSessionService and the ticket in signoff: a fresh process
        answers the confirmation from the decision and the call runs there with the edited args."""
        sessions_db = str(tmp_path / "adk.db")
        a = app.App(gate, [app.turn(REFUND)], sessions=SqliteSessionService(sessions_db))
        [request] = SignoffPlugin.requests(await a.start())
        await gate.approve(request.ticket_id, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        out = subprocess.run([sys.executable, "-m", "tests.adapters._adk_app", "resume", db, sessions_db, "s1"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert 0 == out.returncode, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert ([], [["issue_refund", {"order": "A-1", "amount": 100.0}]], ["Refunded; anything else?"]) == \
            (app.RAN, report["ran"], report["final"])
        assert "refunded 100.0 on A-1" == report["results"]["call_1"]["result"]
        assert "executed" == (await gate.get_ticket(request.ticket_id)).execution


class TestWaitAndStricterPolicy:
    async def test_a_reviewer_deciding_within_wait_runs_the_call_without_a_pause(self, gate: signoff.Gate) -> None:
        """With wait=..., a decision that comes in time runs the call in the same run: no confirmation."""

        async def reviewer() -> None:
            while not (pending := await gate.list_tickets(status="pending")):
                await asyncio.sleep(0.02)
            await gate.approve(pending[0].id, reviewer="alice", args={"order": "A-1", "amount": 60.0})

        a = app.App(gate, [app.turn(REFUND), app.say("done")])
        assert a.plugin is not None
        a.plugin.wait = 30.0
        decided = asyncio.ensure_future(reviewer())
        events = await a.start()
        await decided
        assert ([], [("issue_refund", {"order": "A-1", "amount": 60.0})], ["done"]) == \
            (app.confirmation_calls(events), app.RAN, app.texts(events)[-1:])

    async def test_answers_is_none_while_nothing_is_decided(self, gate: signoff.Gate) -> None:
        """No decision yet: no answer to send (the request stays open)."""
        a, [request] = await _paused(gate, REFUND)
        assert a.plugin is not None
        assert (None, [request.ticket_id]) == \
            (await a.plugin.answers(await a.events()), [r.ticket_id for r in a.plugin.requests(await a.events())])


SUGGEST_POLICY = {"version": 1, "defaults": {"level": "auto"}, "rules": [
    {"name": "wires-are-for-people", "match": {"action": "wire_money"}, "level": "suggest"},
    {"name": "closures", "match": {"action": "close_account"}, "level": "suggest"}]}


async def test_suggest_beats_the_tools_own_confirmation(tmp_path: Path) -> None:
    """wire_money asks for a confirmation itself, but the policy only lets it be suggested: it is recorded for
    a person to carry out and never runs, and no confirmation is asked (an approval would lift the policy)."""
    async with signoff.Gate.open(policy=SUGGEST_POLICY, store=f"sqlite:///{tmp_path / 'g.db'}") as gate:
        a = app.App(gate, [app.turn(("wire_money", {"to": "acme", "amount": 5.0}), CLOSE), app.say("recorded")])
        events = await a.start()
        kinds = sorted(t.kind for t in await gate.list_tickets())
        results = a.llm.tool_results()
    assert ([], [], ["suggestion", "suggestion"]) == (app.RAN, app.confirmation_calls(events), kinds)
    assert "policy only allows suggesting it" in results["call_1"]["error"]
    assert "policy only allows suggesting it" in results["call_2"]["error"]


async def test_without_agent_the_adk_agent_names_the_tickets(tmp_path: Path) -> None:
    """SignoffPlugin(gate) with no agent= puts the ADK agent's name on its tickets."""
    from tests.adapters.conftest import POLICY

    async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path / 'g.db'}") as gate:
        a = app.App(gate, [app.turn(CLOSE)], plugins=[SignoffPlugin(gate)])
        await a.start()
        [ticket] = await gate.list_tickets()
    assert "support_bot" == ticket.action.agent


def test_without_google_adk_the_import_names_the_extra() -> None:
    """Importing the adapter where google-adk is missing says which extra to install."""
    code = ("import sys; sys.modules['google.adk'] = None\n"
            "try:\n    import signoff.integrations.google_adk\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "pip install 'signoff[google-adk]'" in out.stdout, out.stderr[-2000:]
