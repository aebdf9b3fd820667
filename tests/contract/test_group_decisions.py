"""Gate.decide_group decides the group's tickets the reviewer was shown, named by id, and no other."""

from __future__ import annotations

import pytest

from signoff import Action, Gate, UserError


def refund(i: int, amount: float = 50.0) -> Action:
    return Action(name="issue_refund", args={"order": f"A-{i}", "amount": amount}, agent="bot",
                  reasoning=f"order {i} late")


class TestDecideGroup:
    async def test_a_ticket_that_joined_later_is_not_decided(self, gate: Gate) -> None:
        """Three shown, a fourth joins the group afterwards: approving the three leaves the fourth pending."""
        shown = [await gate.submit(refund(i)) for i in range(3)]
        late = await gate.submit(refund(9))
        result = await gate.decide_group(shown[0].group_key, ticket_ids=[t.id for t in shown], reviewer="alice",
                                         approve=True)
        assert (shown[0].group_key, len(shown), "pending") == (
            late.group_key, len(result.decided), (await gate.get_ticket(late.id)).status)

    async def test_an_outlier_is_in_another_group_and_refused(self, gate: Gate) -> None:
        """A refund ten times larger has its own group key; naming it in the small group's decision fails."""
        small = [await gate.submit(refund(i)) for i in range(2)]
        big = await gate.submit(refund(7, amount=50_000.0))
        result = await gate.decide_group(small[0].group_key, ticket_ids=[*(t.id for t in small), big.id],
                                         reviewer="alice", approve=True)
        assert ([t.id for t in small], [big.id], "pending") == (
            [t.id for t in result.decided], list(result.failed), (await gate.get_ticket(big.id)).status)

    async def test_unknown_ids_fail_alone(self, gate: Gate) -> None:
        """An id that names no ticket is listed in failed; the others are still decided."""
        t = await gate.submit(refund(1))
        result = await gate.decide_group(t.group_key, ticket_ids=["tk_nope", t.id], reviewer="alice", approve=False)
        assert ([t.id], ["tk_nope"]) == ([x.id for x in result.decided], list(result.failed))

    @pytest.mark.parametrize("ids", [[], "tk_abc", [""]])
    async def test_no_list_of_ids_is_refused(self, gate: Gate, ids: object) -> None:
        """An empty list, a bare string or an empty id is a UserError naming ticket_ids; nothing is decided."""
        t = await gate.submit(refund(1))
        with pytest.raises(UserError, match="ticket_ids"):
            await gate.decide_group(t.group_key, ticket_ids=ids, reviewer="alice", approve=True)  # type: ignore[arg-type]
        assert "pending" == (await gate.get_ticket(t.id)).status
