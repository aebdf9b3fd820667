"""The Gate's doors for a server: what ``signoff serve`` uses instead of reaching into the store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from signoff import Action, AlreadyExecuted, Conflict, Denied, Gate, UserError
from signoff._model import utcnow

POLICY = {
    "version": 1,
    "defaults": {"level": "auto", "timeout": "1h"},
    "tiers": ["junior", "senior"],
    "rules": [
        {"name": "deploys", "match": {"action": "deploy"}, "level": "approve"},
        {"name": "never", "match": {"action": "drop_everything"}, "level": "deny"},
    ],
}


def deploy(n: int, agent: str = "bot") -> Action:
    return Action(name="deploy", args={"n": n}, agent=agent, reasoning="r")


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    async with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/doors.db", sweep=False) as g:
        g.add_reviewer("alice", tier="senior")
        yield g


@pytest.fixture
def sync_gate(tmp_path: Path) -> Iterator[Gate]:
    with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/doors.db", sweep=False) as g:
        g.add_reviewer("alice", tier="senior")
        yield g


class TestSubmitTogether:
    async def test_each_action_gets_its_own_ticket_and_no_batch(self, gate: Gate) -> None:
        """Three actions in one call: three pending tickets, none of them in a batch."""
        tickets = await gate.submit_together([deploy(1), deploy(2), deploy(3)], states=[{"i": 1}, None, None],
                                             idempotency_keys=["k1", None, None])
        found = await gate.find_ticket(idempotency_key="k1", agent="bot")
        assert (3, {None}, {"pending"}, tickets[0].id) == (
            len({t.id for t in tickets}), {t.batch_id for t in tickets}, {t.status for t in tickets},
            found.id if found else None)

    async def test_one_refused_action_writes_nothing(self, gate: Gate) -> None:
        """A denied member fails the whole call, and no ticket of it was written."""
        with pytest.raises(Denied):
            await gate.submit_together([deploy(1), Action(name="drop_everything", agent="bot")])
        assert 0 == await gate.count_tickets()

    def test_the_sync_twin_submits_too(self, sync_gate: Gate) -> None:
        """submit_together_sync gives the same tickets from plain threads."""
        tickets = sync_gate.submit_together_sync([deploy(1), deploy(2)])
        assert 2 == sync_gate.count_tickets_sync(status="pending") == len(tickets)


class TestExecutionClaims:
    async def test_claim_then_finish_records_one_run(self, gate: Gate) -> None:
        """A claim marks the approval executing for the given instance; finish records the outcome."""
        ticket = await gate.submit(deploy(1))
        await gate.approve(ticket.id, reviewer="alice")
        claimed = await gate.claim_execution(ticket.id, action=deploy(1), instance="worker-1")
        finished = await gate.finish_execution(ticket.id, ok=False, error="boom")
        assert ("executing", "worker-1", "failed") == (claimed.execution, claimed.executor, finished.execution)

    async def test_a_second_claim_is_refused(self, gate: Gate) -> None:
        """An approval runs at most once: the same instance claiming again gets AlreadyExecuted."""
        ticket = await gate.submit(deploy(1))
        await gate.approve(ticket.id, reviewer="alice")
        await gate.claim_execution(ticket.id, action=deploy(1))
        with pytest.raises(AlreadyExecuted):
            await gate.claim_execution(ticket.id, action=deploy(1))

    async def test_a_claim_for_another_action_is_refused(self, gate: Gate) -> None:
        """The action to run must be the one approved (Conflict otherwise)."""
        ticket = await gate.submit(deploy(1))
        await gate.approve(ticket.id, reviewer="alice")
        with pytest.raises(Conflict):
            await gate.claim_execution(ticket.id, action=deploy(2))

    def test_the_sync_twins_claim_and_finish(self, sync_gate: Gate) -> None:
        """claim_execution_sync defaults to the gate's own instance; finish_execution_sync records success."""
        ticket = sync_gate.submit_sync(deploy(1))
        sync_gate.approve_sync(ticket.id, reviewer="alice")
        claimed = sync_gate.claim_execution_sync(ticket.id, action=deploy(1))
        finished = sync_gate.finish_execution_sync(ticket.id, ok=True)
        assert (sync_gate.instance, "executed") == (claimed.executor, finished.execution)


