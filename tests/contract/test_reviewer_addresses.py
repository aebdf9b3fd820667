"""Reviewers' addresses (a Slack user id, an email): how notification channels know who pressed a
button or opened a link. Each address names at most one reviewer, on every store."""

from __future__ import annotations

import pytest

from signoff import Conflict, Gate
from signoff.store import Reviewer

pytestmark = pytest.mark.local_only("reviewer accounts are written by the admin CLI, on the store")


async def put(gate: Gate, reviewer: Reviewer) -> None:
    await gate._engine.run(gate.store.put_reviewer(reviewer))


class TestReviewerAddresses:
    async def test_found_by_slack_id_or_email(self, gate: Gate) -> None:
        """A Slack id and an email (any case) each find their reviewer; unknown ones find nobody."""
        await put(gate, Reviewer(name="ann", tier="senior", email="Ann@Example.com", slack_id="U0ANN"))
        await put(gate, Reviewer(name="ben", tier="junior", slack_id="U0BEN"))
        found = [await gate.find_reviewer(slack_id="U0ANN"), await gate.find_reviewer(email="ann@example.COM"),
                 await gate.find_reviewer(slack_id="U0BEN"), await gate.find_reviewer(slack_id="U0NOBODY"),
                 await gate.find_reviewer(email="nobody@example.com"), await gate.find_reviewer()]
        assert ["ann", "ann", "ben", None, None, None] == [r.name if r else None for r in found]
        assert ("senior", "Ann@Example.com", "U0ANN") == (found[0].tier, found[0].email, found[0].slack_id)  # type: ignore[union-attr]

    async def test_kept_when_the_reviewer_is_updated_without_them(self, gate: Gate) -> None:
        """``reviewer add NAME --tier lead`` again keeps the addresses given before, as it keeps the password."""
        await put(gate, Reviewer(name="ann", tier="senior", email="ann@example.com", slack_id="U0ANN"))
        await put(gate, Reviewer(name="ann", tier="lead"))
        ann = await gate.get_reviewer("ann")
        assert ann is not None and ("lead", "ann@example.com", "U0ANN") == (ann.tier, ann.email, ann.slack_id)

    @pytest.mark.parametrize("taken", [{"slack_id": "U0ANN"}, {"email": "ann@example.com"}], ids=["slack", "email"])
    async def test_an_address_of_another_reviewer_is_a_conflict(self, gate: Gate, taken: dict[str, str]) -> None:
        """Giving zed ann's Slack id or email fails naming whose it is, and writes nothing."""
        await put(gate, Reviewer(name="ann", email="ann@example.com", slack_id="U0ANN"))
        field = next(iter(taken))
        with pytest.raises(Conflict, match=f"{field} .* already belongs to reviewer 'ann'"):
            await put(gate, Reviewer(name="zed", **taken))
        assert await gate.get_reviewer("zed") is None
