"""Group decisions in headless Chromium: "approve all N" decides exactly the N rows it shows."""

from __future__ import annotations

from typing import Any

import pytest

from signoff import Action, Ticket
from tests.ui.conftest import Served, login

pytestmark = pytest.mark.browser

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips these tests
    expect = None


def refund(server: Served, agent: str, order: str, amount: float) -> Ticket:
    action = Action(name="review.issue_refund", args={"order": order, "amount": amount, "currency": "EUR"},
                    agent=agent, confidence=0.9, reasoning="order arrived late")
    return server.run(server.gate.submit(action))


def statuses(server: Served, tickets: list[Ticket]) -> list[str]:
    return [server.run(server.gate.get_ticket(t.id)).status for t in tickets]


def group_head(page: Any) -> Any:
    return page.locator("tbody.group tr.group-head")


class TestWhatTheGroupShows:
    def test_a_huge_refund_among_small_ones_is_not_approved_by_the_group(self, page: Any, server: Served,
                                                                       agent: str) -> None:
        """Five refunds of 250 and one of 250,000: the button says and approves 5; the big one stays visible, apart."""
        small = [refund(server, agent, f"R-{i}", 250) for i in range(5)]
        big = refund(server, agent, "R-9", 250_000)
        login(page, server.url)
        page.goto(f"{server.url}/?agent={agent}")
        head = group_head(page)
        expect(head.locator("button[value=approve]")).to_have_text("approve all 5")
        big_row = page.locator(f'tr.ticket[data-id="{big.id}"]')
        expect(big_row).to_be_visible()
        expect(big_row).to_contain_text("250000")
        expect(page.locator(f'tbody.group tr.ticket[data-id="{big.id}"]')).to_have_count(0)
        head.locator("button[value=approve]").click()
        expect(page.locator("#toast")).to_contain_text("Approved 5 of 5")
        assert ["approved"] * 5 + ["pending"] == statuses(server, [*small, big])

    def test_the_header_shows_how_the_members_differ(self, page: Any, server: Served, agent: str) -> None:
        """Within one group, the range of the amount and the distinct short values are in the header."""
        for i, amount in enumerate([250, 300, 999, 420]):
            refund(server, agent, f"R-{i}", amount)
        login(page, server.url)
        page.goto(f"{server.url}/?agent={agent}")
        spread = group_head(page).locator(".spread")
        expect(spread).to_contain_text('"amount" 250 – 999')
        expect(spread).to_contain_text('"order" "R-0", "R-1", "R-2", "R-3"')
        expect(spread).to_contain_text('"currency" "EUR"')

    def test_hidden_characters_in_the_summary_are_marked(self, page: Any, server: Served, agent: str) -> None:
        """A right-to-left override in a value shows as a marker in the group summary, never raw."""
        for order in ["R-1", "R-2\u202e"]:
            refund(server, agent, order, 250)
        login(page, server.url)
        page.goto(f"{server.url}/?agent={agent}")
        spread = group_head(page).locator(".spread")
        expect(spread).to_contain_text('"R-2<U+202E>"')
        assert "\u202e" not in spread.inner_text()

    def test_a_group_longer_than_its_preview_decides_the_shown_rows(self, page: Any, server: Served,
                                                                    agent: str) -> None:
        """Seven similar refunds, five rows shown: "approve all 5" approves those five and leaves two."""
        ts = [refund(server, agent, f"R-{i}", 250) for i in range(7)]
        login(page, server.url)
        page.goto(f"{server.url}/?agent={agent}")
        head = group_head(page)
        expect(page.locator("tbody.group tr.ticket")).to_have_count(5)
        expect(head.locator("button[value=approve]")).to_have_text("approve all 5")
        head.locator("button[value=approve]").click()
        expect(page.locator("#toast")).to_contain_text("Approved 5 of 5")
        assert ["approved"] * 5 + ["pending"] * 2 == statuses(server, ts)

    def test_a_request_that_arrives_after_the_page_is_not_decided(self, page: Any, server: Served,
                                                                  agent: str) -> None:
        """A similar refund arriving live shows up, but the group's button still decides the three it showed."""
        ts = [refund(server, agent, f"R-{i}", 250) for i in range(3)]
        login(page, server.url)
        page.goto(f"{server.url}/?agent={agent}")
        expect(page.locator("body[data-live='1']")).to_have_count(1)
        late = refund(server, agent, "R-late", 260)
        expect(page.locator(f'tr.ticket[data-id="{late.id}"]')).to_be_visible()
        head = group_head(page)
        expect(head.locator("button[value=approve]")).to_have_text("approve all 3")
        head.locator("button[value=approve]").click()
        expect(page.locator("#toast")).to_contain_text("Approved 3 of 3")
        assert ["approved"] * 3 + ["pending"] == statuses(server, [*ts, late])
