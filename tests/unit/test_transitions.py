"""The pure ticket transitions of signoff.review._transitions, without a store: each takes a ticket
and returns the Change to write, so a second decision on the result is a Conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from signoff import Action
from signoff._errors import Conflict, InvalidAction, NotAuthorized
from signoff._model import Level, Outcome, ReviewersRequired, Ticket
from signoff._records import Reviewer
from signoff.review import _transitions as tr

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TIERS = ("junior", "senior", "lead")
ALICE, BOB, CAROL = Reviewer(name="alice", tier="senior"), Reviewer(name="bob", tier="senior"), Reviewer(name="carol")


def ticket(**changes: Any) -> Ticket:
    fields: dict[str, Any] = {
        "id": "tk_1", "kind": "approval", "status": "pending", "level": Level.APPROVE,
        "action": Action(name="refund", args={"amount": 10}, agent="bot"), "created_at": NOW,
        "deadline": NOW + timedelta(minutes=30), "timeout_seconds": 1800.0}
    fields.update(changes)
    return Ticket(**fields)


class TestDecisions:
    def test_approve(self) -> None:
        """One approval of a one-approver ticket approves it, binding the digest of what was seen."""
        change = tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW, comment="ok")
        t = change.ticket
        assert ("approved", ("alice",), NOW, "ok", t.action.digest(), ["approved"]) == (
            t.status, t.decided_by, t.decided_at, t.feedback, t.approved_digest, [a.kind for a in change.audit])

    def test_reject(self) -> None:
        change = tr.reject(ticket(), ALICE, tiers=TIERS, now=NOW, feedback="no")
        assert ("rejected", ("alice",), "no", "rejected") == (
            change.ticket.status, change.ticket.decided_by, change.ticket.feedback, change.audit[0].kind)

    def test_the_door_is_recorded_when_named(self) -> None:
        """``via`` lands in the decision's audit data (notifications say "in Slack"); absent when not given."""
        approved = tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW, via="slack")
        rejected = tr.reject(ticket(), ALICE, tiers=TIERS, now=NOW, via="email")
        plain = tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW)
        assert ("slack", "email", None) == (approved.audit[0].data["via"], rejected.audit[0].data["via"],
                                           plain.audit[0].data.get("via"))

    @pytest.mark.parametrize("first", ["approve", "reject", "cancel"])
    @pytest.mark.parametrize("second", ["approve", "reject", "cancel"])
    def test_each_transition_happens_once(self, first: str, second: str) -> None:
        """Whatever ended the ticket, a second decision is a Conflict naming its status."""
        decide = {
            "approve": lambda t: tr.approve(t, BOB, tiers=TIERS, now=NOW),
            "reject": lambda t: tr.reject(t, BOB, tiers=TIERS, now=NOW),
            "cancel": lambda t: tr.cancel(t, actor="bot", now=NOW),
        }
        done = decide[first](ticket()).ticket
        with pytest.raises(Conflict) as info:
            decide[second](done)
        assert (done.status, "tk_1") == (info.value.status, info.value.ticket_id)  # type: ignore[attr-defined]

    def test_four_eyes(self) -> None:
        """Two distinct approvers: the first leaves it pending at 1/2, the same one again is refused."""
        first = tr.approve(ticket(required_approvals=2), ALICE, tiers=TIERS, now=NOW)
        with pytest.raises(NotAuthorized, match="distinct approvers"):
            tr.approve(first.ticket, ALICE, tiers=TIERS, now=NOW)
        second = tr.approve(first.ticket, BOB, tiers=TIERS, now=NOW)
        assert (("pending", "1/2", "approval"), ("approved", ("alice", "bob"))) == (
            (first.ticket.status, first.audit[0].data["approvals"], first.audit[0].kind),
            (second.ticket.status, second.ticket.decided_by))

    def test_tier(self) -> None:
        """A lead ticket refuses a senior and a reviewer without a tier; a lead decides it."""
        t = ticket(tier="lead")
        for who in (ALICE, CAROL):
            with pytest.raises(NotAuthorized, match="needs a lead reviewer"):
                tr.approve(t, who, tiers=TIERS, now=NOW)
        assert "approved" == tr.approve(t, Reviewer(name="dan", tier="lead"), tiers=TIERS, now=NOW).ticket.status

    def test_a_tier_the_policy_dropped_needs_the_top_tier(self) -> None:
        """Fail closed: a renamed tier on a ticket asks for the top tier, a stale one on a reviewer counts as none."""
        assert (2, -1) == (tr.tier_rank(TIERS, "gone"), tr.reviewer_rank(TIERS, "gone"))

    def test_not_your_own(self) -> None:
        """The agent that asked may not decide its own request, even with the top tier."""
        with pytest.raises(NotAuthorized, match="cannot decide it"):
            tr.reject(ticket(), Reviewer(name="bot", tier="lead"), tiers=TIERS, now=NOW)
        assert "own_request" == tr.may_decide(ticket(), Reviewer(name="bot", tier="lead"), TIERS)

    def test_disabled(self) -> None:
        with pytest.raises(NotAuthorized, match="disabled"):
            tr.approve(ticket(), Reviewer(name="eve", tier="lead", disabled=True), tiers=TIERS, now=NOW)


