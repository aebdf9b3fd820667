"""SignoffMiddleware speaks LangChain's HumanInTheLoopMiddleware protocol, as real UIs use it.

The interrupt's value carries the middleware's ``HITLRequest`` (``action_requests``,
``review_configs``) beside signoff's own keys; ``Command(resume={"decisions": [...]})``
decides the tickets as the reviewer the middleware was told the UI speaks for, through the
gate (tiers, four eyes, "not your own" hold). Offline: LangChain's GenericFakeChatModel,
``create_agent`` with a checkpointer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain.agents.middleware.human_in_the_loop")

from langchain.agents.middleware.human_in_the_loop import HITLRequest, HITLResponse
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command
from pydantic import TypeAdapter

import signoff
from tests.adapters import _lg_app as app
from tests.remote import local_or_remote

USER = {"messages": [{"role": "user", "content": "please help"}]}
TIERED: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "tiers": ["junior", "senior"],
    "rules": [
        {"name": "account-closure", "match": {"action": "close_account"}, "level": "approve",
         "reviewers": {"tier": "senior"}},
        {"name": "big-refunds", "match": {"action": "issue_refund"}, "level": "approve",
         "reviewers": {"count": 2}},
    ],
}


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    app.RAN.clear()


@pytest.fixture(params=["local", "remote"])
def tiered(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[signoff.Gate]:
    with local_or_remote(request.param, tmp_path, TIERED, reviewers={"joe": "junior", "sam": "senior",
                                                                     "alice": "senior"}, operator="alice") as g:
        yield g


def decide(*decisions: dict[str, Any]) -> Command[Any]:
    return Command(resume={"decisions": list(decisions)})


def tool_messages(result: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.name: m for m in result["messages"] if isinstance(m, ToolMessage)}


def paused(agent: Any) -> dict[str, Any]:
    value: dict[str, Any] = agent.invoke(USER, app.config())["__interrupt__"][0].value
    return value


class TestInterruptPayload:
    def test_carries_a_hitl_request_beside_signoff_keys(self, gate: signoff.Gate) -> None:
        """action_requests / review_configs are exactly LangChain's HITLRequest, one per waiting call."""
        agent = app.agent(gate, [app.turn(("lookup_order", {"order": "A-1"}),
                                          ("issue_refund", {"order": "A-1", "amount": 150.0}),
                                          ("close_account", {"customer": "bob"}))], reviewer="alice")
        value = paused(agent)
        hitl = {"action_requests": value["action_requests"], "review_configs": value["review_configs"]}
        assert hitl == TypeAdapter(HITLRequest).validate_python(hitl)
        assert [("issue_refund", {"order": "A-1", "amount": 150.0}), ("close_account", {"customer": "bob"})] == \
            [(r["name"], r["args"]) for r in value["action_requests"]]
        assert [{"name", "args", "description"}] * 2 == [set(r) for r in value["action_requests"]]
        assert [{"action_name": "issue_refund", "allowed_decisions": ["approve", "edit", "reject"]},
                {"action_name": "close_account", "allowed_decisions": ["approve", "edit", "reject"]}] == \
            value["review_configs"]
        tickets = value["tickets"]
        assert all(t in r["description"] for t, r in zip(tickets, value["action_requests"], strict=True))
        assert ["call_2", "call_3"] == [c["tool_call_id"] for c in value["calls"]]

    def test_without_a_reviewer_no_decision_is_offered(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))])
        assert [{"action_name": "close_account", "allowed_decisions": []}] == paused(agent)["review_configs"]


