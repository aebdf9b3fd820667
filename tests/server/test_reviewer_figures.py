"""``GET /api/v1/insights`` over a real ``signoff serve``: a reviewer's token sees that reviewer's own
figures; a token of the policy's top tier sees everyone's."""

from __future__ import annotations

from pathlib import Path

from signoff import Action
from tests.remote import RemoteTeam, serve

POLICY = {
    "version": 1, "defaults": {"level": "auto"}, "tiers": ["junior", "senior"],
    "rules": [{"name": "refunds", "match": {"action": "issue_refund"}, "level": "approve"}],
}


class TestReviewerFiguresOverHTTP:
    def test_scoped_by_the_token(self, tmp_path: Path) -> None:
        """jim (junior) gets only his row; alice (senior, the top tier) gets both; API decisions are untimed."""
        with serve(tmp_path, POLICY, reviewers={"jim": "junior", "alice": "senior"}) as served:
            team = RemoteTeam(served, operator="alice")
            try:
                a, b = team.agent("bot").submit_many_sync(
                    [Action(name="issue_refund", args={"n": i}, agent="bot") for i in range(2)])
                team.reviewer("jim").approve_sync(a.id)
                team.reviewer("alice").reject_sync(b.id, feedback="no")
                mine = team.reviewer("jim").insights_sync().reviewers
                everyone = team.reviewer("alice").insights_sync().reviewers
            finally:
                team.close()
        assert [("jim", 1, 1, 0)] == [(r.name, r.decisions, r.approved, r.timed) for r in mine]
        assert [("alice", 1, 0, None), ("jim", 1, 1, None)] == [
            (r.name, r.decisions, r.approved, r.quick_share) for r in everyone]