class TestEditedArgs:
    def test_edited_args_are_what_runs(self) -> None:
        t = tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW, args={"amount": 5}).ticket
        assert ({"amount": 5}, {"amount": 5}, t.executable_action.digest()) == (
            t.edited_args, dict(t.executable_action.args), t.approved_digest)

    def test_an_edit_resets_earlier_approvals(self) -> None:
        """Approvals were for other arguments: after an edit, four eyes start again."""
        first = tr.approve(ticket(required_approvals=2), ALICE, tiers=TIERS, now=NOW).ticket
        edited = tr.approve(first, BOB, tiers=TIERS, now=NOW, args={"amount": 1}).ticket
        assert ("pending", ("bob",)) == (edited.status, edited.approvals)

    def test_edited_args_are_checked_by_the_policy(self) -> None:
        """Arguments the policy denies are refused; ones needing a higher tier raise the ticket's tier."""
        def evaluate(a: Action) -> Outcome:
            if a.args["amount"] > 100:
                return Outcome(level=Level.DENY)
            return Outcome(level=Level.APPROVE, reviewers=ReviewersRequired(tier="lead", count=1))
        with pytest.raises(InvalidAction, match="deny"):
            tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW, args={"amount": 1000}, evaluate=evaluate)
        with pytest.raises(NotAuthorized, match="need a lead reviewer"):
            tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW, args={"amount": 50}, evaluate=evaluate)
        lead = Reviewer(name="dan", tier="lead")
        t = tr.approve(ticket(), lead, tiers=TIERS, now=NOW, args={"amount": 50}, evaluate=evaluate).ticket
        assert ("approved", "lead") == (t.status, t.tier)


class TestTimeout:
    def test_nothing_is_due_before_the_deadline(self) -> None:
        assert tr.timeout(ticket(), tiers=TIERS, now=NOW) is None

    def test_expire(self) -> None:
        """Escalate with no higher tier left: the ticket expires."""
        change = tr.timeout(ticket(tier="lead"), tiers=TIERS, now=NOW + timedelta(hours=1))
        assert change is not None
        assert ("expired", "expired") == (change.ticket.status, change.audit[0].kind)

    def test_escalate(self) -> None:
        later = NOW + timedelta(hours=1)
        change = tr.timeout(ticket(tier="junior"), tiers=TIERS, now=later)
        assert change is not None
        t = change.ticket
        assert ("pending", "senior", 1, later + timedelta(minutes=30), "escalated") == (
            t.status, t.tier, t.escalations, t.deadline, change.audit[0].kind)

    def test_retry_then_expire(self) -> None:
        later = NOW + timedelta(hours=1)
        retried = tr.timeout(ticket(on_timeout="retry", retries_left=1), tiers=TIERS, now=later)
        assert retried is not None
        again = tr.timeout(retried.ticket, tiers=TIERS, now=later + timedelta(hours=1))
        assert again is not None
        assert (("pending", 0, "retried"), "expired") == (
            (retried.ticket.status, retried.ticket.retries_left, retried.audit[0].kind), again.ticket.status)

    def test_abort(self) -> None:
        change = tr.timeout(ticket(on_timeout="abort"), tiers=TIERS, now=NOW + timedelta(hours=1))
        assert change is not None
        assert ("aborted", "aborted") == (change.ticket.status, change.audit[0].kind)

    def test_an_expired_ticket_cannot_be_approved(self) -> None:
        change = tr.timeout(ticket(on_timeout="abort"), tiers=TIERS, now=NOW + timedelta(hours=1))
        assert change is not None
        with pytest.raises(Conflict):
            tr.approve(change.ticket, ALICE, tiers=TIERS, now=NOW)


class TestCancel:
    def test_cancel(self) -> None:
        change = tr.cancel(ticket(), actor="bot", now=NOW, reason="not needed")
        assert ("cancelled", "not needed", "cancelled") == (
            change.ticket.status, change.ticket.explanation, change.audit[0].kind)
