"""Several servers on one PostgreSQL deliver each notification once between them: two gates (two
servers' worth: separate connection pools) each run a deliverer on the same database at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from signoff import Action, Gate
from signoff.notify import Message, Sent
from signoff.notify._deliverer import Deliverer
from signoff.notify._links import GateLinks
from signoff.notify._routing import Router
from tests.contract.conftest import drop_database, fresh_database

pytestmark = pytest.mark.postgres

POLICY: dict[str, Any] = {
    "version": 1, "tiers": ["ops"],
    "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
    "notifications": {"channels": {"a": {"kind": "console"}, "b": {"kind": "console"}},
                      "routes": [{"to": ["a", "b"]}], "events": ["created", "decided"]},
}


class Counting:
    """Records each message id it is asked to send (shared by both servers' channel of one name)."""

    kind = "test"

    def __init__(self, name: str, seen: Counter[str]) -> None:
        self.name = name
        self.seen = seen

    async def send(self, message: Message) -> Sent:
        await asyncio.sleep(0.001)
        self.seen[message.id] += 1
        return Sent(detail="counted")

    async def aclose(self) -> None:
        pass


async def test_two_servers_deliver_each_notification_once(pg_url: str) -> None:
    url = fresh_database(pg_url)
    seen: Counter[str] = Counter()
    gates = [Gate.open(POLICY, store=url, sweep=False) for _ in range(2)]
    try:
        gates[0].add_reviewer("olga", tier="ops")
        router = Router(gates[0].policy.spec.notifications)  # type: ignore[arg-type]
        deliverers = [Deliverer(g, router, {n: Counting(n, seen) for n in ("a", "b")},
                                GateLinks(public_url="http://x", secret=b"k" * 32, gate=g)) for g in gates]
        for d in deliverers:
            d.batch_delay = 0.01
        runs = [asyncio.create_task(d.run()) for d in deliverers]
        tickets = [await gates[i % 2].submit(Action(name="deploy", agent="ci", args={"n": i})) for i in range(40)]
        for _ in range(600):  # every created row sent before any ticket is decided (else it is skipped, rightly)
            rows = await gates[0].list_notifications(limit=1000)
            if len(rows) == 80 and all(r.status == "delivered" for r in rows):
                break
            await asyncio.sleep(0.05)
        for t in tickets[:20]:
            await gates[1].approve(t.id, reviewer="olga")
        expected = 40 * 2 + 20 * 2  # created and decided, two channels
        for _ in range(600):
            rows = await gates[0].list_notifications(limit=1000)
            if len(rows) == expected and all(r.status == "delivered" for r in rows):
                break
            await asyncio.sleep(0.05)
        for r in runs:
            r.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        rows = await gates[0].list_notifications(limit=1000)
    finally:
        for g in gates:
            g.close()
        drop_database(pg_url, url)
    assert expected == len(rows) and {"delivered"} == {r.status for r in rows}
    assert {r.id for r in rows} == set(seen) and {1} == set(seen.values())  # each sent exactly once
