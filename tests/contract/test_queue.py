"""The review queue's transitions, edits, state, idempotency, tiers and four eyes, on every store."""

from __future__ import annotations

import asyncio

import pytest

from signoff import Action, Conflict, Gate, InvalidAction, NotAuthorized, NotFound, Rejected, UserError
from signoff.store import Reviewer
from tests.contract.conftest import GateFactory, audit_kinds


def refund(amount: float = 50.0, *, agent: str = "support-bot", **extra: object) -> Action:
    return Action(name="issue_refund", args={"order": "A-17", "amount": amount, **extra}, agent=agent,
                  reasoning="order 3 days late; SLA is 2 days", confidence=0.9)


def payment(amount: float = 10.0, *, agent: str = "billing-bot") -> Action:
    return Action(name="send_payment", args={"to": "ACME", "amount": amount}, agent=agent,
                  reasoning="invoice 2026-118 is due")


class TestTransitions:
    async def test_submit_creates_a_pending_ticket(self, gate: Gate) -> None:
        """A submitted action waits as a pending approval ticket, with its rule and tier."""
        t = await gate.submit(refund())
        stored = await gate.get_ticket(t.id)
        assert ("pending", "approval", ("refunds",), "junior") == (stored.status, stored.kind, stored.rules,
                                                                  stored.tier)

    async def test_approve_decides_the_ticket(self, gate: Gate) -> None:
        """An approval ends the ticket approved, by that reviewer, and the waiter may act."""
        t = await gate.submit(refund())
        await gate.approve(t.id, reviewer="alice")
        d = await gate.wait(t.id, timeout=10)
        assert ("approved", True, ("alice",)) == (d.status, d.approved, d.reviewers)

    async def test_reject_decides_the_ticket(self, gate: Gate) -> None:
        """A rejection ends the ticket rejected, and the waiter may not act."""
        t = await gate.submit(refund())
        await gate.reject(t.id, reviewer="alice", feedback="no")
        d = await gate.wait(t.id, timeout=10)
        assert ("rejected", False) == (d.status, d.approved)

    async def test_cancel_withdraws_the_ticket(self, gate: Gate) -> None:
        """The agent can withdraw a pending ticket; its waiter learns it was cancelled."""
        t = await gate.submit(refund())
        await gate.cancel(t.id, reason="the customer withdrew the request")
        d = await gate.wait(t.id, timeout=10)
        assert ("cancelled", False, "the customer withdrew the request") == (d.status, d.approved, d.explanation)

    @pytest.mark.parametrize("first", ["approve", "reject", "cancel"])
    @pytest.mark.parametrize("second", ["approve", "reject", "cancel"])
    async def test_a_second_decision_is_a_conflict(self, gate: Gate, first: str, second: str) -> None:
        """Whatever decided a ticket first, any later decision raises Conflict and changes nothing."""
        t = await gate.submit(refund())
        decide = {
            "approve": lambda: gate.approve(t.id, reviewer="bob"),
            "reject": lambda: gate.reject(t.id, reviewer="carol", feedback="no"),
            "cancel": lambda: gate.cancel(t.id),
        }
        await decide[first]()
        before = await gate.get_ticket(t.id)
        with pytest.raises(Conflict):
            await decide[second]()
        after = await gate.get_ticket(t.id)
        assert (before.status, before.decided_by) == (after.status, after.decided_by)

    async def test_each_transition_is_audited_once(self, gate: Gate, store_url: str) -> None:
        """The audit log has one entry for the submission and one for the decision, not more."""
        t = await gate.submit(refund())
        await gate.approve(t.id, reviewer="alice")
        with pytest.raises(Conflict):
            await gate.reject(t.id, reviewer="bob")
        assert ["submitted", "approved"] == audit_kinds(store_url, t.id)

    async def test_concurrent_decisions_have_one_winner(self, gate: Gate) -> None:
        """Ten reviewers deciding at once: exactly one wins, nine get Conflict."""
        t = await gate.submit(refund())
        results = await asyncio.gather(
            *[gate.approve(t.id, reviewer="dave") if i % 2 else gate.reject(t.id, reviewer="bob")
              for i in range(10)],
            return_exceptions=True,
        )
        conflicts = [r for r in results if isinstance(r, Conflict)]
        assert (1, 9) == (10 - len(conflicts), len(conflicts))

    async def test_unknown_ticket_is_not_found(self, gate: Gate) -> None:
        """Deciding or reading a ticket that does not exist raises NotFound."""
        with pytest.raises(NotFound):
            await gate.approve("tk_nope", reviewer="alice")
        with pytest.raises(NotFound):
            await gate.get_ticket("tk_nope")

    @pytest.mark.local_only("over HTTP an unknown reviewer has no token to begin with")
    async def test_unknown_reviewer_is_not_authorized(self, gate: Gate) -> None:
        """Only reviewers in the store may decide."""
        t = await gate.submit(refund())
        with pytest.raises(NotAuthorized, match="unknown reviewer 'mallory'"):
            await gate.approve(t.id, reviewer="mallory")
        assert "pending" == (await gate.get_ticket(t.id)).status

    @pytest.mark.local_only("reaches under the gate to the store's update_ticket_by")
    async def test_the_reviewer_is_read_with_the_ticket_in_one_transaction(self, gate: Gate) -> None:
        """``update_ticket_by`` hands the change the reviewer's record as stored (None for a stranger)
        together with the locked ticket; a change that refuses writes nothing."""
        t = await gate.submit(refund())
        seen: list[object] = []

        def refuse(ticket: object, rv: object) -> None:
            seen.append((getattr(ticket, "id", None), rv))
            raise NotAuthorized("no")

        for name in ("alice", "mallory"):
            with pytest.raises(NotAuthorized):
                await gate._engine.run(gate.store.update_ticket_by(t.id, name, refuse))
        alice = await gate.get_reviewer("alice")
        assert [(t.id, alice), (t.id, None)] == seen and alice is not None
        assert ("pending", ["submitted"]) == ((await gate.get_ticket(t.id)).status,
                                              [e.kind for e in await gate.audit_entries(ticket_id=t.id)])
        with pytest.raises(NotFound):
            await gate._engine.run(gate.store.update_ticket_by("tk_nope", "alice", refuse))

    @pytest.mark.local_only("writes a reviewer through the local gate's admin door")
    async def test_a_disabled_reviewer_can_do_nothing_as_a_reviewer(self, gate: Gate) -> None:
        """Disabled a moment ago (by an admin, on any server), a reviewer is refused by every reviewer's
        action on a ticket, flagging a feed item included, and nothing changes."""
        t = await gate.submit(refund())
        fed = await gate.submit(Action(name="send_digest", agent="bot"))
        await gate.put_reviewer(Reviewer(name="alice", tier="junior", disabled=True), actor="admin")
        for act in (lambda: gate.approve(t.id, reviewer="alice"), lambda: gate.reject(t.id, reviewer="alice"),
                    lambda: gate.flag(fed.id, reviewer="alice", note="look")):
            with pytest.raises(NotAuthorized, match="disabled"):
                await act()
        assert ("pending", "notified") == ((await gate.get_ticket(t.id)).status,
                                           (await gate.get_ticket(fed.id)).status)

    async def test_waiter_is_woken_by_the_decision(self, gate: Gate) -> None:
        """A guard waiting in a task returns the decision made while it waits."""
        task = asyncio.create_task(gate.guard(refund()))
        pending = await _first_pending(gate)
        await gate.approve(pending, reviewer="alice")
        d = await asyncio.wait_for(task, 10)
        assert ("approved", pending) == (d.status, d.ticket_id)

    async def test_list_tickets_filters(self, gate: Gate) -> None:
        """list_tickets filters by status, agent and action."""
        a = await gate.submit(refund(agent="a1"))
        b = await gate.submit(refund(agent="a2"))
        c = await gate.submit(payment(agent="a1"))
        await gate.reject(b.id, reviewer="alice")
        assert [a.id, c.id] == [t.id for t in await gate.list_tickets(status="pending")]
        assert [a.id, c.id] == [t.id for t in await gate.list_tickets(agent="a1")]
        assert [c.id] == [t.id for t in await gate.list_tickets(action="send_payment")]
        assert [b.id] == [t.id for t in await gate.list_tickets(status=["rejected", "expired"])]


