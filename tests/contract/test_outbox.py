"""The notification outbox, on every store: each ticket event's audit entry (written in the event's
transaction) expanded into one row per channel, once however often it is expanded; rows claimed under
a lease by one deliverer at a time, a coalesced group claimed whole, results recorded."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from signoff import Action, Gate, QuotaExceeded
from signoff._model import utcnow
from signoff._records import AuditDraft, OutboxResult
from signoff.notify._routing import Router
from signoff.store._base import Query, Transaction, Writes
from tests.contract.conftest import POLICY, GateFactory, read_audit

pytestmark = pytest.mark.local_only("the outbox is read and delivered through a local gate's server doors")


def policy(**notifications: Any) -> dict[str, Any]:
    p = copy.deepcopy(POLICY)
    p["defaults"]["max_pending_per_agent"] = 3
    p["notifications"] = {"channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/h", "secret": "env:X"},
                                       "dev": {"kind": "console"}},
                          "routes": [{"to": ["dev"]}, {"match": {"tier": "senior"}, "to": ["hook"]}],
                          **notifications}
    return p


def refund(amount: int, agent: str = "billing") -> Action:
    return Action(name="issue_refund", agent=agent, args={"amount": amount}, reasoning="the customer asked")


async def started(gate: Gate) -> Gate:
    """The deliverer's start: from here on, ticket events become notifications."""
    await gate.init_outbox()
    return gate


async def expand(gate: Gate) -> None:
    assert gate.policy.spec.notifications is not None
    await gate.expand_outbox(Router(gate.policy.spec.notifications))


async def events(gate: Gate, ticket_id: str) -> list[tuple[str, str]]:
    await expand(gate)
    return sorted((n.event, n.channel) for n in await gate.list_notifications(ticket_id=ticket_id))


class TestExpandedFromTheAuditLog:
    async def test_created_and_expiring_routed_by_match(self, open_gate: GateFactory) -> None:
        """A junior ticket reaches dev; a senior one dev and hook; each with its expiring warning."""
        gate = await started(open_gate(policy()))
        small, big = await gate.submit(refund(10)), await gate.submit(refund(5000))
        assert [("ticket.created", "dev"), ("ticket.expiring", "dev")] == await events(gate, small.id)
        assert [("ticket.created", "dev"), ("ticket.created", "hook"), ("ticket.expiring", "dev"),
                ("ticket.expiring", "hook")] == await events(gate, big.id)
        [warning] = [n for n in await gate.list_notifications(ticket_id=small.id) if n.event == "ticket.expiring"]
        assert small.deadline is not None
        # 80% of the way to the deadline (30 min): due about 24 minutes after creation.
        assert abs((warning.due_at - small.created_at) - timedelta(minutes=24)) < timedelta(seconds=5)

    async def test_decided_is_written_with_the_decision(self, open_gate: GateFactory) -> None:
        gate = await started(open_gate(policy(events=["decided"])))
        t = await gate.submit(refund(10))
        assert [] == await events(gate, t.id)
        await gate.approve(t.id, reviewer="alice")
        assert [("ticket.decided", "dev")] == await events(gate, t.id)

    async def test_nothing_when_the_write_rolls_back(self, open_gate: GateFactory) -> None:
        """Over the agent's quota: no ticket, so no notification either (same transaction)."""
        gate = await started(open_gate(policy()))
        for _ in range(3):
            await gate.submit(refund(10))
        with pytest.raises(QuotaExceeded):
            await gate.submit(refund(11))
        await expand(gate)
        assert 3 * 2 == len(await gate.list_notifications(limit=100))

    async def test_expanding_twice_writes_each_row_once(self, open_gate: GateFactory) -> None:
        """Two servers may expand the same entries: the ids derive from the entry, so no duplicates."""
        gate = await started(open_gate(policy()))
        t = await gate.submit(refund(10))
        before = await events(gate, t.id)
        # Another server that read the same entries before this one moved the cursor on:
        rewind = Query("put_setting", {"key": "outbox_cursor", "value": "0"})
        tx = Transaction(decide=lambda _: Writes(result=None, writes=[rewind]))
        await gate._engine.run(gate.store._apply(tx))  # type: ignore[attr-defined]
        assert await gate.expand_outbox(Router(gate.policy.spec.notifications)) > 0  # type: ignore[arg-type]
        assert before == await events(gate, t.id)

    async def test_history_before_notifications_were_configured_is_not_announced(self,
                                                                                 open_gate: GateFactory) -> None:
        """A store used without a notifications section; then a gate with one opens it: only what
        happens from then on is announced, and a later gate or server opening it keeps the cursor."""
        old = await open_gate().submit(refund(10))
        gate = open_gate(policy())
        new = await gate.submit(refund(20))
        await gate.init_outbox()  # a server starting later: the cursor stays
        assert ([], [("ticket.created", "dev"), ("ticket.expiring", "dev")]) == (
            await events(gate, old.id), await events(gate, new.id))

    async def test_no_section_no_rows(self, open_gate: GateFactory) -> None:
        gate = open_gate()
        await gate.submit(refund(10))
        assert [] == await gate.list_notifications()