class TestLookups:
    async def test_count_agrees_with_list(self, gate: Gate) -> None:
        """count_tickets counts what list_tickets lists, filter for filter."""
        await gate.submit_many([deploy(1, "a"), deploy(2, "a"), deploy(3, "b")])
        listed = await gate.list_tickets(status="pending", agent="a")
        assert (len(listed), 3) == (await gate.count_tickets(status="pending", agent="a"),
                                    await gate.count_tickets(status=("pending", "approved")))

    async def test_reviewers_are_looked_up_by_name(self, gate: Gate) -> None:
        """get_reviewer gives the stored account, or None for a name nobody added."""
        alice, nobody = await gate.get_reviewer("alice"), await gate.get_reviewer("nobody")
        assert ("senior", None) == (alice.tier if alice else None, nobody)

    async def test_a_created_token_is_found_by_its_secret(self, gate: Gate) -> None:
        """create_token returns the secret once; find_token finds its record by it (never by a guess)."""
        secret = await gate.create_token("reviewer", "alice")
        record = await gate.find_token(secret)
        assert (("reviewer", "alice", False), None) == (
            (record.kind, record.name, record.revoked) if record else None, await gate.find_token(secret + "x"))

    async def test_a_reviewer_token_needs_a_reviewer(self, gate: Gate) -> None:
        """No token is issued for a reviewer who does not exist."""
        with pytest.raises(UserError):
            await gate.create_token("reviewer", "mallory")

    def test_the_token_twins(self, sync_gate: Gate) -> None:
        """create_token_sync and find_token_sync work from plain threads."""
        secret = sync_gate.create_token_sync("agent", "bot")
        record = sync_gate.find_token_sync(secret)
        assert ("agent", "bot") == ((record.kind, record.name) if record else None)


class TestAuditAndEvents:
    async def test_the_head_is_the_last_entry(self, gate: Gate) -> None:
        """audit_head names the last of audit_entries; ticket_id narrows the entries to one ticket."""
        ticket = await gate.submit(deploy(1))
        await gate.approve(ticket.id, reviewer="alice")
        entries = await gate.audit_entries()
        mine = await gate.audit_entries(ticket_id=ticket.id)
        head = await gate.audit_head()
        assert ((entries[-1].seq, entries[-1].hash), ["submitted", "approved"]) == (
            head, [e.kind for e in mine])

    async def test_a_subscriber_sees_each_commit(self, gate: Gate) -> None:
        """subscribe() delivers a change as it commits, with the sequence number of its audit entry."""
        async with gate.subscribe() as queue:
            ticket = await gate.submit(deploy(1))
            event = await asyncio.wait_for(queue.get(), 10)
        head = await gate.audit_head()
        assert ("submitted", ticket.id, head[0] if head else None) == (event.kind, event.ticket_id, event.seq)

    async def test_ping_answers(self, gate: Gate) -> None:
        """ping() returns when the store answers."""
        assert None is await gate.ping()


class TestServerPlumbing:
    async def test_offload_runs_the_call_on_the_engine_thread(self, gate: Gate) -> None:
        """offload awaits the call on the gate's own thread, not the caller's."""
        async def where() -> str:
            return threading.current_thread().name

        assert ("signoff-engine", "MainThread") == (await gate.offload(where()), threading.current_thread().name)

    async def test_a_revoked_session_stays_revoked(self, gate: Gate) -> None:
        """revoke_session records a logout that session_revoked reports; other sessions stay live."""
        await gate.revoke_session("a" * 64, expires_at=utcnow() + timedelta(hours=1))
        assert (True, False) == (await gate.session_revoked("a" * 64), await gate.session_revoked("b" * 64))