class TestEdits:
    async def test_agent_receives_the_edited_arguments(self, gate: Gate) -> None:
        """An approval with edited arguments gives the agent those arguments, marked edited."""
        t = await gate.submit(refund(50.0))
        await gate.approve(t.id, reviewer="alice", args={"order": "A-17", "amount": 30.0})
        d = await gate.wait(t.id, timeout=10)
        assert ({"order": "A-17", "amount": 30.0}, True) == (d.args, d.edited)

    async def test_an_edit_the_policy_denies_is_refused(self, gate: Gate) -> None:
        """Edited arguments are evaluated again: an edit the policy denies raises InvalidAction."""
        t = await gate.submit(refund(50.0))
        with pytest.raises(InvalidAction, match="not allowed"):
            await gate.approve(t.id, reviewer="dave", args={"order": "A-17", "amount": 500_000.0})
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_an_edit_needing_a_higher_tier_is_refused_to_a_junior(self, gate: Gate) -> None:
        """An edit into a senior rule's range needs a senior: a junior gets NotAuthorized."""
        t = await gate.submit(refund(50.0))
        with pytest.raises(NotAuthorized, match="senior"):
            await gate.approve(t.id, reviewer="alice", args={"order": "A-17", "amount": 5000.0})
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_a_senior_may_make_the_edit(self, gate: Gate) -> None:
        """The same edit by a senior reviewer is approved with the edited arguments."""
        t = await gate.submit(refund(50.0))
        await gate.approve(t.id, reviewer="bob", args={"order": "A-17", "amount": 5000.0})
        d = await gate.wait(t.id, timeout=10)
        assert ("approved", 5000.0) == (d.status, d.args["amount"])

    async def test_edit_is_audited_with_the_new_arguments(self, gate: Gate, store_url: str) -> None:
        """The approval's audit entry records the edited arguments."""
        from tests.contract.conftest import read_audit

        t = await gate.submit(refund(50.0))
        await gate.approve(t.id, reviewer="alice", args={"order": "A-17", "amount": 20.0})
        approved = [e for e in read_audit(store_url, t.id) if e.kind == "approved"]
        assert {"order": "A-17", "amount": 20.0} == approved[0].data["edited_args"]

    async def test_reject_feedback_reaches_the_waiter(self, gate: Gate) -> None:
        """The reviewer's words reach the agent in the decision and in Rejected.feedback."""
        calls: list[float] = []

        @gate.gated("issue_refund", agent="support-bot")
        async def issue_refund(order: str, amount: float) -> str:
            calls.append(amount)
            return "refunded"

        task = asyncio.create_task(issue_refund(order="A-17", amount=50.0))
        tid = await _first_pending(gate)
        await gate.reject(tid, reviewer="alice", feedback="use the voucher flow first")
        with pytest.raises(Rejected) as info:
            await asyncio.wait_for(task, 10)
        assert ("use the voucher flow first", []) == (info.value.feedback, calls)


