"""Standing approvals on every store (and through ``Gate.remote`` against a real server): what an
allowance lets through, what it never lifts, who may give it, and its audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signoff import Action, Gate, Level
from signoff._errors import Conflict, NotAuthorized, UserError
from signoff._model import utcnow
from signoff._via import decided_via
from tests.contract.conftest import GateFactory, audit_kinds, read_audit


def refund(amount: float, agent: str = "shop-bot") -> Action:
    return Action(name="issue_refund", args={"amount": amount, "currency": "EUR"}, agent=agent)


async def allowed_refund(gate: Gate, **kw: object) -> str:
    """alice (junior) approves a 120 EUR refund and allows refunds up to 200 EUR for shop-bot."""
    ticket = await gate.submit(refund(120.0))
    made = await gate.allow(ticket.id, reviewer="alice", condition="args.amount <= 200.0", **kw)  # type: ignore[arg-type]
    assert "active" == made.status()
    assert ("approved", ("alice",)) == ((await gate.get_ticket(ticket.id)).status, made.reviewers)
    return made.id


class TestWhatItAllows:
    async def test_a_matching_request_runs_without_asking_and_is_in_the_feed(self, gate: Gate,
                                                                             store_url: str) -> None:
        """Within the scope the policy's approve becomes notify, named by the allowance; guard returns at
        once with a feed record, and its use is audited."""
        aid = await allowed_refund(gate)
        outcome = gate.evaluate(refund(150.0))
        assert Level.NOTIFY == outcome.level
        assert aid in outcome.explanation
        decision = await gate.guard(refund(150.0), timeout=5)
        assert (True, "notified") == (decision.approved, decision.status)
        ticket = await gate.get_ticket(decision.ticket_id or "")
        assert ("notification", "standing_approval") == (ticket.kind, ticket.reasons[-1].code)
        assert ["allowance_created", "allowance_used"] == [k for k in audit_kinds(store_url)
                                                           if k.startswith("allowance")]

    async def test_the_door_an_allowance_came_through_is_audited(self, gate: Gate, store_url: str) -> None:
        """Created through the API (or a local call), the entry says ``via: api``; through a door that
        names itself (Slack, the inbox), that door, on the approval and on the allowance alike."""
        await allowed_refund(gate)
        created = [e for e in read_audit(store_url) if e.kind == "allowance_created"]
        assert ["api"] == [e.data.get("via") for e in created]

    @pytest.mark.local_only("the door is set by the server's own routes over HTTP")
    async def test_an_allowance_made_in_slack_says_so(self, gate: Gate, store_url: str) -> None:
        with decided_via("slack"):
            await allowed_refund(gate)
        entries = read_audit(store_url)
        assert ["slack"] == [e.data.get("via") for e in entries if e.kind == "allowance_created"]
        assert "slack" == next(e.data.get("via") for e in entries if e.kind == "approved")

    async def test_outside_its_scope_a_human_is_asked(self, gate: Gate) -> None:
        """Another agent, arguments outside the condition, and a rule needing a higher tier all still ask."""
        await allowed_refund(gate)
        assert Level.APPROVE == gate.evaluate(refund(150.0, agent="other-bot")).level
        assert Level.APPROVE == gate.evaluate(refund(500.0)).level
        assert Level.APPROVE == gate.evaluate(Action(name="send_payment", args={"amount": 1}, agent="shop-bot")).level

    async def test_it_never_lifts_deny(self, gate: Gate) -> None:
        """An allowance without a condition still leaves a denied request denied."""
        ticket = await gate.submit(refund(10.0))
        await gate.allow(ticket.id, reviewer="bob")  # senior: covers big refunds too
        assert Level.NOTIFY == gate.evaluate(refund(5000.0)).level
        assert Level.DENY == gate.evaluate(refund(500_000.0)).level

    async def test_a_higher_tier_rule_is_not_covered_by_a_lower_tier_allowance(self, gate: Gate) -> None:
        """alice (junior) allowed refunds with no condition; a refund over 1000 needs a senior: still asked."""
        ticket = await gate.submit(refund(10.0))
        await gate.allow(ticket.id, reviewer="alice")
        assert (Level.NOTIFY, Level.APPROVE) == (gate.evaluate(refund(900.0)).level,
                                                 gate.evaluate(refund(5000.0)).level)

    async def test_revoked_it_asks_again_and_is_audited(self, gate: Gate, store_url: str) -> None:
        aid = await allowed_refund(gate)
        revoked = await gate.revoke_allowance(aid, reviewer="carol")
        assert ("revoked", "carol") == (revoked.status(), revoked.revoked_by)
        assert Level.APPROVE == gate.evaluate(refund(150.0)).level
        assert [] == await gate.list_allowances()
        assert [aid] == [a.id for a in await gate.list_allowances(include_ended=True)]
        assert "allowance_revoked" in audit_kinds(store_url)
        with pytest.raises(Conflict):
            await gate.revoke_allowance(aid, reviewer="carol")


class TestUses:
    async def test_each_allowance_counts_the_requests_it_let_through(self, gate: Gate) -> None:
        """Uses come from the audit log's allowance_used entries, per allowance: guard and submit_many
        both count; a request that still asked a human, or fell under another allowance, does not."""
        before = utcnow()
        refunds = await allowed_refund(gate)
        payment = await gate.submit(Action(name="send_payment", args={"amount": 5}, agent="pay-bot"))
        other = await gate.allow(payment.id, reviewer="bob", condition="args.amount <= 5")
        await gate.confirm_allowance(other.id, reviewer="carol")
        assert None is other.uses  # what allow returns is not counted
        for amount in (150.0, 160.0):
            assert "notified" == (await gate.guard(refund(amount), timeout=5)).status
        made = [*await gate.submit_many([refund(170.0), refund(900.0)]),
                await gate.submit(refund(180.0, agent="other-bot"))]
        assert ["notification", "approval", "approval"] == [t.kind for t in made]
        uses = {a.id: (a.uses, a.last_used_at) for a in await gate.list_allowances()}
        after = utcnow()
        assert (3, 0, None) == (uses[refunds][0], uses[other.id][0], uses[other.id][1])
        last = uses[refunds][1]
        assert last is not None and before <= last <= after

    async def test_an_ended_allowance_keeps_its_count(self, gate: Gate) -> None:
        """Revoked, it is listed (with include_ended) with the uses it had; none are added after."""
        aid = await allowed_refund(gate)
        await gate.guard(refund(150.0), timeout=5)
        await gate.revoke_allowance(aid, reviewer="alice")
        await gate.submit(refund(150.0))  # asks a human again: not a use
        [ended] = await gate.list_allowances(include_ended=True)
        assert (aid, "revoked", 1) == (ended.id, ended.status(), ended.uses)
        assert ended.last_used_at is not None


class TestWhoMayGiveIt:
    async def test_four_eyes_need_two_reviewers_before_it_stands(self, gate: Gate) -> None:
        """send_payment needs two seniors: bob's allowance is pending (and the ticket 1/2) until carol
        confirms; the same reviewer cannot confirm twice."""
        ticket = await gate.submit(Action(name="send_payment", args={"amount": 50}, agent="pay-bot"))
        made = await gate.allow(ticket.id, reviewer="bob", condition="args.amount <= 50")
        assert ("pending", 2) == (made.status(), made.required)
        assert Level.APPROVE == gate.evaluate(Action(name="send_payment", args={"amount": 40}, agent="pay-bot")).level
        with pytest.raises(NotAuthorized):
            await gate.confirm_allowance(made.id, reviewer="bob")
        confirmed = await gate.confirm_allowance(made.id, reviewer="carol")
        assert ("active", ("bob", "carol")) == (confirmed.status(), confirmed.reviewers)
        assert Level.NOTIFY == gate.evaluate(Action(name="send_payment", args={"amount": 40}, agent="pay-bot")).level

    async def test_a_second_reviewer_allowing_the_same_scope_confirms(self, gate: Gate) -> None:
        """On the ticket page, the second senior's "approve and always allow" approves the ticket and confirms
        the first's allowance (one allowance, two reviewers); a different condition makes its own."""
        ticket = await gate.submit(Action(name="send_payment", args={"amount": 50}, agent="pay-bot"))
        first = await gate.allow(ticket.id, reviewer="bob", condition="args.amount <= 50")
        second = await gate.allow(ticket.id, reviewer="carol", condition="args.amount <= 50")
        assert (first.id, "active", ("bob", "carol")) == (second.id, second.status(), second.reviewers)
        assert "approved" == (await gate.get_ticket(ticket.id)).status
        assert [first.id] == [a.id for a in await gate.list_allowances()]

    async def test_a_reviewer_may_allow_only_what_their_tier_could_approve(self, gate: Gate) -> None:
        ticket = await gate.submit(Action(name="send_payment", args={"amount": 50}, agent="pay-bot"))
        with pytest.raises(NotAuthorized, match="senior"):
            await gate.allow(ticket.id, reviewer="alice")
        assert "pending" == (await gate.get_ticket(ticket.id)).status  # nothing was approved either

    async def test_any_agent_takes_the_top_tier(self, gate: Gate) -> None:
        ticket = await gate.submit(refund(10.0))
        with pytest.raises(NotAuthorized, match="lead"):
            await gate.allow(ticket.id, reviewer="bob", any_agent=True)
        made = await gate.allow(ticket.id, reviewer="dave", any_agent=True, expires="1h")
        assert made.agent is None
        assert Level.NOTIFY == gate.evaluate(refund(10.0, agent="any-bot")).level

    async def test_a_bad_condition_is_refused_with_its_position(self, gate: Gate) -> None:
        ticket = await gate.submit(refund(10.0))
        with pytest.raises(UserError, match="column"):
            await gate.allow(ticket.id, reviewer="alice", condition="args.amount <=")
        with pytest.raises(UserError, match="only args"):
            await gate.allow(ticket.id, reviewer="alice", condition="context.env == 'prod'")
        with pytest.raises(UserError, match="expiry"):
            await gate.allow(ticket.id, reviewer="alice", expires="forever")
        assert "pending" == (await gate.get_ticket(ticket.id)).status

    async def test_only_an_approver_of_a_decided_ticket_may_allow_it(self, gate: Gate) -> None:
        ticket = await gate.submit(refund(10.0))
        await gate.approve(ticket.id, reviewer="alice")
        with pytest.raises(Conflict):
            await gate.allow(ticket.id, reviewer="bob")
        assert "active" == (await gate.allow(ticket.id, reviewer="alice")).status()


