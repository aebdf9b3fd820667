"""An inbox group is exactly the rows it shows: its count, its ticket ids and its summary come from them."""

from __future__ import annotations

from typing import Any

from signoff import Action, Ticket
from signoff._model import Level
from signoff.server.ui._views import group_rows, make_row
from signoff.store._records import Reviewer

ALICE = Reviewer(name="alice", tier="senior")


def ticket(tid: str, amount: Any, *, group: str = "g1", tier: str | None = None) -> Ticket:
    return Ticket(id=tid, kind="approval", status="pending", level=Level.APPROVE, tier=tier, group_key=group,
                  action=Action(name="issue_refund", args={"order": tid, "amount": amount}, agent="bot"))


def block(tickets: list[Ticket], limit: int | None, reviewer: Reviewer = ALICE) -> Any:
    (b,) = group_rows((make_row(t, reviewer, ["junior", "senior"]) for t in tickets), limit=limit)
    b.total = len(tickets)
    return b


class TestShownRows:
    def test_a_large_group_decides_only_the_rows_it_shows(self) -> None:
        """Seven similar rows, five shown: the group's ids are those five, and two are left over."""
        b = block([ticket(f"tk_{i}", 250 + i) for i in range(7)], limit=5)
        assert (["tk_0", "tk_1", "tk_2", "tk_3", "tk_4"], "tk_0,tk_1,tk_2,tk_3,tk_4", 2) == (
            [r.ticket.id for r in b.shown], b.ticket_ids, b.more)

    def test_without_a_limit_every_row_is_shown(self) -> None:
        """On a group's own page every row of the page is under the header."""
        b = block([ticket(f"tk_{i}", 250) for i in range(7)], limit=None)
        assert (7, 0) == (len(b.shown), b.more)

    def test_the_summary_covers_the_shown_rows_only(self) -> None:
        """The range of an argument is that of the rows on screen, not of rows one click away."""
        b = block([ticket("tk_0", 250), ticket("tk_1", 300), ticket("tk_2", 999)], limit=2)
        amount = next(s for s in b.spread if s.path == '"amount"')
        assert (True, "250 – 300") == (amount.varies, amount.text)

    def test_permission_is_judged_on_the_shown_rows(self) -> None:
        """A junior may decide the group when every shown row allows it, whatever is not shown."""
        jim = Reviewer(name="jim", tier="junior")
        b = block([ticket("tk_0", 250), ticket("tk_1", 250), ticket("tk_2", 250, tier="senior")], limit=2,
                  reviewer=jim)
        assert b.can_all