class TestState:
    @pytest.mark.parametrize("state", [
        {"messages": ["hi", "refund?"], "step": 7, "nested": {"ok": True, "n": None, "x": 1.5}},
        b"\x00\x01framework-serialised-run\xff" * 100,
        [1, "two", 3.0],
        "plain string",
    ], ids=["dict", "bytes", "list", "str"])
    async def test_state_round_trips_through_resume(self, gate: Gate, state: object) -> None:
        """JSON values and raw bytes come back from resume exactly as submitted."""
        t = await gate.submit(refund(), state=state)
        await gate.approve(t.id, reviewer="alice")
        decision, got = await gate.resume(t.id)
        assert ("approved", state) == (decision.status, got)

    async def test_resume_from_another_gate(self, gate: Gate, open_gate: GateFactory) -> None:
        """A second gate on the same store (another process, after a restart) resumes with the state."""
        t = await gate.submit(refund(), state={"run": 42})
        await gate.approve(t.id, reviewer="alice")
        gate.close()
        other = open_gate(reviewers=False)
        decision, state = await other.resume(t.id)
        assert ("approved", {"run": 42}) == (decision.status, state)

    async def test_no_state_resumes_as_none(self, gate: Gate) -> None:
        """A ticket submitted without state resumes with None."""
        t = await gate.submit(refund())
        await gate.reject(t.id, reviewer="alice")
        decision, state = await gate.resume(t.id)
        assert ("rejected", None) == (decision.status, state)

    async def test_unserialisable_state_is_a_user_error(self, gate: Gate) -> None:
        """State that is neither JSON nor bytes is refused before anything is stored."""
        with pytest.raises(UserError, match="JSON"):
            await gate.submit(refund(), state={"fn": object()})
        assert [] == await gate.list_tickets()