class TestEveryGateFollows:
    async def test_another_gate_on_the_store_follows_creation_and_revocation(self, open_gate: GateFactory) -> None:
        """Changes travel as store events: a second gate (another process's, in effect) applies them."""
        first, second = open_gate(), open_gate(reviewers=False)
        aid = await allowed_refund(first)
        await _eventually(lambda: second.evaluate(refund(150.0)).level is Level.NOTIFY)
        await first.revoke_allowance(aid)
        await _eventually(lambda: second.evaluate(refund(150.0)).level is Level.APPROVE)

    async def test_it_carries_its_reviewers_current_authority(self, open_gate: GateFactory) -> None:
        """bob (senior) allowed refunds of any size: demoted to junior, big refunds ask again; disabled, his
        allowance no longer stands, on this gate and on another one on the store."""
        from signoff.store._records import Reviewer

        gate, other = open_gate(), open_gate(reviewers=False)
        ticket = await gate.submit(refund(10.0))
        await gate.allow(ticket.id, reviewer="bob")
        await _eventually(lambda: other.evaluate(refund(5000.0)).level is Level.NOTIFY)
        gate.add_reviewer("bob", tier="junior")
        assert (Level.NOTIFY, Level.APPROVE) == (gate.evaluate(refund(10.0)).level, gate.evaluate(refund(5000.0)).level)
        await gate.put_reviewer(Reviewer(name="bob", tier="junior", disabled=True), actor="admin")
        assert Level.APPROVE == gate.evaluate(refund(10.0)).level
        await _eventually(lambda: other.evaluate(refund(10.0)).level is Level.APPROVE)
        reopened = open_gate(reviewers=False)  # a gate opened later reads the reviewers too
        assert Level.APPROVE == reopened.evaluate(refund(10.0)).level

    async def test_it_expires(self, open_gate: GateFactory) -> None:
        gate = open_gate()
        ticket = await gate.submit(refund(10.0))
        made = await gate.allow(ticket.id, reviewer="alice", expires=timedelta(milliseconds=200))
        assert Level.NOTIFY == gate.evaluate(refund(10.0)).level
        await _eventually(lambda: gate.evaluate(refund(10.0)).level is Level.APPROVE)
        assert "expired" == (await gate.list_allowances(include_ended=True))[0].status()
        assert made.id not in [a.id for a in await gate.list_allowances()]


async def _eventually(check: object, within: float = 10.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():  # type: ignore[operator]
        assert loop.time() < end, "the change never arrived"
        await asyncio.sleep(0.02)


@pytest.mark.local_only("switching the mode as the operator")
async def test_a_request_a_mode_raised_cannot_be_allowed(gate: Gate) -> None:
    """An allowance never lowers a mode's approve, so the Gate refuses to make one from such a request
    (the inbox and Slack do not offer it either); approving it plainly still works."""
    await gate.set_mode_async("incident")
    ticket = await gate.submit(Action(name="read_logs", agent="shop-bot", confidence=0.5))
    assert "mode" in [r.code for r in ticket.reasons]
    with pytest.raises(UserError, match="mode in force"):
        await gate.allow(ticket.id, reviewer="alice")
    assert ([], "pending") == (await gate.list_allowances(), (await gate.get_ticket(ticket.id)).status)
    assert "approved" == (await gate.approve(ticket.id, reviewer="alice")).status