class TestHitlDecisions:
    def test_approve_runs_the_tool_once(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"})), AIMessage(content="done")],
                          reviewer="alice")
        [tid] = paused(agent)["tickets"]
        response = {"decisions": [{"type": "approve"}]}
        TypeAdapter(HITLResponse).validate_python(response)
        result = agent.invoke(Command(resume=response), app.config())
        ticket = gate.get_ticket_sync(tid)
        assert ("__interrupt__" in result, app.RAN) == (False, [("close_account", {"customer": "bob"})])
        assert ("approved", ("alice",), "executed") == (ticket.status, ticket.decided_by, ticket.execution)
        assert "closed bob" == tool_messages(result)["close_account"].content

    def test_edit_runs_with_the_edited_arguments(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0})),
                                 AIMessage(content="done")], reviewer="alice")
        [tid] = paused(agent)["tickets"]
        result = agent.invoke(decide({"type": "edit", "edited_action": {
            "name": "issue_refund", "args": {"order": "A-1", "amount": 100.0}}}), app.config())
        assert [("issue_refund", {"order": "A-1", "amount": 100.0})] == app.RAN
        assert {"order": "A-1", "amount": 100.0} == dict(gate.get_ticket_sync(tid).edited_args or {})
        assert tool_messages(result)["issue_refund"].content.startswith("Note: a reviewer edited the arguments")

    def test_reject_returns_the_message_to_the_model(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("lookup_order", {"order": "A-1"}), ("close_account", {"customer": "bob"})),
                                 AIMessage(content="done")], reviewer="alice")
        [tid] = paused(agent)["tickets"]
        result = agent.invoke(decide({"type": "reject", "message": "offer a voucher"}), app.config())
        assert [("lookup_order", {"order": "A-1"})] == app.RAN
        assert ("rejected", "offer a voucher") == (gate.get_ticket_sync(tid).status, gate.get_ticket_sync(tid).feedback)
        assert "The call to close_account was rejected by alice and did not run: offer a voucher" == \
            tool_messages(result)["close_account"].content

    def test_mixed_decisions_line_up_by_position(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0}),
                                          ("close_account", {"customer": "bob"})), AIMessage(content="done")],
                          reviewer="alice")
        paused(agent)
        agent.invoke(decide({"type": "approve"}, {"type": "reject"}), app.config())
        assert [("issue_refund", {"order": "A-1", "amount": 150.0})] == app.RAN

    async def test_async_graph(self, gate: signoff.Gate) -> None:
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"})), AIMessage(content="done")],
                          reviewer="alice")
        await agent.ainvoke(USER, app.config())
        result = await agent.ainvoke(decide({"type": "approve"}), app.config())
        assert ("closed bob", [("close_account", {"customer": "bob"})]) == \
            (tool_messages(result)["close_account"].content, app.RAN)


class TestTheGateStillDecides:
    def test_a_junior_cannot_approve_a_senior_rule(self, tiered: signoff.Gate) -> None:
        """The resuming UI speaks for joe (junior): NotAuthorized, nothing runs, the ticket still waits;
        a senior's UI then approves it and it runs once."""
        saver = app.InMemorySaver()
        script = [app.turn(("close_account", {"customer": "bob"})), AIMessage(content="done")]
        junior_ui = app.agent(tiered, script, reviewer="joe", saver=saver)
        [tid] = paused(junior_ui)["tickets"]
        with pytest.raises(signoff.NotAuthorized):
            junior_ui.invoke(decide({"type": "approve"}), app.config())
        assert ([], "pending") == (app.RAN, tiered.get_ticket_sync(tid).status)
        senior_ui = app.agent(tiered, [AIMessage(content="done")], reviewer="sam", saver=saver)
        senior_ui.invoke(decide({"type": "approve"}), app.config())
        assert ([("close_account", {"customer": "bob"})], ("sam",)) == \
            (app.RAN, tiered.get_ticket_sync(tid).decided_by)

    def test_four_eyes_pause_until_the_second_approver(self, tiered: signoff.Gate) -> None:
        """One approval of two re-pauses the graph; the same reviewer again changes nothing; a second
        reviewer's approval runs the tool once."""
        saver = app.InMemorySaver()
        script = [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0})), AIMessage(content="done")]
        alice_ui = app.agent(tiered, script, reviewer="alice", saver=saver)
        [tid] = paused(alice_ui)["tickets"]
        again = alice_ui.invoke(decide({"type": "approve"}), app.config())
        assert ([tid], []) == (again["__interrupt__"][0].value["tickets"], app.RAN)
        assert "approved so far by alice" in again["__interrupt__"][0].value["action_requests"][0]["description"]
        again = alice_ui.invoke(decide({"type": "approve"}), app.config())
        assert ([tid], ("alice",)) == \
            (again["__interrupt__"][0].value["tickets"], tiered.get_ticket_sync(tid).approvals)
        sam_ui = app.agent(tiered, [AIMessage(content="done")], reviewer="sam", saver=saver)
        sam_ui.invoke(decide({"type": "approve"}), app.config())
        assert ([("issue_refund", {"order": "A-1", "amount": 150.0})], "approved") == \
            (app.RAN, tiered.get_ticket_sync(tid).status)

    def test_a_second_ui_decides_in_its_own_name_only(self, tiered: signoff.Gate) -> None:
        """LangGraph hands a resumed node every earlier answer again: alice's approval, replayed while
        sam's UI resumes with a rejection, must not become an approval by sam."""
        saver = app.InMemorySaver()
        script = [app.turn(("issue_refund", {"order": "A-1", "amount": 150.0})), AIMessage(content="done")]
        alice_ui = app.agent(tiered, script, reviewer="alice", saver=saver)
        [tid] = paused(alice_ui)["tickets"]
        alice_ui.invoke(decide({"type": "approve"}), app.config())
        sam_ui = app.agent(tiered, [AIMessage(content="done")], reviewer="sam", saver=saver)
        result = sam_ui.invoke(decide({"type": "reject", "message": "too much"}), app.config())
        ticket = tiered.get_ticket_sync(tid)
        assert ([], "rejected", ("sam",), ("alice",)) == (app.RAN, ticket.status, ticket.decided_by, ticket.approvals)
        assert tool_messages(result)["issue_refund"].content.endswith("did not run: too much")

    def test_not_your_own(self, gate: signoff.Gate) -> None:
        """A UI speaking for the agent's own name cannot approve the agent's request."""
        gate.add_reviewer("support-bot")
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))], reviewer="support-bot")
        paused(agent)
        with pytest.raises(signoff.NotAuthorized):
            agent.invoke(decide({"type": "approve"}), app.config())
        assert [] == app.RAN


