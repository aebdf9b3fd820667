"""notify, suggest, deny, required reasoning, quotas, novelty and modes, on every store."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from signoff import Action, Conflict, Denied, Gate, InvalidAction, QuotaExceeded, Suggested, UserError
from tests.contract.conftest import POLICY, GateFactory, audit_kinds, read_audit


def policy_with(**defaults: Any) -> dict[str, Any]:
    p = copy.deepcopy(POLICY)
    p["defaults"].update(defaults)
    return p


class TestNotify:
    async def test_notify_acts_and_lands_in_the_feed(self, gate: Gate) -> None:
        """A notify action is allowed at once and shows in the feed of notifications."""
        d = await gate.guard(Action(name="send_digest", args={"to": "team"}, agent="bot"))
        feed = await gate.list_tickets(kind="notification")
        assert ("notified", True, [d.ticket_id]) == (d.status, d.approved, [t.id for t in feed])

    async def test_gated_notify_runs_the_tool(self, gate: Gate) -> None:
        """A gated notify tool runs with its arguments."""

        @gate.gated("send_digest", agent="bot")
        async def send_digest(to: str) -> str:
            return f"sent to {to}"

        assert "sent to team" == await send_digest("team")

    async def test_a_reviewer_flags_it_afterwards(self, gate: Gate, store_url: str) -> None:
        """A reviewer flags a notified action once; a second flag is a Conflict."""
        d = await gate.guard(Action(name="send_digest", args={"to": "team"}, agent="bot"))
        flagged = await gate.flag(d.ticket_id or "", reviewer="alice", note="wrong audience")
        with pytest.raises(Conflict):
            await gate.flag(d.ticket_id or "", reviewer="bob")
        assert ("flagged", "wrong audience", ["notified", "flagged"]) == (
            flagged.status, flagged.feedback, audit_kinds(store_url, d.ticket_id))

    async def test_only_notifications_can_be_flagged(self, gate: Gate) -> None:
        """Flagging an approval ticket is a usage error."""
        t = await gate.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r"))
        with pytest.raises(UserError):
            await gate.flag(t.id, reviewer="alice")


class TestSuggest:
    async def test_suggest_records_a_suggestion(self, gate: Gate) -> None:
        """A suggest action is not allowed to run and becomes a suggestion ticket."""
        d = await gate.guard(Action(name="iam.grant", args={"role": "admin"}, agent="bot"))
        t = await gate.get_ticket(d.ticket_id or "")
        assert ("suggested", False, "suggestion", "suggested") == (d.status, d.approved, t.kind, t.status)

    @pytest.mark.parametrize(("done", "status"), [(True, "done"), (False, "dismissed")])
    async def test_reviewer_resolves_it_once(self, gate: Gate, done: bool, status: str) -> None:
        """A reviewer marks the suggestion done or dismissed, once."""
        d = await gate.guard(Action(name="iam.grant", args={"role": "admin"}, agent="bot"))
        t = await gate.resolve_suggestion(d.ticket_id or "", reviewer="alice", done=done, note="handled")
        with pytest.raises(Conflict):
            await gate.resolve_suggestion(d.ticket_id or "", reviewer="bob", done=not done)
        assert (status, ("alice",)) == (t.status, t.decided_by)

    async def test_gated_suggest_raises_suggested(self, gate: Gate) -> None:
        """A gated suggest tool raises Suggested and never runs."""
        ran: list[str] = []

        @gate.gated("iam.grant", agent="bot")
        def grant(role: str) -> None:
            ran.append(role)

        with pytest.raises(Suggested):
            await asyncio.to_thread(grant, "admin")
        assert ([], 1) == (ran, len(await gate.list_tickets(kind="suggestion")))


class TestDeny:
    async def test_guard_returns_denied(self, gate: Gate, store_url: str) -> None:
        """guard returns a denied decision at once, creates no ticket, and audits the attempt."""
        d = await gate.guard(Action(name="drop_database", args={"db": "prod"}, agent="bot"))
        assert ("denied", False, [], ["denied"]) == (d.status, d.approved, await gate.list_tickets(),
                                                     [k for k in audit_kinds(store_url) if k == "denied"])

    async def test_gated_raises_denied(self, gate: Gate) -> None:
        """A gated tool the policy denies raises Denied, carrying the decision, and never runs."""
        ran: list[str] = []

        @gate.gated("drop_database", agent="bot")
        async def drop(db: str) -> None:
            ran.append(db)

        with pytest.raises(Denied) as info:
            await drop("prod")
        assert ([], "denied") == (ran, info.value.decision.status if info.value.decision else None)

    async def test_submit_of_a_denied_action_raises(self, gate: Gate) -> None:
        """Submitting a denied action explicitly raises Denied too."""
        with pytest.raises(Denied):
            await gate.submit(Action(name="drop_database", args={"db": "prod"}, agent="bot"))


class TestRequireReasoning:
    async def test_submission_without_reasoning_is_refused(self, open_gate: GateFactory) -> None:
        """With require_reasoning, an approval ticket without a reasoning raises InvalidAction."""
        g = open_gate(policy_with(require_reasoning=True))
        with pytest.raises(InvalidAction, match="reasoning"):
            await g.guard(Action(name="issue_refund", args={"amount": 5.0}, agent="bot"))
        assert [] == await g.list_tickets()

    async def test_blank_reasoning_counts_as_none(self, open_gate: GateFactory) -> None:
        """Whitespace is not a reasoning."""
        g = open_gate(policy_with(require_reasoning=True))
        with pytest.raises(InvalidAction):
            await g.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="  \n"))

    async def test_with_reasoning_it_is_queued(self, open_gate: GateFactory) -> None:
        """A reasoning given, the ticket is queued as usual."""
        g = open_gate(policy_with(require_reasoning=True))
        t = await g.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="late order"))
        assert "pending" == t.status

    async def test_auto_actions_need_no_reasoning(self, open_gate: GateFactory) -> None:
        """The option applies to actions that need a human only."""
        g = open_gate(policy_with(require_reasoning=True))
        assert "auto" == (await g.guard(Action(name="lookup", agent="bot"))).status


class TestQuota:
    async def test_pending_quota_per_agent(self, open_gate: GateFactory, store_url: str) -> None:
        """An agent at its pending quota gets QuotaExceeded (audited); other agents are unaffected."""
        g = open_gate(policy_with(max_pending_per_agent=2))

        def act(agent: str) -> Action:
            return Action(name="issue_refund", args={"amount": 5.0}, agent=agent, reasoning="r")

        await g.submit(act("greedy"))
        await g.submit(act("greedy"))
        with pytest.raises(QuotaExceeded, match="greedy"):
            await g.submit(act("greedy"))
        other = await g.submit(act("modest"))
        entries = [e for e in read_audit(store_url) if e.kind == "quota_exceeded"]
        assert ("pending", 1, "greedy") == (other.status, len(entries), entries[0].actor)

    async def test_a_decision_frees_a_slot(self, open_gate: GateFactory) -> None:
        """Once a pending ticket is decided, the agent may submit again."""
        g = open_gate(policy_with(max_pending_per_agent=1))
        act = Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r")
        t = await g.submit(act)
        await g.reject(t.id, reviewer="alice")
        assert "pending" == (await g.submit(act)).status

    async def test_a_batch_over_quota_is_refused_whole(self, open_gate: GateFactory) -> None:
        """submit_many over the quota creates none of its tickets."""
        g = open_gate(policy_with(max_pending_per_agent=2))
        acts = [Action(name="issue_refund", args={"amount": float(i)}, agent="bot", reasoning="r") for i in range(3)]
        with pytest.raises(QuotaExceeded):
            await g.submit_many(acts)
        assert [] == await g.list_tickets()


NOVEL_POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "tiers": ["junior", "senior", "lead"],
    "novelty": {"level": "approve", "key": ["action"]},
}


class TestNovelty:
    async def test_first_time_needs_a_human(self, open_gate: GateFactory) -> None:
        """An action never approved before is novel and needs approval."""
        g = open_gate(NOVEL_POLICY)
        out = g.evaluate(Action(name="resize_disk", agent="bot"))
        assert ("approve", True, ["novel_action"]) == (out.level.value, out.novel, [r.code for r in out.reasons])

    async def test_not_novel_after_approval(self, open_gate: GateFactory) -> None:
        """Once a human approved it, the same kind of action is auto."""
        g = open_gate(NOVEL_POLICY)
        t = await g.submit(Action(name="resize_disk", args={"gb": 10}, agent="bot"))
        await g.approve(t.id, reviewer="alice")
        assert "auto" == g.evaluate(Action(name="resize_disk", args={"gb": 20}, agent="bot")).level.value

    async def test_rejection_teaches_nothing(self, open_gate: GateFactory) -> None:
        """A rejected novel action stays novel."""
        g = open_gate(NOVEL_POLICY)
        t = await g.submit(Action(name="resize_disk", agent="bot"))
        await g.reject(t.id, reviewer="alice")
        assert g.evaluate(Action(name="resize_disk", agent="bot")).novel

    async def test_learning_survives_reopening(self, open_gate: GateFactory) -> None:
        """A new gate on the same store knows the fingerprints approved before."""
        g = open_gate(NOVEL_POLICY)
        t = await g.submit(Action(name="resize_disk", agent="bot"))
        await g.approve(t.id, reviewer="alice")
        g.close()
        again = open_gate(NOVEL_POLICY, reviewers=False)
        assert "auto" == again.evaluate(Action(name="resize_disk", agent="bot")).level.value

    async def test_another_open_gate_learns_it(self, open_gate: GateFactory) -> None:
        """A gate already open on the store learns an approval made through another gate."""
        a = open_gate(NOVEL_POLICY)
        b = open_gate(NOVEL_POLICY, reviewers=False)
        t = await a.submit(Action(name="resize_disk", agent="bot"))
        await a.approve(t.id, reviewer="alice")
        for _ in range(500):
            if not b.evaluate(Action(name="resize_disk", agent="bot")).novel:
                break
            await asyncio.sleep(0.01)
        assert "auto" == b.evaluate(Action(name="resize_disk", agent="bot")).level.value


class TestModes:
    @pytest.mark.local_only("over HTTP the token's reviewer is the actor, not actor=")
    async def test_set_mode_is_audited_and_applies(self, gate: Gate, store_url: str) -> None:
        """Switching incident mode on raises the threshold at once, and the switch is audited."""
        act = Action(name="lookup", agent="bot", confidence=0.9)
        before = gate.evaluate(act).level.value
        gate.set_mode("incident", actor="oncall")
        after = gate.evaluate(act).level.value
        modes = [(e.actor, e.data["mode"]) for e in read_audit(store_url) if e.kind == "mode"]
        assert ("auto", "approve", "incident", [("oncall", "incident")]) == (before, after, gate.mode, modes)

    async def test_mode_off_again(self, gate: Gate) -> None:
        """set_mode(None) switches the mode off."""
        gate.set_mode("incident")
        gate.set_mode(None)
        level = gate.evaluate(Action(name="lookup", confidence=0.9)).level.value
        assert (None, "auto") == (await gate.get_mode(), level)

    async def test_unknown_mode_is_refused(self, gate: Gate) -> None:
        """A mode the policy does not define raises UserError naming the defined ones."""
        with pytest.raises(UserError, match="incident"):
            gate.set_mode("panic")

    async def test_a_second_gate_follows_the_mode(self, gate: Gate, open_gate: GateFactory) -> None:
        """Another gate on the store sees the switch after its poll interval, and on opening."""
        other = open_gate(reviewers=False)
        gate.set_mode("incident")
        for _ in range(500):
            if other.mode == "incident":
                break
            await asyncio.sleep(0.01)
        late = open_gate(reviewers=False)
        assert ("incident", "incident") == (other.mode, late.mode)
