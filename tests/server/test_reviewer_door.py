"""``Gate.put_reviewer``: the door single sign-on creates and updates reviewers through (audited, tiers checked)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signoff import Gate, UserError
from signoff.store._records import Reviewer

POLICY = {"version": 1, "tiers": ["junior", "senior"]}


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/door.db", sweep=False) as g:
        yield g


class TestPutReviewer:
    async def test_creates_then_updates_keeping_the_other_fields(self, gate: Gate) -> None:
        """A tier change through the door keeps the account's email and Slack id (add_reviewer would not)."""
        await gate.put_reviewer(Reviewer(name="ana", tier="junior", email="ana@example.com", slack_id="U123"),
                                actor="oidc:ana")
        stored = await gate.get_reviewer("ana")
        assert stored is not None
        await gate.put_reviewer(dataclasses.replace(stored, tier="senior"), actor="oidc:ana")
        assert Reviewer(name="ana", tier="senior", email="ana@example.com", slack_id="U123") == \
            await gate.get_reviewer("ana")

    async def test_each_change_is_audited_with_its_actor(self, gate: Gate) -> None:
        """The audit log says who made the account and with which tier."""
        await gate.put_reviewer(Reviewer(name="ana", tier="junior"), actor="oidc:ana")
        entries = [e for e in await gate.audit_entries() if e.kind == "reviewer"]
        assert [("oidc:ana", "ana", "junior")] == [(e.actor, e.data["name"], e.data["tier"]) for e in entries]

    async def test_an_unknown_tier_is_refused(self, gate: Gate) -> None:
        """A tier the policy does not declare is a UserError, and nothing is stored."""
        with pytest.raises(UserError, match="unknown tier 'lead'"):
            await gate.put_reviewer(Reviewer(name="ana", tier="lead"), actor="oidc:ana")
        assert await gate.get_reviewer("ana") is None