class TestClearErrors:
    def test_no_reviewer_configured(self, gate: signoff.Gate) -> None:
        """Decisions sent to a middleware that was not told whose they are: a clear error, nothing decided."""
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))])
        [tid] = paused(agent)["tickets"]
        with pytest.raises(signoff.UserError, match=r"reviewer=") as raised:
            agent.invoke(decide({"type": "approve"}), app.config())
        assert "signoff" in str(raised.value) and "inbox" in str(raised.value)
        assert ([], "pending") == (app.RAN, gate.get_ticket_sync(tid).status)

    @pytest.mark.parametrize(("decisions", "words"), [
        ([{"type": "approve"}, {"type": "approve"}], "2 decisions for 1"),
        ([{"type": "respond", "message": "hi"}], "respond"),
        ([{"type": "edit", "edited_action": {"name": "lookup_order", "args": {}}}], "cannot switch"),
        ([{"type": "edit", "edited_action": {"name": "close_account", "args": "x"}}], "args"),
        ([{"type": "maybe"}], "maybe"),
    ])
    def test_malformed_decisions(self, gate: signoff.Gate, decisions: list[Any], words: str) -> None:
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))], reviewer="alice")
        [tid] = paused(agent)["tickets"]
        with pytest.raises(signoff.UserError, match=words):
            agent.invoke(Command(resume={"decisions": decisions}), app.config())
        assert ([], "pending") == (app.RAN, gate.get_ticket_sync(tid).status)

    def test_a_per_call_answer_is_named(self, gate: signoff.Gate) -> None:
        """A single decision (the middleware's per_call answer) is refused with what to send instead."""
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))], reviewer="alice")
        paused(agent)
        with pytest.raises(signoff.UserError, match="decisions"):
            agent.invoke(Command(resume={"type": "approve"}), app.config())

    def test_other_resume_values_look_again(self, gate: signoff.Gate) -> None:
        """A resume value that is not a decision (e.g. what resume() sends) reads the gate and pauses again."""
        agent = app.agent(gate, [app.turn(("close_account", {"customer": "bob"}))], reviewer="alice")
        [tid] = paused(agent)["tickets"]
        again = agent.invoke(Command(resume={"signoff": tid}), app.config())
        assert ([tid], []) == (again["__interrupt__"][0].value["tickets"], app.RAN)
