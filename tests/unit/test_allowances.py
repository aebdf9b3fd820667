"""The allowance record and its pure helpers: the proposed condition, the condition check, expiries,
the JSON round trip, and the index's matching rules (no store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signoff import Action, Level, Outcome, ReviewersRequired
from signoff._allowances import (
    Allowance,
    AllowanceIndex,
    allowance_of,
    allowed_outcome,
    before_allowance,
    check_condition,
    covers,
    expiry_of,
    proposal,
    propose_condition,
)
from signoff._errors import UserError
from signoff._model import Reason, utcnow


def allowance(**kw: object) -> Allowance:
    base: dict[str, object] = dict(id="al_1", action="refund", agent="bot", reviewers=("alice",), tier="junior",
                                   created_at=utcnow())
    base.update(kw)
    return Allowance(**base)  # type: ignore[arg-type]


def asks(tier: str | None = "junior", count: int = 1) -> Outcome:
    return Outcome(level=Level.APPROVE, reviewers=ReviewersRequired(tier=tier, count=count), matched_rules=("r",))


class TestProposeCondition:
    def test_text_and_booleans_equal_numbers_at_most(self) -> None:
        """Sorted by name; lists, maps, odd names and non-finite numbers are left out."""
        args = {"env": 'st"ag', "amount": 120.0, "n": 3, "dry": True, "tags": ["a"], "bad-name": 1,
                "inf": float("inf")}
        assert 'args.amount <= 120.0 && args.dry == true && args.env == "st\\"ag" && args.n <= 3' == \
            propose_condition(args)

    def test_the_proposal_compiles(self) -> None:
        assert check_condition(propose_condition({"env": "staging", "amount": 1.5})) is not None

    def test_from_several_approvals_exactly_what_was_approved(self) -> None:
        """With the other approved requests: the largest number; the texts approved, listed; a text new in
        every request (an order) left out and named; a flag both ways, both values; a name missing from
        an earlier request still bounded by the values it had."""
        latest = {"env": "prod", "order": "A-9", "amount": 40.0, "n": 2, "dry": False, "note": "x"}
        seen = [{"env": "staging", "order": f"A-{i}", "amount": 10.0 * i, "n": 7, "dry": i % 2 == 0}
                for i in range(5)]
        seen.append({"env": "prod", "order": "A-8", "amount": 5.0, "n": 1, "dry": False})
        condition, left_out = proposal(latest, seen=seen)
        assert ('args.amount <= 40.0 && args.dry in [false, true] && args.env in ["prod", "staging"] '
                '&& args.n <= 7 && args.note == "x"', ("order",)) == (condition, left_out)
        assert check_condition(condition) is not None

    def test_never_wider_than_what_was_approved(self) -> None:
        """Mixed number types keep the latest's type (a bound, never none); a text seen once beside others
        is listed, not dropped; a name that is not an identifier (a trailing newline too) is named."""
        assert ("args.amount <= 3", ()) == proposal({"amount": 3}, seen=[{"amount": 120.5}])
        assert ('args.env in ["prod-eu", "staging"]', ()) == proposal(
            {"env": "prod-eu"}, seen=[{"env": "staging"}] * 3)
        assert ("args.n <= 5", ("amount\n",)) == proposal({"amount\n": 5, "n": 5})
        assert 'args.env == "staging"' == propose_condition({"env": "staging"}, seen=[{"env": "staging"}])

class TestChecks:
    def test_conditions(self) -> None:
        assert (None, None, "args.a == 1") == (check_condition(None), check_condition("  "),
                                               check_condition(" args.a == 1 "))
        with pytest.raises(UserError, match="column"):
            check_condition("args.a ==")
        with pytest.raises(UserError, match="only args"):
            check_condition("action.agent == 'x'")

    def test_expiries(self) -> None:
        now = utcnow()
        assert (now + timedelta(hours=1), None, None) == (expiry_of("1h", now), expiry_of("never", now),
                                                          expiry_of(None, now))
        with pytest.raises(UserError, match="1h, 1d, 7d, never"):
            expiry_of("1y", now)
        with pytest.raises(UserError, match="positive"):
            expiry_of(timedelta(0), now)

    def test_round_trip_and_status(self) -> None:
        a = allowance(condition="args.a == 1", expires_at=utcnow() + timedelta(days=1), required=2)
        assert a == Allowance.from_dict(a.to_dict())
        assert "pending" == a.status()
        assert "expired" == allowance(expires_at=utcnow() - timedelta(seconds=1)).status()
        assert "revoked" == allowance(revoked_at=utcnow()).status()

    def test_uses_travel_but_are_never_stored(self) -> None:
        """Counted uses go over the wire (to_dict/from_dict) and never into the stored record (to_json);
        a record not counted carries no uses fields at all, so its audit entries stay as they were."""
        last, plain = utcnow(), allowance()
        counted = plain.with_uses({"al_1": (3, last), "al_2": (1, last)})
        assert (3, last) == (counted.uses, counted.last_used_at)
        assert counted == Allowance.from_dict(counted.to_dict())
        assert ("uses" in counted.to_json(), "uses" in plain.to_dict()) == (False, False)
        assert plain.to_json() == counted.to_json()
        assert (0, None) == (allowance(id="al_9").with_uses({}).uses, allowance(id="al_9").with_uses({}).last_used_at)


class TestIndex:
    def test_matching(self) -> None:
        """Agent, tier, reviewer count and condition all have to hold; a failing condition allows nothing."""
        index = AllowanceIndex(["junior", "senior"])
        index.load([allowance(condition="args.amount <= 10")])
        act = Action(name="refund", args={"amount": 5}, agent="bot")
        assert index.match(act, asks(), tier_rank=0) is not None
        assert index.match(act.evolve(agent="other"), asks(), tier_rank=0) is None
        assert index.match(act, asks("senior"), tier_rank=1) is None
        assert index.match(act, asks(count=2), tier_rank=0) is None
        assert index.match(act.evolve(args={"amount": 50}), asks(), tier_rank=0) is None
        assert index.match(act.evolve(args={}), asks(), tier_rank=0) is None

    def test_any_agent_never_covers_its_own_reviewers_requests(self) -> None:
        """A reviewer who also runs as an agent cannot approve their own requests through an any-agent allowance."""
        index = AllowanceIndex(["junior"])
        index.load([allowance(agent=None)])
        act = Action(name="refund", agent="someone")
        assert (True, False) == (index.match(act, asks(), tier_rank=0) is not None,
                                 index.match(act.evolve(agent="alice"), asks(), tier_rank=0) is not None)

    def test_pending_revoked_and_expired_are_not_indexed(self) -> None:
        index = AllowanceIndex([])
        index.load([allowance(id="p", required=2), allowance(id="r", revoked_at=utcnow()),
                    allowance(id="e", expires_at=utcnow() - timedelta(seconds=1))])
        assert {} == index.by_action

    def test_what_may_be_lowered(self) -> None:
        """approve only, and not when a mode asked for it; the lowered outcome names the allowance."""
        mode = Outcome(level=Level.APPROVE, reasons=(Reason(code="mode", level=Level.APPROVE),))
        assert (True, False, False) == (covers(asks()), covers(mode), covers(Outcome(level=Level.DENY)))
        lowered = allowed_outcome(asks(), allowance())
        assert (Level.NOTIFY, "al_1") == (lowered.level, allowance_of(lowered.reasons))
        assert lowered.explanation.startswith("Allowed without asking by standing approval al_1")

    def test_the_policys_own_outcome_is_recovered(self) -> None:
        """before_allowance undoes allowed_outcome exactly (what a shadow policy compares with) and leaves
        any other outcome, a rule's own notify included, as it is."""
        plain = asks()
        assert plain == before_allowance(allowed_outcome(plain, allowance()))
        notify = Outcome(level=Level.NOTIFY, matched_rules=("digest",))
        assert (notify, plain) == (before_allowance(notify), before_allowance(plain))


