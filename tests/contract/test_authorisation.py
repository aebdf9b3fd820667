"""Who may do what, enforced by the Gate and the pure transitions, on every store: mode switches,
suggestions, and idempotency keys that belong to one agent."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from signoff import Action, Conflict, Gate, NotAuthorized
from signoff.store import Reviewer
from tests.contract.conftest import POLICY, GateFactory, read_audit


def mode_switches(store_url: str) -> list[tuple[str, Any]]:
    return [(e.actor, e.data["mode"]) for e in read_audit(store_url) if e.kind == "mode"]


class TestModeSwitchNeedsTheTopTier:
    @pytest.mark.parametrize("reviewer", ["alice", "bob", "nobody"], ids=["junior", "senior", "unknown"])
    async def test_below_the_top_tier_is_refused(self, gate: Gate, store_url: str, reviewer: str) -> None:
        """A junior, a senior (the top tier here is lead) or an unknown reviewer cannot switch: nothing changes."""
        with pytest.raises(NotAuthorized):
            await gate.set_mode_async("incident", reviewer=reviewer)
        assert (None, []) == (await gate.get_mode(), mode_switches(store_url))

    async def test_the_top_tier_switches_and_is_the_actor(self, gate: Gate, store_url: str) -> None:
        """A lead switches (sync and async twins); the audit names the reviewer, not the default actor."""
        await gate.set_mode_async("incident", reviewer="dave")
        gate.set_mode(None, reviewer="dave")
        assert [("dave", "incident"), ("dave", None)] == mode_switches(store_url)

    async def test_refusal_names_the_tier_needed(self, gate: Gate) -> None:
        """The error says which tier may switch and what the reviewer is."""
        with pytest.raises(NotAuthorized, match="only a lead reviewer may switch modes; 'bob' is senior"):
            gate.set_mode("incident", reviewer="bob")

    @pytest.mark.local_only("writes a reviewer straight into the store")
    async def test_a_disabled_top_tier_reviewer_is_refused(self, gate: Gate) -> None:
        """A disabled lead is refused like anyone else."""
        await gate._engine.run(gate.store.put_reviewer(Reviewer(name="erin", tier="lead", disabled=True)))
        with pytest.raises(NotAuthorized, match="disabled"):
            await gate.set_mode_async("incident", reviewer="erin")

    @pytest.mark.local_only("over HTTP the token's reviewer is the actor: there is no operator")
    async def test_local_operator_without_a_reviewer_may_switch(self, gate: Gate, store_url: str) -> None:
        """Local code holding the store (no reviewer named) is the operator, recorded as ``actor``."""
        gate.set_mode("incident", actor="oncall")
        assert ("incident", [("oncall", "incident")]) == (gate.mode, mode_switches(store_url))


SENIOR_SUGGESTIONS: dict[str, Any] = copy.deepcopy(POLICY)
SENIOR_SUGGESTIONS["rules"].append({"name": "iam-admin", "match": {"action": "iam.admin"}, "level": "suggest",
                                    "reviewers": {"tier": "senior"}})


class TestSuggestionsFollowTheApprovalRules:
    @pytest.mark.parametrize("done", [True, False], ids=["done", "dismissed"])
    async def test_a_junior_cannot_resolve_a_senior_suggestion(self, open_gate: GateFactory, done: bool) -> None:
        """A suggestion whose rule asks for a senior cannot be marked done or dismissed by a junior."""
        gate = open_gate(SENIOR_SUGGESTIONS)
        d = await gate.guard(Action(name="iam.admin", args={"user": "eve"}, agent="bot"))
        with pytest.raises(NotAuthorized, match="needs a senior reviewer"):
            await gate.resolve_suggestion(d.ticket_id or "", reviewer="alice", done=done)
        by_senior = await gate.resolve_suggestion(d.ticket_id or "", reviewer="bob", done=done)
        assert ("done" if done else "dismissed", ("bob",)) == (by_senior.status, by_senior.decided_by)

    @pytest.mark.parametrize("done", [True, False], ids=["done", "dismissed"])
    async def test_nobody_resolves_their_own_suggestion(self, gate: Gate, done: bool) -> None:
        """A reviewer who is also the agent that suggested it cannot resolve it; it stays open."""
        d = await gate.guard(Action(name="iam.grant", args={"role": "admin"}, agent="bob"))
        with pytest.raises(NotAuthorized, match="requested"):
            await gate.resolve_suggestion(d.ticket_id or "", reviewer="bob", done=done)
        assert "suggested" == (await gate.get_ticket(d.ticket_id or "")).status


def refund(agent: str, amount: float = 50.0) -> Action:
    return Action(name="issue_refund", args={"amount": amount}, agent=agent, reasoning="late order")


class TestIdempotencyKeysBelongToOneAgent:
    async def test_another_agent_cannot_squat_a_key(self, gate: Gate) -> None:
        """Agent B using agent A's key gets its own ticket, and A's later submission with that key still
        works (returns A's own ticket, never B's and never a Conflict)."""
        squat = await gate.submit(refund("agent-b", 1.0), idempotency_key="run-1/step-1")
        mine = await gate.submit(refund("agent-a"), idempotency_key="run-1/step-1")
        again = await gate.submit(refund("agent-a"), idempotency_key="run-1/step-1")
        assert (True, mine.id, "agent-a") == (squat.id != mine.id, again.id, again.action.agent)

    async def test_the_same_agent_still_gets_conflict_for_another_action(self, gate: Gate) -> None:
        """Within one agent, a key reused for another action is still a Conflict."""
        await gate.submit(refund("agent-a"), idempotency_key="k")
        with pytest.raises(Conflict):
            await gate.submit(refund("agent-a", 60.0), idempotency_key="k")

    @pytest.mark.local_only("an agent token submits for its own agent only")
    async def test_a_batch_scopes_keys_per_agent(self, gate: Gate) -> None:
        """One batch holding two agents' actions under one key makes two tickets."""
        a, b = await gate.submit_many([refund("agent-a"), refund("agent-b")], idempotency_keys=["k", "k"])
        assert (True, "agent-a", "agent-b") == (a.id != b.id, a.action.agent, b.action.agent)

    async def test_find_ticket_is_scoped_to_the_agent(self, gate: Gate, open_gate: GateFactory) -> None:
        """find_ticket finds only the named agent's ticket under a key (another gate too)."""
        a = await gate.submit(refund("agent-a"), idempotency_key="run-7/step-3")
        b = await gate.submit(refund("agent-b", 2.0), idempotency_key="run-7/step-3")
        other = open_gate(reviewers=False)
        found_a = await other.find_ticket(idempotency_key="run-7/step-3", agent="agent-a")
        found_b = await other.find_ticket(idempotency_key="run-7/step-3", agent="agent-b")
        nobody = await other.find_ticket(idempotency_key="run-7/step-3", agent="agent-c")
        assert (a.id, b.id, None) == (found_a.id if found_a else None, found_b.id if found_b else None, nobody)


