"""Insights from decided tickets: volume, approval rate, time to decision, timeouts, edits, advice."""

from __future__ import annotations

import asyncio

from signoff import Action, Gate

HANG = 15


def refund(i: int) -> Action:
    return Action(name="issue_refund", args={"order": f"A-{i}", "amount": 10.0}, agent="bot", reasoning="late")


def payment(i: int) -> Action:
    return Action(name="send_payment", args={"to": f"V-{i}", "amount": 10.0}, agent="bot", reasoning="due")


class TestInsights:
    async def test_volume_rate_edits_and_advice(self, gate: Gate) -> None:
        """32 of 33 refunds approved: 97%, consider notify; payments always rejected: consider deny."""
        refunds = await gate.submit_many([refund(i) for i in range(33)])
        for t in refunds[:32]:
            await gate.approve(t.id, reviewer="alice")
        await gate.reject(refunds[32].id, reviewer="alice", feedback="no")
        for t in await gate.submit_many([payment(i) for i in range(20)]):
            await gate.reject(t.id, reviewer="bob", feedback="wrong vendor")
        report = await gate.insights()
        rules = {s.key: s for s in report.rules}
        r = rules["refunds"]
        assert (33, 32, 1, 0, 0) == (r.volume, r.approved, r.rejected, r.edits, r.timeouts)
        assert round(32 / 33, 4) == round(r.approval_rate, 4)
        assert r.median_seconds_to_decision is not None and r.median_seconds_to_decision >= 0
        messages = sorted(rec.message for rec in report.recommendations)
        assert ["rule 'payments': always rejected (20 times): consider `deny` and fix the agent",
                "rule 'refunds': approved 97% of 33 times: consider `notify`"] == messages
        assert {("refunds", "notify"), ("payments", "deny")} == {
            (rec.rule, rec.suggest_level.value) for rec in report.recommendations}

    async def test_per_action_figures_and_timeouts(self, gate: Gate) -> None:
        """Per action: aborted tickets count as timeouts; pending tickets are not counted."""
        for _ in range(2):
            await asyncio.wait_for(gate.guard(Action(name="slow_abort", args={}, agent="bot")), HANG)
        await gate.submit(refund(1))  # still pending
        report = await gate.insights()
        actions = {s.key: s for s in report.actions}
        assert (["slow_abort"], 2, 2, 0) == (list(actions), actions["slow_abort"].volume,
                                             actions["slow_abort"].timeouts, actions["slow_abort"].approved)

    async def test_edits_are_counted_and_block_the_notify_advice(self, gate: Gate) -> None:
        """Approvals that needed an edit count as edits, and a rule whose actions get edited is not
        advised to become notify."""
        refunds = await gate.submit_many([refund(i) for i in range(25)])
        for t in refunds[:20]:
            await gate.approve(t.id, reviewer="alice")
        for t in refunds[20:]:
            await gate.approve(t.id, reviewer="alice", args={"order": "X", "amount": 1.0})
        report = await gate.insights()
        stat = {s.key: s for s in report.rules}["refunds"]
        assert (25, 25, 5, []) == (stat.volume, stat.approved, stat.edits,
                                   [r.message for r in report.recommendations if "notify" in r.message])

    async def test_small_volume_gives_no_advice(self, gate: Gate) -> None:
        """Below the minimum volume, no recommendation is made."""
        for t in await gate.submit_many([refund(i) for i in range(5)]):
            await gate.approve(t.id, reviewer="alice")
        report = await gate.insights()
        assert (5, []) == (report.total, report.recommendations)
