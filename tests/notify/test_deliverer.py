"""The deliverer: outbox rows become messages, at least once, retried with backoff, failures audited.

A real Gate on the in-memory store writes the outbox (the contract suite runs the outbox on
every store); the channels here are small real ``Channel`` implementations that record what
they are asked to send or fail on purpose. The channels themselves are tested against real
receivers in their own files.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from signoff import Action, Gate
from signoff._model import utcnow
from signoff._via import decided_via
from signoff.notify import DeliveryFailed, Message, Sent
from signoff.notify._deliverer import Deliverer, backoff
from signoff.notify._links import GateLinks
from signoff.notify._routing import Router

POLICY: dict[str, Any] = {
    "version": 1,
    "tiers": ["junior", "senior"],
    "defaults": {"timeout": "1h"},
    "rules": [{"name": "refunds", "match": {"action": "refund"}, "level": "approve",
               "reviewers": {"tier": "junior"}}],
    "notifications": {"channels": {"a": {"kind": "console"}, "b": {"kind": "console"}},
                      "routes": [{"to": ["a", "b"]}], "events": ["created", "decided"]},
}


class Recorder:
    """A channel that records messages; ``fail`` queues errors to raise first."""

    kind = "test"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Message] = []
        self.fail: list[BaseException] = []
        self.hang = False

    async def send(self, message: Message) -> Sent:
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append(message)
        return Sent(ref=f"{self.name}:{len(self.sent)}", detail=f"recorded by {self.name}")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate.open(POLICY, store="memory://", sweep=False)
    g.add_reviewer("alice", tier="junior")
    yield g
    g.close()


async def deliverer(gate: Gate, **kw: Any) -> tuple[Deliverer, Recorder, Recorder]:
    """A deliverer that has started (ticket events from now on become notifications)."""
    a, b = Recorder("a"), Recorder("b")
    links = GateLinks(public_url="http://signoff.test", secret=b"k" * 32, gate=gate)
    assert gate.policy.spec.notifications is not None
    await gate.init_outbox()
    return Deliverer(gate, Router(gate.policy.spec.notifications), {"a": a, "b": b}, links, **kw), a, b


async def round_(d: Deliverer) -> None:
    await d.deliver_due()
    await d.drain()


def refund(n: int = 1) -> Action:
    return Action(name="refund", agent="billing", args={"amount": n}, reasoning="asked")


async def statuses(gate: Gate, ticket_id: str) -> list[tuple[str, str, str]]:
    return sorted((n.event, n.channel, n.status) for n in await gate.list_notifications(ticket_id=ticket_id))


class TestDelivery:
    async def test_each_channel_gets_the_message_once(self, gate: Gate) -> None:
        d, a, b = await deliverer(gate)
        t = await gate.submit(refund())
        await round_(d)
        await round_(d)
        assert [("ticket.created", (t.id,))] * 1 == [(m.type, tuple(x.id for x in m.tickets)) for m in a.sent]
        assert 1 == len(b.sent) and a.sent[0].id != b.sent[0].id  # one event id per notification
        assert [("ticket.created", "a", "delivered"),
                ("ticket.created", "b", "delivered")] == await statuses(gate, t.id)
        rows = await gate.list_notifications(ticket_id=t.id, channel="a")
        assert ("recorded by a", "a:1") == (rows[0].detail, rows[0].ref)

    async def test_decided_updates_the_earlier_message(self, gate: Gate) -> None:
        """The decided message carries the ref of the created one (Slack edits it in place)."""
        d, a, _ = await deliverer(gate)
        t = await gate.submit(refund())
        await round_(d)
        with decided_via("slack"):  # what the Slack door says before it decides
            await gate.approve(t.id, reviewer="alice")
        await round_(d)
        assert [None, "a:1"] == [m.previous for m in a.sent]
        assert "approved" == a.sent[1].tickets[0].status
        assert {"decided_via": "slack"} == a.sent[1].extra  # how it was decided reaches every channel

    async def test_a_ticket_decided_before_sending_is_skipped(self, gate: Gate) -> None:
        d, a, _ = await deliverer(gate)
        t = await gate.submit(refund())
        await gate.approve(t.id, reviewer="alice")
        await round_(d)
        assert ["ticket.decided"] == [m.type for m in a.sent]
        created = [n for n in await gate.list_notifications(ticket_id=t.id, channel="a") if n.event == "ticket.created"]
        assert ("skipped", "approved before it was sent") == (created[0].status, created[0].detail)


class TestFailures:
    async def test_retried_with_backoff_then_delivered(self, gate: Gate) -> None:
        d, a, b = await deliverer(gate)
        a.fail.append(DeliveryFailed("HTTP 503"))
        t = await gate.submit(refund())
        await round_(d)
        [row] = await gate.list_notifications(ticket_id=t.id, channel="a")
        assert ("pending", 1, "HTTP 503") == (row.status, row.attempts, row.detail)
        assert timedelta(seconds=0.9) < row.due_at - utcnow() < timedelta(seconds=2.1)  # try 2 after 1-2 s
        await round_(d)
        assert [] == a.sent  # not due yet
        claims = await gate.claim_notifications(lease=timedelta(seconds=0), now=row.due_at + timedelta(seconds=1))
        assert [row.id] == [c.id for c in claims]
        await asyncio.sleep(0)
        assert 1 == len(b.sent)

    async def test_permanent_failure_is_not_retried_and_is_audited(self, gate: Gate) -> None:
        d, a, _ = await deliverer(gate)
        a.fail.append(DeliveryFailed("HTTP 404: no such hook", permanent=True))
        t = await gate.submit(refund())
        await round_(d)
        [row] = await gate.list_notifications(ticket_id=t.id, channel="a")
        assert ("failed", "HTTP 404: no such hook") == (row.status, row.detail)
        [entry] = [e for e in await gate.audit_entries(ticket_id=t.id) if e.kind == "notification_failed"]
        expected = {"channel": "a", "event": "ticket.created", "error": "HTTP 404: no such hook"}
        assert expected.items() <= entry.data.items()

    async def test_gives_up_after_max_attempts(self, gate: Gate) -> None:
        d, a, _ = await deliverer(gate, max_attempts=2)
        a.fail.extend([ConnectionError("refused"), ConnectionError("refused")])
        t = await gate.submit(refund())
        await round_(d)
        [row] = await gate.list_notifications(ticket_id=t.id, channel="a")
        later = row.due_at + timedelta(seconds=1)
        for c in await gate.claim_notifications(lease=timedelta(minutes=1), now=later):
            results, audit = await d._send([c], claimed=utcnow())
            await gate.finish_notifications(results, audit)
        [row] = await gate.list_notifications(ticket_id=t.id, channel="a")
        assert ("failed", 2) == (row.status, row.attempts)
        assert "gave up after 2 tries" in row.detail

    async def test_a_hanging_channel_times_out_and_never_holds_up_the_other(self, gate: Gate) -> None:
        d, a, b = await deliverer(gate, send_timeout=0.2)
        a.hang = True
        t = await gate.submit(refund())
        await round_(d)
        rows = {n.channel: n for n in await gate.list_notifications(ticket_id=t.id)}
        assert ("pending", "no answer within 0.2 s") == (rows["a"].status, rows["a"].detail)
        assert "delivered" == rows["b"].status and 1 == len(b.sent)


class TestCoalescing:
    async def test_similar_tickets_go_out_as_one_message(self, gate: Gate) -> None:
        policy = {**POLICY, "notifications": {**POLICY["notifications"], "coalesce": "30s"}}
        g = Gate.open(policy, store="memory://", sweep=False)
        try:
            d, a, _ = await deliverer(g)
            tickets = [await g.submit(refund(10 + i)) for i in range(5)]  # one group: same magnitude
            await round_(d)
            assert [] == a.sent  # held for the window
            claims = await g.claim_notifications(lease=timedelta(minutes=1), now=utcnow() + timedelta(seconds=31))
            groups = {c.coalesce_key: [x for x in claims if x.coalesce_key == c.coalesce_key] for c in claims}
            for group in groups.values():
                results, audit = await d._send(group, claimed=utcnow())
                await g.finish_notifications(results, audit)
            [msg] = a.sent
            assert sorted(t.id for t in tickets) == sorted(t.id for t in msg.tickets)
            rows = await g.list_notifications(channel="a")
            assert {msg.id} == {r.message_id for r in rows} and {"delivered"} == {r.status for r in rows}
            # A later decision edits that one message, which still shows all five, one now approved.
            g.add_reviewer("alice", tier="junior")
            await g.approve(tickets[2].id, reviewer="alice")
            await round_(d)
            update = a.sent[-1]
            assert ("ticket.decided", "a:1") == (update.type, update.previous)
            assert [tickets[2].id] + [t.id for t in tickets if t.id != tickets[2].id] == [t.id for t in update.tickets]
            assert ["approved", "pending", "pending", "pending", "pending"] == [t.status for t in update.tickets]
        finally:
            g.close()


def test_backoff_doubles_with_jitter_and_honours_retry_after() -> None:
    for attempt, (lo, hi) in {1: (1, 2), 2: (2, 4), 5: (16, 32), 30: (1800, 3600)}.items():
        assert all(lo <= backoff(attempt) <= hi for _ in range(50))
    assert 120 == backoff(1, retry_after=120)


class TestYieldingToTheGate:
    async def test_a_stream_of_submissions_defers_delivery_but_never_starves_it(self, gate: Gate) -> None:
        """While events keep coming the deliverer waits for a gap, and after ``max_defer`` it claims anyway."""
        d, _, _ = await deliverer(gate)
        d.quiet_gap, d.max_defer = 0.02, 0.2
        stop = asyncio.Event()

        async def stream() -> None:  # what a burst of submissions looks like to the deliverer
            while not stop.is_set():
                d._last_event = time.monotonic()
                await asyncio.sleep(0.005)

        feeder = asyncio.create_task(stream())
        try:
            t0 = time.monotonic()
            await asyncio.wait_for(d._yield_to_the_gate(), timeout=5)
            waited = time.monotonic() - t0
        finally:
            stop.set()
            await feeder
        assert waited >= d.max_defer  # it did wait: the gate went first
        d._last_event = 0.0
        t0 = time.monotonic()
        await d._yield_to_the_gate()
        assert time.monotonic() - t0 < d.max_defer  # a quiet gate: no wait at all