class TestRevokedSessions:
    async def test_a_revocation_is_seen_through_another_store_object(self, gate: Gate,
                                                                     open_gate: GateFactory) -> None:
        """A logout recorded through one gate's store is seen through another's (another server, or
        the same one restarted); other sessions stay live."""
        from datetime import timedelta

        from signoff._model import utcnow

        other = open_gate(reviewers=False)
        before = await other._engine.run(other.store.session_revoked("h-1"))
        await gate._engine.run(gate.store.revoke_session("h-1", expires_at=utcnow() + timedelta(hours=8)))
        await gate._engine.run(gate.store.revoke_session("h-1", expires_at=utcnow() + timedelta(hours=8)))
        after = await other._engine.run(other.store.session_revoked("h-1"))
        untouched = await other._engine.run(other.store.session_revoked("h-2"))
        assert (False, True, False) == (before, after, untouched)

    @pytest.mark.local_only("reaches into the store")
    async def test_expired_revocations_are_cleared(self, gate: Gate) -> None:
        """Revocations past their cookie's expiry are deleted by the next revocation (the table stays small)."""
        from datetime import timedelta

        from signoff._model import utcnow

        await gate._engine.run(gate.store.revoke_session("old", expires_at=utcnow() - timedelta(seconds=1)))
        await gate._engine.run(gate.store.revoke_session("new", expires_at=utcnow() + timedelta(hours=1)))
        old, new = [await gate._engine.run(gate.store.session_revoked(h)) for h in ("old", "new")]
        assert (False, True) == (old, new)


class TestStaleTiers:
    @pytest.mark.local_only("writes a reviewer straight into the store")
    async def test_a_reviewer_whose_tier_the_policy_dropped_decides_nothing_tiered(self, gate: Gate) -> None:
        """A reviewer left with a tier the policy no longer lists ranks below every tier, not above."""
        await gate._engine.run(gate.store.put_reviewer(Reviewer(name="olga", tier="admin")))
        t = await gate.submit(refund("bot", 5000.0))
        with pytest.raises(NotAuthorized, match="needs a senior reviewer"):
            await gate.approve(t.id, reviewer="olga")
        assert "pending" == (await gate.get_ticket(t.id)).status
