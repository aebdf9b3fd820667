"""Group commit: concurrent submissions share one durable transaction, and each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Denied, Gate, QuotaExceeded, Ticket
from signoff.server._group_commit import GroupCommit

POLICY = {
    "version": 1,
    "defaults": {"level": "auto", "timeout": "1h", "max_pending_per_agent": 3},
    "rules": [
        {"name": "deploys", "match": {"action": "deploy"}, "level": "approve"},
        {"name": "never", "match": {"action": "drop_everything"}, "level": "deny"},
    ],
}


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/gc.db", sweep=False) as g:
        yield g


def deploy(agent: str, n: int) -> Action:
    return Action(name="deploy", args={"n": n}, agent=agent, reasoning="r")


class Spy:
    """Wraps the gate's shared-transaction submit to record how many tickets each transaction carried."""

    def __init__(self, gate: Gate) -> None:
        self.sizes: list[int] = []
        inner_many, inner_one = gate.submit_together, gate.submit

        async def together(actions: list[Action], **kw: Any) -> list[Ticket]:
            self.sizes.append(len(actions))
            return await inner_many(actions, **kw)

        async def alone(action: Action, **kw: Any) -> Ticket:
            self.sizes.append(1)
            return await inner_one(action, **kw)

        gate.submit_together = together  # type: ignore[method-assign]
        gate.submit = alone  # type: ignore[method-assign]


class TestGroupCommit:
    async def test_concurrent_submissions_share_one_transaction(self, gate: Gate) -> None:
        """Submissions made in the same loop iteration are committed together, as separate tickets."""
        spy = Spy(gate)
        gc = GroupCommit(gate)
        tickets = await asyncio.gather(*(gc.submit(deploy(f"a{i}", i)) for i in range(5)))
        assert ([5], 5, {None}, {"pending"}) == (spy.sizes, len({t.id for t in tickets}),
                                                 {t.batch_id for t in tickets}, {t.status for t in tickets})

    async def test_a_lone_submission_goes_alone(self, gate: Gate) -> None:
        """A submission with no company is committed in a transaction of its own."""
        spy = Spy(gate)
        ticket = await GroupCommit(gate).submit(deploy("solo", 1))
        assert ([1], "pending") == (spy.sizes, ticket.status)

    async def test_a_denied_member_fails_alone(self, gate: Gate) -> None:
        """A denied action spoils the shared transaction; the others are then committed one by one."""
        gc = GroupCommit(gate)
        results = await asyncio.gather(
            gc.submit(deploy("a", 1)), gc.submit(Action(name="drop_everything", agent="a")),
            gc.submit(deploy("b", 2)), return_exceptions=True)
        assert [Ticket, Denied, Ticket] == [type(r) for r in results]

    async def test_the_quota_holds_inside_a_group(self, gate: Gate) -> None:
        """Four submissions from an agent with a quota of three: three tickets and one QuotaExceeded."""
        gc = GroupCommit(gate)
        results = await asyncio.gather(*(gc.submit(deploy("busy", i)) for i in range(4)), return_exceptions=True)
        pending = await gate.list_tickets(status="pending", agent="busy")
        assert (3, 1, 3) == (sum(isinstance(r, Ticket) for r in results),
                             sum(isinstance(r, QuotaExceeded) for r in results), len(pending))

    async def test_the_same_key_twice_in_a_group_gives_one_ticket(self, gate: Gate) -> None:
        """Idempotency holds within a shared transaction too."""
        gc = GroupCommit(gate)
        a, b = await asyncio.gather(gc.submit(deploy("k", 1), idempotency_key="run/1"),
                                    gc.submit(deploy("k", 1), idempotency_key="run/1"))
        assert a.id == b.id

    async def test_the_state_of_each_member_is_stored_with_its_ticket(self, gate: Gate) -> None:
        """Each ticket in a group keeps its own state."""
        gc = GroupCommit(gate)
        tickets = await asyncio.gather(*(gc.submit(deploy("s", i), state={"i": i}) for i in range(3)))
        states = [await gate._engine.run(gate.store.get_state(t.id)) for t in tickets]
        assert [{"i": 0}, {"i": 1}, {"i": 2}] == [s.value() if s else None for s in states]