class TestGateFailsClosed:
    async def test_an_unreadable_allowance_event_drops_every_allowance_until_reloaded(self) -> None:
        """It might have been a revocation: the gate holds none, then reads them again from the store."""
        import asyncio
        import threading

        from signoff import Gate
        from signoff._records import Event

        policy = {"version": 1, "rules": [{"name": "r", "match": {"action": "refund"}, "level": "approve"}]}
        gate = Gate.open(policy, "memory://")
        try:
            gate.add_reviewer("alice")
            ticket = await gate.submit(Action(name="refund", agent="bot"))
            await gate.allow(ticket.id, reviewer="alice")
            assert Level.NOTIFY == gate.evaluate(Action(name="refund", agent="bot")).level
            # Hold the engine loop (where the reload runs) until the first look: without this the
            # reload could finish on the engine's thread before this thread evaluates again.
            busy, go_on = threading.Event(), threading.Event()
            gate._engine.loop.call_soon_threadsafe(lambda: (busy.set(), go_on.wait(10)))
            assert busy.wait(10)
            gate.store.notifier.publish([Event(seq=10**9, kind="allowance_revoked", ticket_id=None,
                                               data={"allowance": {"id": "al_x"}})])
            levels = [gate.evaluate(Action(name="refund", agent="bot")).level]
            go_on.set()
            for _ in range(200):
                await asyncio.sleep(0.01)
                if gate.evaluate(Action(name="refund", agent="bot")).level is Level.NOTIFY:
                    break
            levels.append(gate.evaluate(Action(name="refund", agent="bot")).level)
            assert [Level.APPROVE, Level.NOTIFY] == levels
        finally:
            await gate.aclose()
