"""The pure ticket transitions of signoff.review._transitions, without a store: each takes a ticket
and returns the Change to write, so a second decision on the result is a Conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from signoff import Action
from signoff._errors import AlreadyExecuted, Conflict, InvalidAction, NotAuthorized
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


def approved_ticket(**changes: Any) -> Ticket:
    t = tr.approve(ticket(), ALICE, tiers=TIERS, now=NOW).ticket
    return t.evolve(**changes)


class TestClaims:
    def test_a_claim_holds_the_run_until_its_lease(self) -> None:
        """The first claim marks the run executing for its claim id, until now + lease (audited)."""
        t = approved_ticket()
        change = tr.claim_execution(t, action=t.action, instance="i1", now=NOW, claim_id="cl_1",
                                    lease=timedelta(minutes=5))
        assert change is not None
        c = change.ticket
        assert ("executing", "i1", "cl_1", NOW + timedelta(minutes=5)) == (c.execution, c.executor, c.claim_id,
                                                                         c.lease_until)
        assert {"instance": "i1", "claim_id": "cl_1", "lease_until": (NOW + timedelta(minutes=5)).isoformat()} \
            == change.audit[0].data

    def test_the_same_claim_again_changes_nothing(self) -> None:
        """A retry with the claim id that holds the run is answered with the ticket as it is (None: no write)."""
        t = approved_ticket(execution="executing", executor="i1", claim_id="cl_1", lease_until=NOW)
        assert tr.claim_execution(t, action=t.action, instance="i1", now=NOW, claim_id="cl_1") is None

    @pytest.mark.parametrize("claim_id", [None, "cl_2"])
    def test_another_claim_from_the_same_instance_is_refused(self, claim_id: str | None) -> None:
        t = approved_ticket(execution="executing", executor="i1", claim_id="cl_1", lease_until=NOW)
        with pytest.raises(AlreadyExecuted, match="at most once"):
            tr.claim_execution(t, action=t.action, instance="i1", now=NOW, claim_id=claim_id)

    def test_the_same_claim_after_its_run_ended_is_refused(self) -> None:
        """The claim's run is no longer going (it finished, or it is in doubt): a late retry runs nothing."""
        t = approved_ticket(execution="unknown", executor="i1", claim_id="cl_1", explanation="in doubt")
        with pytest.raises(AlreadyExecuted, match=r"no longer running.*in doubt"):
            tr.claim_execution(t, action=t.action, instance="i1", now=NOW, claim_id="cl_1")

    def test_the_same_claim_id_for_another_action_is_still_refused(self) -> None:
        """The digest check comes first: a claim id does not let other arguments through."""
        t = approved_ticket(execution="executing", executor="i1", claim_id="cl_1", lease_until=NOW)
        with pytest.raises(Conflict, match="differs"):
            tr.claim_execution(t, action=t.action.evolve(args={"amount": 99}), instance="i1", now=NOW,
                               claim_id="cl_1")

    def test_a_finish_sent_again_changes_nothing(self) -> None:
        t = approved_ticket(execution="executed", claim_id="cl_1")
        assert tr.finish_execution(t, ok=True, claim_id="cl_1") is None
        with pytest.raises(Conflict, match="not executing"):
            tr.finish_execution(t, ok=False, claim_id="cl_1")


class TestLeases:
    def test_a_run_past_its_lease_becomes_unknown(self) -> None:
        t = approved_ticket(execution="executing", executor="i1", claim_id="cl_1", lease_until=NOW)
        change = tr.lease_expired(t, now=NOW)
        assert change is not None
        assert ("unknown", "execution_unknown", "lease") == (change.ticket.execution, change.audit[0].kind,
                                                              change.audit[0].data["reason"])

    @pytest.mark.parametrize("changes", [
        {"execution": "executing", "lease_until": NOW + timedelta(seconds=1)},
        {"execution": "executed", "lease_until": NOW - timedelta(seconds=1)},
        {"execution": "unknown", "lease_until": None},
    ])
    def test_nothing_is_due_otherwise(self, changes: dict[str, Any]) -> None:
        assert tr.lease_expired(approved_ticket(**changes), now=NOW) is None

    def test_a_run_claimed_before_leases_existed_becomes_unknown(self) -> None:
        """Migration 0005 makes such runs due; the transition says why it has no lease."""
        change = tr.lease_expired(approved_ticket(execution="executing", executor="i1"), now=NOW)
        assert change is not None
        assert ("unknown", None) == (change.ticket.execution, change.audit[0].data["lease_until"])
        assert "claimed before runs had leases" in change.ticket.explanation


class TestResolveUnknown:
    @pytest.mark.parametrize(("outcome", "execution"), [("ran", "executed"), ("not_run", "not_run")])
    def test_ran_or_not(self, outcome: Any, execution: str) -> None:
        t = approved_ticket(execution="unknown", claim_id="cl_1")
        change = tr.resolve_unknown(t, BOB, tiers=TIERS, now=NOW, outcome=outcome, note="checked", via="inbox")
        assert (execution, "approved") == (change.ticket.execution, change.ticket.status)
        assert {"reviewer": "bob", "outcome": outcome, "note": "checked", "via": "inbox"} == change.audit[0].data

    def test_reapprove_is_a_fresh_approval(self) -> None:
        """The run is reset and the ticket approved anew by this reviewer (its digest bound again)."""
        t = approved_ticket(execution="unknown", executor="i1", claim_id="cl_1", lease_until=NOW)
        change = tr.resolve_unknown(t, BOB, tiers=TIERS, now=NOW, outcome="reapprove")
        c = change.ticket
        assert ("approved", "none", None, None, ("bob",), t.action.digest()) == (
            c.status, c.execution, c.claim_id, c.lease_until, c.approvals, c.approved_digest)
        assert ["execution_resolved", "approved"] == [a.kind for a in change.audit]

    def test_reapprove_with_two_approvers_waits_for_the_second(self) -> None:
        t = approved_ticket(execution="unknown", required_approvals=2)
        c = tr.resolve_unknown(t, BOB, tiers=TIERS, now=NOW, outcome="reapprove").ticket
        assert ("pending", ("bob",), NOW + timedelta(seconds=1800)) == (c.status, c.approvals, c.deadline)

    def test_the_rules_of_a_decision_apply(self) -> None:
        """The requester may not say, nor a reviewer below the ticket's tier; a run not in doubt is a Conflict."""
        t = approved_ticket(execution="unknown", tier="lead")
        with pytest.raises(NotAuthorized, match="lead"):
            tr.resolve_unknown(t, BOB, tiers=TIERS, now=NOW, outcome="ran")
        with pytest.raises(NotAuthorized, match="requested"):
            tr.resolve_unknown(approved_ticket(execution="unknown"), Reviewer(name="bot"), tiers=TIERS, now=NOW,
                               outcome="ran")
        with pytest.raises(Conflict, match="not in doubt"):
            tr.resolve_unknown(approved_ticket(execution="executed"), BOB, tiers=TIERS, now=NOW, outcome="ran")
