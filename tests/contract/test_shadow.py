"""The shadow policy's figures are stored (as ``shadow`` audit entries) and read back the same on every store."""

from __future__ import annotations

import copy
from typing import Any

from signoff import Action
from tests.contract.conftest import POLICY, GateFactory, audit_kinds

# The candidate: small refunds run with a feed record, payments need one reviewer not two, digests ask.
CANDIDATE: dict[str, Any] = copy.deepcopy(POLICY)
CANDIDATE["rules"][0] = {"name": "small-refunds", "match": {"action": "issue_refund"},
                         "when": "args.amount <= 100.0", "level": "notify"}
CANDIDATE["rules"][4] = {"name": "digest", "match": {"action": "send_digest"}, "level": "approve"}


def refund(amount: float, i: int) -> Action:
    return Action(name="issue_refund", args={"order": f"A-{i}", "amount": amount}, agent="bot", reasoning="late")


class TestShadow:
    async def test_disagreements_are_stored_and_joined_with_decisions(self, open_gate: GateFactory,
                                                                      store_url: str) -> None:
        """Refunds the candidate would let run are counted with how reviewers decided them; digests
        that ran with no reviewer count as 'would ask'; the figures survive in the store's audit log."""
        gate = open_gate(shadow_policy=CANDIDATE)
        tickets = await gate.submit_many([refund(10.0 * (i + 1), i) for i in range(4)] + [refund(5000.0, 9)])
        for t in tickets[:3]:
            await gate.approve(t.id, reviewer="alice")
        await gate.reject(tickets[3].id, reviewer="alice", feedback="duplicate")
        for _ in range(3):
            assert "notified" == (await gate.guard(Action(name="send_digest", agent="bot"))).status
        assert "auto" == (await gate.guard(Action(name="lookup", agent="bot"))).status
        report = (await gate.insights()).shadow
        assert report is not None
        assert (4, 3, 1, [tickets[3].id], 3) == (report.would_auto, report.would_auto_approved,
                                                 report.would_auto_rejected, report.rejected_ids, report.would_ask)
        assert "shadow" in audit_kinds(store_url)

        # Another gate on the same store, without a candidate, reads the same figures.
        reader = open_gate(reviewers=False)
        again = (await reader.insights()).shadow
        assert report == again

    async def test_no_candidate_no_entries(self, open_gate: GateFactory, store_url: str) -> None:
        """Without a candidate nothing is recorded and insights carry no shadow section."""
        gate = open_gate()
        await gate.guard(Action(name="send_digest", agent="bot"))
        assert None is (await gate.insights()).shadow
        assert "shadow" not in audit_kinds(store_url)

    async def test_a_request_an_allowance_let_through_is_compared_as_the_policy_asked(
            self, open_gate: GateFactory) -> None:
        """The candidate is the policy in force itself: a refund a standing approval lets run (notify) is
        what the policy asked a human for (approve), as the candidate does, so nothing disagrees, by guard
        or by submit."""
        gate = open_gate(shadow_policy=copy.deepcopy(POLICY))
        ticket = await gate.submit(refund(50.0, 0))
        await gate.allow(ticket.id, reviewer="alice", condition="args.amount <= 200.0")
        assert "notified" == (await gate.guard(refund(60.0, 1))).status
        assert ["notification"] == [t.kind for t in await gate.submit_many([refund(70.0, 2)])]
        report = (await gate.insights()).shadow
        assert report is not None
        assert (3, 0, 0, []) == (report.evaluated, report.disagreed, report.would_ask, report.changes)