class TestClaims:
    async def test_one_deliverer_at_a_time_until_the_lease_runs_out(self, open_gate: GateFactory) -> None:
        gate = await started(open_gate(policy(events=["created"])))
        t = await gate.submit(refund(10))
        await expand(gate)
        now = utcnow()
        first = await gate.claim_notifications(lease=timedelta(minutes=1), now=now)
        assert [("ticket.created", "dev", t.id)] == [(c.event, c.channel, c.ticket_id) for c in first]
        assert [] == await gate.claim_notifications(lease=timedelta(minutes=1), now=now)
        # The deliverer died: after its lease another takes the row (at least once).
        again = await gate.claim_notifications(lease=timedelta(minutes=1), now=now + timedelta(minutes=2))
        assert [c.id for c in first] == [c.id for c in again]

    async def test_results_recorded_and_failures_audited(self, open_gate: GateFactory, store_url: str) -> None:
        gate = await started(open_gate(policy(events=["created"])))
        t = await gate.submit(refund(5000))
        await expand(gate)
        claims = await gate.claim_notifications(lease=timedelta(minutes=1))
        now = utcnow()
        by_channel = {c.channel: c for c in claims}
        await gate.finish_notifications([
            OutboxResult(id=by_channel["dev"].id, status="delivered", attempts=1, due_at=now, delivered_at=now,
                         message_id=by_channel["dev"].id, ref="ref-1", detail="printed"),
            OutboxResult(id=by_channel["hook"].id, status="pending", attempts=1, due_at=now + timedelta(seconds=30),
                         detail="HTTP 503")],
            [AuditDraft(kind="notification_failed", actor="signoff", ticket_id=t.id, data={"channel": "hook"})])
        rows = {n.channel: n for n in await gate.list_notifications(ticket_id=t.id)}
        assert ("delivered", 1, "ref-1", "printed") == (rows["dev"].status, rows["dev"].attempts, rows["dev"].ref,
                                                        rows["dev"].detail)
        assert ("pending", "HTTP 503") == (rows["hook"].status, rows["hook"].detail)
        assert "ref-1" == await gate.message_ref(t.id, "dev")
        assert None is await gate.message_ref(t.id, "hook")
        # The retry is not due yet, and the next thing to do is then.
        assert [] == await gate.claim_notifications(lease=timedelta(minutes=1), now=now + timedelta(seconds=10))
        nxt = await gate.next_notification()
        assert nxt is not None and abs(nxt - (now + timedelta(seconds=30))) < timedelta(seconds=1)
        assert ["notification_failed"] == [e.kind for e in read_audit(store_url, t.id) if e.kind.startswith("notif")]

    async def test_a_coalesced_group_is_claimed_whole(self, open_gate: GateFactory) -> None:
        """Similar tickets within ``coalesce`` are held; when the first is due, the group goes together."""
        gate = await started(open_gate(policy(events=["created"], coalesce="30s")))
        tickets = [await gate.submit(refund(10 + i)) for i in range(3)]
        other = await gate.submit(Action(name="send_payment", agent="payer", args={"to": "x"}))
        await expand(gate)
        now = utcnow()
        assert [] == await gate.claim_notifications(lease=timedelta(minutes=1), now=now)
        claims = await gate.claim_notifications(lease=timedelta(minutes=1), now=now + timedelta(seconds=31))
        groups: dict[str | None, list[str]] = {}
        for c in claims:
            groups.setdefault(c.coalesce_key, []).append(c.ticket_id)
        # The three similar refunds (junior: dev only) are one group; the payment (senior) one per channel.
        expected = [sorted(t.id for t in tickets), [other.id], [other.id]]
        assert sorted(expected) == sorted(sorted(g) for g in groups.values())
