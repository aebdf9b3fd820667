"""signoff.insights on the in-memory store: rates and recommendations from real decisions, and the
replay of a policy change over them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from signoff import Action, Gate
from signoff._model import Level

POLICY = {"version": 1, "rules": [
    {"name": "deploys", "match": {"action": "deploy"}, "level": "approve"},
    {"name": "payments", "match": {"action": "pay"}, "level": "approve"},
    {"name": "grants", "match": {"action": "grant"}, "level": "approve"},
]}


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    """Deploys always approved (6), payments always rejected (4), grants approved with edited args (2 of 3)."""
    async with Gate.open(policy=POLICY, store=f"memory://insights-{secrets.token_hex(4)}") as g:
        g.add_reviewer("alice")
        for i in range(6):
            t = await g.submit(Action(name="deploy", args={"n": i}, agent="bot"))
            await g.approve(t.id, reviewer="alice")
        for i in range(4):
            t = await g.submit(Action(name="pay", args={"n": i}, agent="bot"))
            await g.reject(t.id, reviewer="alice", feedback="no")
        for i in range(3):
            t = await g.submit(Action(name="grant", args={"n": i}, agent="bot"))
            await g.approve(t.id, reviewer="alice", args={"n": i + 100} if i < 2 else None)
        await g.submit(Action(name="deploy", args={"n": 99}, agent="bot"))  # pending: not counted
        yield g


class TestInsights:
    async def test_rates(self, gate: Gate) -> None:
        ins = await gate.insights(min_volume=3)
        stats = {s.key: (s.volume, s.approved, s.rejected, s.edits, s.approval_rate) for s in ins.rules}
        assert (13, {"deploys": (6, 6, 0, 0, 1.0), "payments": (4, 0, 4, 0, 0.0), "grants": (3, 3, 0, 2, 1.0)}) == (
            ins.total, stats)

    async def test_recommendations(self, gate: Gate) -> None:
        """Always approved: notify; always rejected: deny; edited often: fix the agent (approve stays)."""
        ins = await gate.insights(min_volume=3)
        recs = {r.rule: r.suggest_level for r in ins.recommendations}
        assert {"deploys": Level.NOTIFY, "payments": Level.DENY, "grants": Level.APPROVE} == recs

    async def test_below_the_minimum_volume_nothing_is_recommended(self, gate: Gate) -> None:
        assert [] == (await gate.insights(min_volume=7)).recommendations

    async def test_the_timeline_counts_per_day(self, gate: Gate) -> None:
        ins = await gate.insights(min_volume=3)
        assert [(6, 6)] == [(a, n) for _, a, n in ins.timeline["deploys"]]


class TestReplay:
    async def test_a_policy_change_over_past_requests(self, gate: Gate) -> None:
        """Making deploys and payments notify lets 10 past requests through, 4 of them ones reviewers rejected."""
        looser = {"version": 1, "rules": [
            {"name": "deploys", "match": {"action": "deploy"}, "level": "notify"},
            {"name": "payments", "match": {"action": "pay"}, "level": "notify"},
            {"name": "grants", "match": {"action": "grant"}, "level": "deny"},
        ]}
        report = await gate.replay(looser)
        assert (13, 13, 10, 4, 3) == (report.total, report.changed, report.would_auto, report.would_auto_rejected,
                                      report.would_block)

    async def test_the_same_policy_changes_nothing(self, gate: Gate) -> None:
        report = await gate.replay(POLICY)
        assert (13, 0, []) == (report.total, report.changed, report.examples)


class TestWire:
    async def test_insights_travel_unchanged(self, gate: Gate) -> None:
        """The API's JSON of insights (the codec's Stat and Recommendation) reads back equal, rates included."""
        from signoff._wire import insights_from_dict, insights_to_dict

        ins = await gate.insights(min_volume=3)
        data = insights_to_dict(ins)
        assert (ins, {"key": "payments", "volume": 4, "approved": 0, "rejected": 4, "timeouts": 0, "edits": 0,
                      "approval_rate": 0.0}, "deny") == (
            insights_from_dict(data),
            {k: v for k, v in next(s for s in data["rules"] if s["key"] == "payments").items()
             if k != "median_seconds_to_decision"},
            next(r for r in data["recommendations"] if r["rule"] == "payments")["suggest_level"])


class TestReviewerStats:
    @staticmethod
    def _entry(seq: int, kind: str, reviewer: str, seen: float | None = None) -> Any:
        from signoff.store import AuditEntry

        data: dict[str, Any] = {"reviewer": reviewer}
        if seen is not None:
            data["seen_for"] = seen
        return AuditEntry(seq=seq, at="2026-11-29T00:00:00+00:00", kind=kind, ticket_id=f"tk_{seq}",
                          actor=reviewer, data=data, prev_hash="", hash="")

    def test_decisions_rates_time_open_and_quick_approvals(self) -> None:
        """Approvals (a first of several included) and rejections per reviewer; time open and quick
        approvals only over the decisions whose time is known."""
        from signoff.insights import reviewer_stats

        entries = [self._entry(1, "approved", "alice", 0.8), self._entry(2, "approval", "alice", 1.2),
                   self._entry(3, "approved", "alice", 30.0), self._entry(4, "rejected", "alice", 12.0),
                   self._entry(5, "approved", "alice"), self._entry(6, "approved", "bob", 45.0),
                   self._entry(7, "submitted", "bot"), self._entry(8, "flagged", "bob", 0.1)]
        alice, bob = reviewer_stats(entries)
        assert ("alice", 5, 4, 1, 4, 3, 2, 6.6) == (alice.name, alice.decisions, alice.approved, alice.rejected,
                                                     alice.timed, alice.timed_approvals, alice.quick_approvals,
                                                     alice.median_seconds_open)
        assert (0.8, round(2 / 3, 4)) == (alice.approval_rate, round(alice.quick_share or 0, 4))
        assert ("bob", 1, 0.0, 45.0) == (bob.name, bob.decisions, bob.quick_share, bob.median_seconds_open)

    def test_untimed_reviewers_have_no_quick_share(self) -> None:
        """Decisions made outside a ticket's page (API, CLI, Slack) are counted but not timed."""
        from signoff.insights import reviewer_stats

        [carol] = reviewer_stats([self._entry(1, "approved", "carol"), self._entry(2, "rejected", "carol")])
        assert (2, 0, None, None) == (carol.decisions, carol.timed, carol.quick_share, carol.median_seconds_open)

    def test_who_sees_whose_figures(self) -> None:
        """A reviewer sees their own row; the policy's top tier (or anyone, without tiers) sees all."""
        from signoff.insights import reviewer_stats, visible_reviewers

        stats = reviewer_stats([self._entry(1, "approved", "alice"), self._entry(2, "approved", "jim")])
        tiers = ["junior", "senior"]
        assert ["jim"] == [s.name for s in visible_reviewers(stats, "jim", "junior", tiers)]
        assert ["alice", "jim"] == [s.name for s in visible_reviewers(stats, "alice", "senior", tiers)]
        assert ["alice", "jim"] == [s.name for s in visible_reviewers(stats, "jim", None, [])]
        assert [] == visible_reviewers(stats, "nobody", "junior", tiers)
