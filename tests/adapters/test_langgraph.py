"""signoff.integrations.langgraph against real LangChain/LangGraph, offline (scripted chat model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain.agents")
pytest.importorskip("langgraph.checkpoint.sqlite")

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command

import signoff
from signoff.integrations.langgraph import SignoffMiddleware, aresume, resume
from tests.adapters import _lg_app as app
from tests.adapters.conftest import NOVELTY_POLICY, POLICY

ROOT = Path(__file__).resolve().parents[2]
USER = {"messages": [{"role": "user", "content": "please help"}]}


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


def tool_messages(result: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.name: m for m in result["messages"] if isinstance(m, ToolMessage)}


def done(text: str = "done") -> AIMessage:
    return AIMessage(content=text)


class TestSignoffMiddleware:
    def test_auto_calls_pass_without_a_ticket(self, gate: signoff.Gate) -> None:
        """A turn whose calls are all auto runs them at once and writes nothing to the store."""
        agent = app.agent(gate, [app.turn(("lookup_order", {"order": "A-1"})), done()])
        result = agent.invoke(USER, app.config())
        assert [("lookup_order", {"order": "A-1"})] == app.RAN
        assert "order A-1 is late" == tool_messages(result)["lookup_order"].content
        assert [] == gate.list_tickets_sync()

    def test_calls_of_one_turn_become_one_batch(self, gate: signoff.Gate) -> None:
        """Two calls that need a person in one turn are one batch, listed in the interrupt; nothing runs yet."""
        agent = app.agent(gate, [app.turn(("lookup_order", {"order": "A-1"}),
                                          ("issue_refund", {"order": "A-1", "amount": 150.0}),
                                          ("close_account", {"customer": "bob"}))])
        result = agent.invoke(USER, app.config())
        request = result["__interrupt__"][0].value
        tickets = [gate.get_ticket_sync(t) for t in request["tickets"]]
        assert ["issue_refund", "close_account"] == [t.action.name for t in tickets]
        assert {request["batch_id"]} == {t.batch_id for t in tickets}
        assert [] == app.RAN

    def test_ticket_carries_name_args_agent_reasoning(self, gate: signoff.Gate) -> None:
        """The ticket holds the tool's name and arguments, the agent's name and the model's words."""
        agent = app.agent(gate, [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0}))], name="bot-7")
        result = agent.invoke(USER, app.config())
        ticket = gate.get_ticket_sync(result["__interrupt__"][0].value["tickets"][0])
        expected = ("issue_refund", {"order": "A-1", "amount": 150.0}, "bot-7", app.REASONING)
        assert expected == (ticket.action.name, dict(ticket.action.args), ticket.action.agent,
                            ticket.action.reasoning)

    def test_approved_run_rejected_get_feedback_edited_get_note(self, gate: signoff.Gate) -> None:
        """After the decisions: the edited call runs once with the reviewer's arguments and says so,
        the rejected one does not run and returns the feedback, the auto one runs."""
        agent = app.agent(gate, [app.turn(("lookup_order", {"order": "A-1"}),
                                          ("issue_refund", {"order": "A-1", "amount": 150.0}),
                                          ("close_account", {"customer": "bob"})), done()])
        refund, close = agent.invoke(USER, app.config())["__interrupt__"][0].value["tickets"]
        gate.approve_sync(refund, reviewer="alice", args={"order": "A-1", "amount": 100.0})
        gate.reject_sync(close, reviewer="alice", feedback="offer a voucher")
        result = resume(agent, gate, refund)
        messages = tool_messages(result)
        assert [("issue_refund", {"order": "A-1", "amount": 100.0}), ("lookup_order", {"order": "A-1"})] == \
            sorted(app.RAN)
        assert messages["issue_refund"].content.startswith(
            'Note: a reviewer edited the arguments to {"amount": 100.0, "order": "A-1"}.')
        assert messages["issue_refund"].content.endswith("refunded 100.0 on A-1")
        assert "The call to close_account was rejected by alice and did not run: offer a voucher" == \
            messages["close_account"].content
        assert "executed" == gate.get_ticket_sync(refund).execution

    def test_denied_call_returns_the_reasons(self, gate: signoff.Gate) -> None:
        """A call the policy denies does not run; the model reads why, as an error tool result."""
        agent = app.agent(gate, [app.turn(("delete_customer_data", {"customer": "bob"})), done()])
        message = tool_messages(agent.invoke(USER, app.config()))["delete_customer_data"]
        assert ([], "error") == (app.RAN, message.status)
        assert "no-data-deletion" in message.content

    def test_resume_before_the_decision_pauses_again(self, gate: signoff.Gate) -> None:
        """Resuming with a made-up answer runs nothing: the decisions come from the gate. (HITL-style
        decisions are refused without a reviewer: see test_langgraph_hitl.py.)"""
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))])
        first = agent.invoke(USER, app.config())["__interrupt__"][0].value
        second = agent.invoke(Command(resume={"approved": True}), app.config())
        assert (first["tickets"], []) == (second["__interrupt__"][0].value["tickets"], app.RAN)

    def test_original_call_repeated_after_an_edit_goes_to_a_person(self, db: str) -> None:
        """When the model asks again for the call a reviewer edited, it waits for a person even though
        the approval made the action known (novelty alone would let it pass)."""
        with signoff.Gate.open(policy=NOVELTY_POLICY, store=db) as gate:
            gate.add_reviewer("alice")
            original = ("issue_refund", {"order": "A-1", "amount": 150.0})
            agent = app.agent(gate, [app.turn(original), app.turn(original, text="trying again")])
            [tid] = agent.invoke(USER, app.config())["__interrupt__"][0].value["tickets"]
            gate.approve_sync(tid, reviewer="alice", args={"order": "A-1", "amount": 100.0})
            again = resume(agent, gate, tid)
            [retry] = again["__interrupt__"][0].value["tickets"]
            assert [("issue_refund", {"order": "A-1", "amount": 100.0})] == app.RAN
            assert "pending" == gate.get_ticket_sync(retry).status

    def test_notify_runs_and_is_recorded(self, gate: signoff.Gate) -> None:
        """A notify call runs at once and leaves a notification ticket for the feed."""
        agent = app.agent(gate, [app.turn(("send_receipt", {"to": "bob"})), done()])
        agent.invoke(USER, app.config())
        assert ([("send_receipt", {"to": "bob"})], ["notified"]) == \
            (app.RAN, [t.status for t in gate.list_tickets_sync()])

    def test_wait_takes_a_decision_without_interrupting(self, gate: signoff.Gate) -> None:
        """With wait=..., a decision taken meanwhile lets the run go on without interrupt()."""
        import threading

        def approve_soon() -> None:
            while not (pending := gate.list_tickets_sync(status="pending")):
                threading.Event().wait(0.02)
            gate.approve_sync(pending[0].id, reviewer="alice")

        from langchain.agents import create_agent
        from langgraph.checkpoint.memory import InMemorySaver

        model = app.ScriptedChatModel(messages=iter([app.turn(("close_account", {"customer": "bob"})), done()]))
        agent = create_agent(model, tools=app.TOOLS, checkpointer=InMemorySaver(),
                             middleware=[SignoffMiddleware(gate, agent="support-bot", wait=30)])
        worker = threading.Thread(target=approve_soon)
        worker.start()
        result = agent.invoke(USER, app.config())
        worker.join()
        assert ("__interrupt__" not in result, [("close_account", {"customer": "bob"})]) == (True, app.RAN)

    async def test_async_agent(self, gate: signoff.Gate) -> None:
        """ainvoke and aresume take the same path with the gate's async methods."""
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"})), done()])
        result = await agent.ainvoke(USER, app.config())
        [tid] = result["__interrupt__"][0].value["tickets"]
        await gate.approve(tid, reviewer="alice")
        result = await aresume(agent, gate, tid)
        assert ("closed bob", [("close_account", {"customer": "bob"})]) == \
            (tool_messages(result)["close_account"].content, app.RAN)

    def test_paused_run_survives_a_restart(self, gate: signoff.Gate, db: str, tmp_path: Path) -> None:
        """A run paused by another process (which exited) resumes here from the checkpointer and the
        ticket, without calling the model again for that turn."""
        checkpoints = tmp_path / "checkpoints.db"
        out = subprocess.run([sys.executable, "-m", "tests.adapters._lg_app", "pause", db, str(checkpoints),
                              "t-restart"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        refund, close = json.loads(out.stdout.strip().splitlines()[-1])
        gate.approve_sync(refund, reviewer="alice")
        gate.reject_sync(close, reviewer="alice", feedback="no")
        agent = app.agent(gate, [done("answered")], checkpoints=checkpoints)  # only the final answer is scripted
        result = resume(agent, gate, close, config={"configurable": {"thread_id": "ignored"}})
        assert ([("issue_refund", {"order": "A-17", "amount": 150.0})], "answered") == \
            (app.RAN, result["messages"][-1].content)


class TestSignoffToolNode:
    def test_auto_turn_runs_like_tool_node(self, gate: signoff.Gate) -> None:
        """With only auto calls the node is a plain ToolNode."""
        graph = app.graph(gate, [app.turn(("lookup_order", {"order": "A-1"})), done()])
        result = graph.invoke(USER, app.config())
        assert ("order A-1 is late", []) == (tool_messages(result)["lookup_order"].content,
                                             gate.list_tickets_sync())

    def test_mixed_decisions_in_a_hand_built_graph(self, gate: signoff.Gate) -> None:
        """Batch, interrupt, then: edited call runs with the note, rejected returns feedback, auto runs."""
        graph = app.graph(gate, [app.turn(("lookup_order", {"order": "A-1"}),
                                          ("issue_refund", {"order": "A-1", "amount": 150.0}),
                                          ("close_account", {"customer": "bob"})), done()])
        request = graph.invoke(USER, app.config())["__interrupt__"][0].value
        refund, close = request["tickets"]
        assert [] == app.RAN
        gate.approve_sync(refund, reviewer="alice", args={"order": "A-1", "amount": 60.0})
        gate.reject_sync(close, reviewer="alice", feedback="not today")
        messages = tool_messages(resume(graph, gate, refund))
        assert [("issue_refund", {"order": "A-1", "amount": 60.0}), ("lookup_order", {"order": "A-1"})] == \
            sorted(app.RAN)
        assert messages["issue_refund"].content.startswith("Note: a reviewer edited the arguments to")
        assert messages["close_account"].content.endswith("not today")

    def test_needs_a_thread(self, gate: signoff.Gate) -> None:
        """A gated call in a graph without a checkpointer thread fails with a clear error."""
        graph = app.graph(gate, [app.turn(("close_account", {"customer": "bob"}))], checkpointer=None)
        with pytest.raises(signoff.UserError, match="thread_id"):
            graph.invoke(USER)


class TestResume:
    def test_refuses_a_ticket_from_elsewhere(self, gate: signoff.Gate) -> None:
        """resume() names the problem when the ticket was not queued by this adapter."""
        ticket = gate.submit_sync(signoff.Action(name="close_account", args={"customer": "x"}, agent="bot"))
        gate.approve_sync(ticket.id, reviewer="alice")
        with pytest.raises(signoff.UserError, match=r"not queued by signoff\.integrations\.langgraph"):
            resume(object(), gate, ticket.id)

    def test_policy_is_unchanged(self) -> None:
        """The shared test policy still gates the tools these tests rely on."""
        assert {"issue_refund", "close_account", "delete_customer_data", "send_receipt"} <= {
            n for r in POLICY["rules"] for n in ([r["match"]["action"]] if isinstance(r["match"]["action"], str)
                                                 else r["match"]["action"])}
