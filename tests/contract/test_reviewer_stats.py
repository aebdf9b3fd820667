"""The reviewer's side of the loop: how long each decision's ticket was open is kept in its audit entry
(``seen_for``) and read back the same on every store."""

from __future__ import annotations

from signoff import Action
from signoff._seen import seen_for
from tests.contract.conftest import GateFactory, read_audit


def refund(i: int) -> Action:
    return Action(name="issue_refund", args={"order": f"A-{i}", "amount": 10.0}, agent="bot", reasoning="late")


class TestReviewerStats:
    async def test_time_open_is_stored_with_the_decision(self, open_gate: GateFactory, store_url: str) -> None:
        """Decisions made with a known time open record it; insights give per reviewer figures."""
        gate = open_gate()
        tickets = await gate.submit_many([refund(i) for i in range(5)])
        with seen_for(0.4):
            await gate.approve(tickets[0].id, reviewer="alice")
        with seen_for(1.5):
            await gate.approve(tickets[1].id, reviewer="alice")
        with seen_for(20.0):
            await gate.reject(tickets[2].id, reviewer="alice", feedback="duplicate")
        await gate.approve(tickets[3].id, reviewer="alice")  # no time known (API, CLI, Slack)
        with seen_for(9.0):
            await gate.approve(tickets[4].id, reviewer="bob")
        seen = {e.ticket_id: e.data.get("seen_for") for e in read_audit(store_url)
                if e.kind in ("approved", "rejected")}
        assert {tickets[0].id: 0.4, tickets[1].id: 1.5, tickets[2].id: 20.0, tickets[3].id: None,
                tickets[4].id: 9.0} == seen
        alice, bob = (await gate.insights()).reviewers
        assert ("alice", 4, 3, 1, 3, 2, 2, 1.5) == (alice.name, alice.decisions, alice.approved, alice.rejected,
                                                     alice.timed, alice.timed_approvals, alice.quick_approvals,
                                                     alice.median_seconds_open)
        assert ("bob", 1, 0.0) == (bob.name, bob.decisions, bob.quick_share)