class TestIdempotency:
    async def test_same_key_returns_the_same_ticket(self, gate: Gate) -> None:
        """Submitting again with the key returns the existing ticket; no duplicate is created."""
        a = await gate.submit(refund(), idempotency_key="run-42/step-7")
        b = await gate.submit(refund(), idempotency_key="run-42/step-7")
        assert (a.id, 1) == (b.id, len(await gate.list_tickets()))

    async def test_after_a_decision_guard_returns_it(self, gate: Gate) -> None:
        """An agent restarted after the decision gets that decision from guard, without a new ticket."""
        t = await gate.submit(refund(), idempotency_key="run-42/step-7")
        await gate.reject(t.id, reviewer="alice", feedback="duplicate refund")
        d = await asyncio.wait_for(gate.guard(refund(), idempotency_key="run-42/step-7"), 10)
        assert ("rejected", "duplicate refund", t.id, 1) == (d.status, d.feedback, d.ticket_id,
                                                            len(await gate.list_tickets()))

    async def test_same_key_another_action_is_a_conflict(self, gate: Gate) -> None:
        """Reusing a key for different arguments raises Conflict naming the existing ticket."""
        t = await gate.submit(refund(50.0), idempotency_key="k")
        with pytest.raises(Conflict) as info:
            await gate.submit(refund(60.0), idempotency_key="k")
        assert t.id == info.value.ticket_id  # type: ignore[attr-defined]

    async def test_keys_are_independent(self, gate: Gate) -> None:
        """Different keys give different tickets for the same action."""
        a = await gate.submit(refund(), idempotency_key="k1")
        b = await gate.submit(refund(), idempotency_key="k2")
        assert a.id != b.id

    async def test_idempotent_submit_from_another_gate(self, gate: Gate, open_gate: GateFactory) -> None:
        """The key holds across gate instances on one store (a restarted agent process)."""
        a = await gate.submit(refund(), idempotency_key="run-1/step-1", state={"s": 1})
        other = open_gate(reviewers=False)
        b = await other.submit(refund(), idempotency_key="run-1/step-1", state={"s": 2})
        await gate.approve(a.id, reviewer="alice")
        _, state = await other.resume(b.id)
        assert (a.id, {"s": 1}) == (b.id, state)

    async def test_find_ticket_by_key(self, gate: Gate, open_gate: GateFactory) -> None:
        """A restarted agent finds its request by key from another gate; an unused key finds nothing."""
        t = await gate.submit(refund(), idempotency_key="run-7/step-3")
        other = open_gate(reviewers=False)
        found = await other.find_ticket(idempotency_key="run-7/step-3", agent="support-bot")
        assert (t.id, None) == (found.id if found else None,
                                await other.find_ticket(idempotency_key="nope", agent="support-bot"))


