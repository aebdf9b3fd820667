"""Timeouts of each kind (escalate, retry, abort), enforced by the sweeper and by the waiter alone."""

from __future__ import annotations

import asyncio

import pytest

from signoff import Action, Expired, Gate, StillPending
from tests.contract.conftest import GateFactory, audit_kinds, read_audit

# Hang guards only: a test that would otherwise wait forever fails after this many seconds.
HANG = 15


def slow(kind: str) -> Action:
    return Action(name=f"slow_{kind}", args={"n": 1}, agent="ops-bot", reasoning="routine")


@pytest.fixture(params=["sweeper", "waiter"])
def timeout_gate(request: pytest.FixtureRequest, open_gate: GateFactory) -> Gate:
    """A gate whose timeouts are applied by its sweeper, or (sweep=False) only by the waiting agent."""
    return open_gate(sweep=request.param == "sweeper")


class TestEscalate:
    async def test_escalates_through_every_tier_then_expires(self, timeout_gate: Gate, store_url: str) -> None:
        """A junior ticket moves to senior, then lead, each with a new deadline, and expires at the top."""
        d = await asyncio.wait_for(timeout_gate.guard(slow("escalate")), HANG)
        t = await timeout_gate.get_ticket(d.ticket_id or "")
        tiers = [e.data["tier"] for e in read_audit(store_url, t.id) if e.kind == "escalated"]
        assert ("expired", ["senior", "lead"], 2) == (d.status, tiers, t.escalations)
        assert "no higher tier" in d.explanation

    async def test_an_escalated_ticket_needs_the_new_tier(self, gate: Gate) -> None:
        """After one escalation a junior may no longer decide, a senior may."""
        t = await gate.submit(slow("escalate"))
        for _ in range(HANG * 100):
            current = await gate.get_ticket(t.id)
            if current.escalations >= 1:
                break
            await asyncio.sleep(0.01)
        assert "senior" == current.tier
        await gate.approve(t.id, reviewer="dave")
        assert "approved" == (await gate.wait(t.id, timeout=HANG)).status

    async def test_escalation_gets_a_new_deadline(self, gate: Gate, store_url: str) -> None:
        """Each escalation's audit entry carries a later deadline than the ticket had."""
        d = await asyncio.wait_for(gate.guard(slow("escalate")), HANG)
        t = await gate.get_ticket(d.ticket_id or "")
        deadlines = [e.data["deadline"] for e in read_audit(store_url, t.id) if e.kind == "escalated"]
        assert sorted(deadlines) == deadlines and len(set(deadlines)) == 2


class TestRetry:
    async def test_renotifies_n_times_then_expires(self, timeout_gate: Gate, store_url: str) -> None:
        """A retry rule re-notifies its reviewers ``retries`` times, then the ticket expires."""
        d = await asyncio.wait_for(timeout_gate.guard(slow("retry")), HANG)
        kinds = audit_kinds(store_url, d.ticket_id)
        assert ("expired", ["submitted", "retried", "retried", "expired"]) == (d.status, kinds)
        assert "after every retry" in d.explanation

    async def test_a_decision_between_retries_wins(self, gate: Gate) -> None:
        """A reviewer deciding after a retry decides the ticket as usual."""
        t = await gate.submit(slow("retry"))
        for _ in range(HANG * 100):
            if (await gate.get_ticket(t.id)).retries_left < 2:
                break
            await asyncio.sleep(0.01)
        await gate.approve(t.id, reviewer="alice")
        assert "approved" == (await gate.wait(t.id, timeout=HANG)).status


class TestAbort:
    async def test_abort_ends_with_an_explanation(self, timeout_gate: Gate) -> None:
        """An abort rule ends the ticket aborted, telling the agent not to act and why."""
        d = await asyncio.wait_for(timeout_gate.guard(slow("abort")), HANG)
        assert ("aborted", False) == (d.status, d.approved)
        assert "Do not perform it" in d.explanation

    async def test_gated_raises_expired_on_abort(self, timeout_gate: Gate) -> None:
        """A gated tool whose ticket aborts raises Expired and never runs."""
        ran: list[int] = []

        @timeout_gate.gated("slow_abort", agent="ops-bot")
        def work(n: int) -> None:
            ran.append(n)

        with pytest.raises(Expired):
            await asyncio.wait_for(asyncio.to_thread(work, 1), HANG)
        assert [] == ran

    async def test_decision_after_abort_is_a_conflict(self, gate: Gate) -> None:
        """A reviewer arriving after the abort gets Conflict: the outcome stands."""
        from signoff import Conflict

        d = await asyncio.wait_for(gate.guard(slow("abort")), HANG)
        with pytest.raises(Conflict):
            await gate.approve(d.ticket_id or "", reviewer="alice")


class TestWaiting:
    async def test_sweeper_expires_tickets_nobody_waits_for(self, gate: Gate) -> None:
        """A submitted ticket with no waiter is still aborted by the open gate's sweeper."""
        t = await gate.submit(slow("abort"))
        for _ in range(HANG * 100):
            if (await gate.get_ticket(t.id)).status != "pending":
                break
            await asyncio.sleep(0.02)
        assert "aborted" == (await gate.get_ticket(t.id)).status

    async def test_wait_timeout_raises_still_pending(self, gate: Gate) -> None:
        """wait(timeout=...) raises StillPending, a TimeoutError, and the ticket stays pending."""
        t = await gate.submit(Action(name="issue_refund", args={"amount": 1.0}, agent="a", reasoning="r"))
        with pytest.raises(TimeoutError):
            await gate.wait(t.id, timeout=0.05)
        with pytest.raises(StillPending):
            await gate.wait(t.id, timeout=0.05)
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_sync_guard_returns_on_timeout(self, timeout_gate: Gate) -> None:
        """guard_sync from a thread returns the aborted decision too."""
        d = await asyncio.wait_for(asyncio.to_thread(timeout_gate.guard_sync, slow("abort")), HANG)
        assert "aborted" == d.status
