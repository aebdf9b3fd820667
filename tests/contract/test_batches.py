"""Batches and groups: submit_many, group keys, deciding a group or batch whole or in part."""

from __future__ import annotations

import asyncio

import pytest

from signoff import Action, Conflict, Gate


def refund(i: int, **extra: object) -> Action:
    return Action(name="issue_refund", args={"order": f"A-{i}", "amount": 10.0 + i, **extra}, agent="bot",
                  reasoning=f"order {i} late")


class TestSubmitMany:
    async def test_one_batch_id_for_all(self, gate: Gate) -> None:
        """submit_many gives every ticket the same batch id, listable by it."""
        tickets = await gate.submit_many([refund(i) for i in range(5)])
        batch = tickets[0].batch_id
        listed = await gate.list_tickets(batch=batch)
        assert (1, [t.id for t in tickets]) == (len({t.batch_id for t in tickets}), [t.id for t in listed])

    async def test_states_and_keys_per_ticket(self, gate: Gate) -> None:
        """Each ticket of a batch keeps its own state and idempotency key."""
        tickets = await gate.submit_many([refund(i) for i in range(3)], states=[{"i": i} for i in range(3)],
                                         idempotency_keys=[f"k{i}" for i in range(3)])
        again = await gate.submit(refund(1), idempotency_key="k1")
        await gate.decide_batch(tickets[0].batch_id or "", reviewer="alice", approve=True)
        states = [(await gate.resume(t.id))[1] for t in tickets]
        assert (tickets[1].id, [{"i": 0}, {"i": 1}, {"i": 2}]) == (again.id, states)

    async def test_mismatched_lengths_are_refused(self, gate: Gate) -> None:
        """states must have one entry per action."""
        from signoff import UserError

        with pytest.raises(UserError):
            await gate.submit_many([refund(1), refund(2)], states=[None])

    async def test_a_bad_action_refuses_the_whole_batch(self, gate: Gate) -> None:
        """One denied action in a batch raises and queues none of them."""
        from signoff import Denied

        with pytest.raises(Denied):
            await gate.submit_many([refund(1), Action(name="drop_database", agent="bot")])
        assert [] == await gate.list_tickets()


class TestGroups:
    async def test_similar_tickets_share_a_group(self, gate: Gate) -> None:
        """Same action, rule and argument shape: one group key; another shape: another key."""
        same = [await gate.submit(refund(i)) for i in range(3)]
        other_shape = await gate.submit(refund(9, note="vip"))
        assert (1, False) == (len({t.group_key for t in same}), other_shape.group_key == same[0].group_key)

    async def test_decide_group_decides_only_that_group(self, gate: Gate) -> None:
        """decide_group approves the group's tickets it is given and nothing else."""
        same = [await gate.submit(refund(i)) for i in range(3)]
        other = await gate.submit(refund(9, note="vip"))
        result = await gate.decide_group(same[0].group_key, ticket_ids=[t.id for t in same], reviewer="alice",
                                         approve=True)
        assert ([t.id for t in same], {}, "pending") == (
            [t.id for t in result.decided], result.failed, (await gate.get_ticket(other.id)).status)

    async def test_group_rejection_carries_feedback(self, gate: Gate) -> None:
        """Rejecting a group gives every waiter the feedback."""
        same = [await gate.submit(refund(i)) for i in range(2)]
        await gate.decide_group(same[0].group_key, ticket_ids=[t.id for t in same], reviewer="alice", approve=False,
                                feedback="batch them weekly")
        ds = [await gate.wait(t.id, timeout=10) for t in same]
        assert [("rejected", "batch them weekly")] * 2 == [(d.status, d.feedback) for d in ds]

    async def test_a_decided_member_is_reported_not_overwritten(self, gate: Gate) -> None:
        """decide_many reports a ticket already decided as failed and leaves it as it was."""
        ts = [await gate.submit(refund(i)) for i in range(3)]
        await gate.reject(ts[1].id, reviewer="bob")
        result = await gate.decide_many([t.id for t in ts], reviewer="alice", approve=True)
        assert ([ts[0].id, ts[2].id], [ts[1].id], "rejected") == (
            [t.id for t in result.decided], list(result.failed), (await gate.get_ticket(ts[1].id)).status)
        with pytest.raises(Conflict):
            await gate.approve(ts[1].id, reviewer="alice")


class TestPartialDecisions:
    async def test_approve_three_reject_two(self, gate: Gate) -> None:
        """In one batch, three approved and two rejected: each waiter gets its own decision."""
        tickets = await gate.submit_many([refund(i) for i in range(5)])
        waiters = [asyncio.create_task(gate.wait(t.id, timeout=10)) for t in tickets]
        await asyncio.sleep(0)
        ok = await gate.decide_many([t.id for t in tickets[:3]], reviewer="alice", approve=True)
        no = await gate.decide_many([t.id for t in tickets[3:]], reviewer="alice", approve=False,
                                    feedback="not these")
        ds = await asyncio.gather(*waiters)
        assert (3, 2) == (len(ok.decided), len(no.decided))
        assert [("approved", ""), ("approved", ""), ("approved", ""), ("rejected", "not these"),
                ("rejected", "not these")] == [(d.status, d.feedback) for d in ds]
        assert [t.id for t in tickets] == [d.ticket_id for d in ds]

    async def test_decide_batch_skips_decided_members(self, gate: Gate) -> None:
        """decide_batch decides what is still pending in the batch."""
        tickets = await gate.submit_many([refund(i) for i in range(4)])
        await gate.approve(tickets[0].id, reviewer="bob")
        result = await gate.decide_batch(tickets[0].batch_id or "", reviewer="alice", approve=False)
        statuses = [(await gate.get_ticket(t.id)).status for t in tickets]
        assert (3, ["approved", "rejected", "rejected", "rejected"]) == (len(result.decided), statuses)