class TestTiersAndFourEyes:
    async def test_two_distinct_approvers_are_needed(self, gate: Gate) -> None:
        """A count-2 rule stays pending after one approval and is approved after a second person's."""
        t = await gate.submit(payment())
        after_one = await gate.approve(t.id, reviewer="bob")
        after_two = await gate.approve(t.id, reviewer="carol")
        assert ("pending", ("bob",), "approved", ("bob", "carol")) == (
            after_one.status, after_one.approvals, after_two.status, after_two.decided_by)

    async def test_the_same_approver_twice_does_not_count(self, gate: Gate) -> None:
        """A reviewer who already approved cannot be the second approver."""
        t = await gate.submit(payment())
        await gate.approve(t.id, reviewer="bob")
        with pytest.raises(NotAuthorized, match="already approved"):
            await gate.approve(t.id, reviewer="bob")
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_nobody_decides_their_own_ticket(self, gate: Gate) -> None:
        """A reviewer whose name is the requesting agent's may neither approve nor reject it."""
        t = await gate.submit(refund(agent="bob"))
        with pytest.raises(NotAuthorized, match="requested"):
            await gate.approve(t.id, reviewer="bob")
        with pytest.raises(NotAuthorized, match="requested"):
            await gate.reject(t.id, reviewer="bob")
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_a_junior_cannot_decide_a_senior_ticket(self, gate: Gate) -> None:
        """A senior-tier ticket refuses a junior's approval and rejection."""
        t = await gate.submit(refund(5000.0))
        with pytest.raises(NotAuthorized, match="senior"):
            await gate.approve(t.id, reviewer="alice")
        with pytest.raises(NotAuthorized, match="senior"):
            await gate.reject(t.id, reviewer="alice")

    @pytest.mark.local_only("the pending count by tier is the server's /metrics read, not on RemoteGate")
    async def test_pending_tickets_are_counted_by_tier_exactly(self, gate: Gate) -> None:
        """One grouped read: pending tickets per tier, decided ones left out (the /metrics gauge)."""
        small = [await gate.submit(refund(float(i + 1))) for i in range(3)]
        await gate.submit(refund(5000.0))
        await gate.approve(small[0].id, reviewer="alice")
        assert {"junior": 2, "senior": 1} == await gate.pending_by_tier()

    async def test_a_higher_tier_may_decide(self, gate: Gate) -> None:
        """A lead may decide a senior ticket."""
        t = await gate.submit(refund(5000.0))
        await gate.approve(t.id, reviewer="dave")
        assert "approved" == (await gate.get_ticket(t.id)).status

    async def test_reviewers_live_in_the_store(self, gate: Gate, open_gate: GateFactory) -> None:
        """A reviewer added through one gate may decide through another on the same store."""
        gate.add_reviewer("erin", tier="senior")
        other = open_gate(reviewers=False)
        t = await other.submit(refund(5000.0))
        await other.approve(t.id, reviewer="erin")
        assert ("erin",) == (await gate.get_ticket(t.id)).decided_by

    async def test_unknown_tier_is_refused(self, gate: Gate) -> None:
        """add_reviewer names the policy's tiers when given another."""
        with pytest.raises(UserError, match="junior"):
            gate.add_reviewer("zed", tier="boss")

    async def test_one_rejection_ends_a_four_eyes_ticket(self, gate: Gate) -> None:
        """A single rejection is final even when two approvals were needed."""
        t = await gate.submit(payment())
        await gate.approve(t.id, reviewer="bob")
        await gate.reject(t.id, reviewer="carol", feedback="wrong account")
        d = await gate.wait(t.id, timeout=10)
        assert ("rejected", ("carol",)) == (d.status, d.reviewers)


async def _first_pending(gate: Gate, *, count: int = 1) -> str:
    """The id of the first pending ticket, once ``count`` exist (the gated call submits in a task)."""
    for _ in range(1000):
        pending = await gate.list_tickets(status="pending")
        if len(pending) >= count:
            return pending[0].id
        await asyncio.sleep(0.01)
    raise AssertionError("no pending ticket appeared")
