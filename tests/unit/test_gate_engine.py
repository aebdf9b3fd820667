"""How the gate behaves across loops and threads: sync twins, misuse, closing, pickling errors."""

from __future__ import annotations

import asyncio
import pickle
import threading
from pathlib import Path

import pytest

import signoff
from signoff import Action

POLICY = {
    "version": 1,
    "rules": [
        {"name": "pay", "match": {"action": "pay"}, "level": "approve", "timeout": "1h"},
        {"name": "never", "match": {"action": "rm_rf"}, "level": "deny"},
    ],
}


@pytest.fixture
def gate(tmp_path: Path):  # type: ignore[no-untyped-def]
    g = signoff.Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/g.db")
    g.add_reviewer("alice")
    yield g
    g.close()


class TestSyncTwins:
    def test_sync_call_inside_a_running_loop_fails_fast(self, gate: signoff.Gate) -> None:
        """A blocking *_sync call inside an event loop raises UserError instead of stalling it."""

        async def inside() -> None:
            gate.list_tickets_sync()

        with pytest.raises(signoff.UserError, match=r"use `await gate\.list_tickets"):
            asyncio.run(inside())

    def test_waiter_on_one_thread_is_woken_by_a_decision_on_another(self, gate: signoff.Gate) -> None:
        """A sync waiter and an approval from a different thread meet through the store's events."""
        ticket = gate.submit_sync(Action(name="pay", args={"n": 1}, agent="bot"))
        results: list[signoff.Decision] = []
        waiter = threading.Thread(target=lambda: results.append(gate.wait_sync(ticket.id, timeout=10)))
        waiter.start()
        gate.approve_sync(ticket.id, reviewer="alice")
        waiter.join(10)
        assert ["approved"] == [d.status for d in results]

    def test_waits_from_two_event_loops(self, gate: signoff.Gate) -> None:
        """Two asyncio loops in two threads can wait on the same gate at once."""
        tickets = [gate.submit_sync(Action(name="pay", args={"n": i}, agent="bot")) for i in range(2)]
        statuses: dict[str, str] = {}

        def run(tid: str) -> None:
            statuses[tid] = asyncio.run(gate.wait(tid, timeout=10)).status

        threads = [threading.Thread(target=run, args=(t.id,)) for t in tickets]
        for th in threads:
            th.start()
        gate.approve_sync(tickets[0].id, reviewer="alice")
        gate.reject_sync(tickets[1].id, reviewer="alice", feedback="no")
        for th in threads:
            th.join(10)
        assert {tickets[0].id: "approved", tickets[1].id: "rejected"} == statuses

    def test_wait_timeout_raises_still_pending(self, gate: signoff.Gate) -> None:
        """wait(timeout=...) gives up with StillPending (also a TimeoutError) naming the ticket."""
        ticket = gate.submit_sync(Action(name="pay", args={}, agent="bot"))
        with pytest.raises(TimeoutError) as info:
            gate.wait_sync(ticket.id, timeout=0.05)
        assert isinstance(info.value, signoff.StillPending)
        assert ticket.id == info.value.ticket_id  # type: ignore[attr-defined]


class TestClosing:
    def test_closed_gate_refuses_calls(self, tmp_path: Path) -> None:
        """After close(), calls fail with a clear UserError; close() twice is harmless."""
        g = signoff.Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/c.db")
        g.close()
        g.close()
        with pytest.raises(signoff.UserError, match="closed"):
            g.list_tickets_sync()

    def test_async_context_manager_closes(self, tmp_path: Path) -> None:
        """``async with Gate.open(...)`` closes the gate on exit."""

        async def use() -> signoff.Gate:
            async with signoff.Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/a.db") as g:
                assert [] == await g.list_tickets()
            return g

        g = asyncio.run(use())
        with pytest.raises(signoff.UserError):
            g.list_tickets_sync()


class TestErrors:
    def test_errors_pickle_with_their_attributes(self) -> None:
        """Errors survive pickling (process pools, queues) with their context attributes."""
        err = signoff.Conflict("ticket t1 is already approved", ticket_id="t1", status="approved")
        back = pickle.loads(pickle.dumps(err))
        assert (type(err), str(err), "t1") == (type(back), str(back), back.ticket_id)

    def test_denied_decision_via_guard_and_raise_from_gated(self, gate: signoff.Gate) -> None:
        """guard returns a denied Decision; a gated tool raises Denied and never runs."""
        decision = gate.guard_sync(Action(name="rm_rf", args={"path": "/"}, agent="bot"))
        assert ("denied", False) == (decision.status, decision.approved)
        ran: list[bool] = []

        @gate.gated("rm_rf", agent="bot")
        def rm_rf(path: str) -> None:
            ran.append(True)

        with pytest.raises(signoff.Denied):
            rm_rf("/")
        assert [] == ran
