"""The flood guard on every store: an agent whose tickets surge is held back from group approval."""

from __future__ import annotations

import copy
from datetime import timedelta

from signoff import Action, Gate
from signoff._model import utcnow
from signoff.store import open_store
from tests.contract.conftest import POLICY, GateFactory, run_in_new_loop

GUARDED = copy.deepcopy(POLICY)
GUARDED["defaults"]["flood_guard"] = {"window": "1h", "history": "1d", "factor": 5, "min_tickets": 4}


async def refund(gate: Gate, agent: str, amount: float = 10.0) -> str:
    return (await gate.submit(Action(name="issue_refund", args={"amount": amount}, agent=agent))).id


async def test_the_store_counts_each_agents_recent_and_earlier_tickets(gate: Gate, store_url: str) -> None:
    """agent_activity splits approval tickets at ``recent``, from ``since`` on (notifications not counted)."""
    for _ in range(3):
        await refund(gate, "bot")
    await refund(gate, "other")
    await gate.submit(Action(name="send_digest", args={}, agent="bot"))  # a notify ticket
    now = utcnow()

    async def counts(since_ago: float, recent_ago: float) -> dict[str, tuple[int, int]]:
        store = open_store(store_url)
        await store.open()
        try:
            return await store.agent_activity(now - timedelta(seconds=since_ago), now - timedelta(seconds=recent_ago))
        finally:
            await store.close()

    assert run_in_new_loop(counts(3600, 1800)) == {"bot": (3, 0), "other": (1, 0)}
    assert run_in_new_loop(counts(3600, -60)) == {"bot": (0, 3), "other": (0, 1)}
    assert run_in_new_loop(counts(-60, -120)) == {}


async def test_a_surging_agent_is_held_back_from_group_approval(open_gate: GateFactory) -> None:
    """Four tickets in the window from an agent with no history: approving them with others leaves
    them out (named, with the reason) and approves the rest; one by one, or rejecting in bulk, works."""
    gate = open_gate(GUARDED)
    loop = [await refund(gate, "loop") for _ in range(4)]
    calm = [await refund(gate, "calm") for _ in range(2)]
    assert set(await gate.surges()) == {"loop"}

    result = await gate.decide_many([*loop[:2], *calm], reviewer="alice", approve=True)
    assert sorted(t.id for t in result.decided) == sorted(calm)
    assert set(result.failed) == set(loop[:2])
    assert all("held back from group approval" in why and "'loop'" in why for why in result.failed.values())
    assert [(await gate.get_ticket(t)).status for t in loop] == ["pending"] * 4

    assert (await gate.approve(loop[0], reviewer="alice")).status == "approved"
    rejected = await gate.decide_many(loop[1:3], reviewer="alice", approve=False, feedback="a runaway loop")
    assert (len(rejected.decided), rejected.failed) == (2, {})


async def test_below_the_floor_nothing_is_held(open_gate: GateFactory) -> None:
    """Three tickets are not a flood (min_tickets 4): group approval takes them all."""
    gate = open_gate(GUARDED)
    ids = [await refund(gate, "bot") for _ in range(3)]
    result = await gate.decide_many(ids, reviewer="alice", approve=True)
    assert (len(result.decided), result.failed) == (3, {})


async def test_every_door_sees_the_flag_and_holds_back(gate: Gate) -> None:
    """With the default guard (20 in 10 minutes, no history): Gate.surges names the agent (over the API
    too, where RemoteGate reads GET /api/v1/surges), and a bulk approval leaves its tickets pending."""
    loop = [await refund(gate, "loop", 10.0 + i) for i in range(20)]
    found = await gate.surges()
    assert list(found) == ["loop"] and found["loop"].recent == 20
    assert "20 tickets in the last 10m, none in the 1d before" == found["loop"].describe()
    result = await gate.decide_many(loop[:3], reviewer="alice", approve=True)
    assert (result.decided, sorted(result.failed)) == ([], sorted(loop[:3]))
    assert "held back from group approval" in next(iter(result.failed.values()))
