"""Standing approvals in the inbox, in real Chromium against a real ``signoff serve``: "Approve and always
allow" on a ticket (condition proposed from the arguments), the Allowances page, a matching request in the
feed naming the allowance, and revoking. Agent text stays escaped; forms without the CSRF token are refused.

    .venv/bin/python -m tests.ui.test_allowances_browser [--out docs/img]

takes docs/img/ticket-allow.png and allowances.png.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Level
from tests.ui.conftest import CHROMIUM, Served, login, start_server

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def _eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    end = time.monotonic() + within
    while not check():
        assert time.monotonic() < end, "the change never reached the gate"
        time.sleep(0.05)


def allow_flow(page: Any, served: Served, agent: str, out: Path) -> None:
    """Submit a refund, approve and always allow it from its page, see it listed, used, and revoke it."""
    refund = Action(name="review.refund", agent=agent, args={"amount": 120.0, "currency": "EUR"},
                    reasoning="customer asked")
    ticket = served.run(served.gate.submit(refund))
    login(page, served.url, next_path=f"/tickets/{ticket.id}")
    page.click("#allow summary")
    condition = page.locator("input[name=condition]")
    assert 'args.amount <= 120.0 && args.currency == "EUR"' == condition.input_value()
    condition.fill("args.amount <= 200.0")
    page.select_option("select[name=expires]", "7d")
    page.screenshot(path=str(out / "ticket-allow.png"), full_page=True)
    page.click("form.allow-form button.approve")
    page.wait_for_url(lambda u: "/allowances" in u)
    assert "allowed from now on" in page.locator("body").inner_text()
    row = page.locator("#allowances tbody tr[data-allowance]")
    assert 1 == row.count()
    cells = row.inner_text()
    assert agent in cells and "args.amount <= 200.0" in cells and "active" in cells
    assert "not yet" == row.locator("td.uses").inner_text().strip()
    assert "approved" == served.run(served.gate.get_ticket(ticket.id)).status

    # The test process's gate follows the server's change through the store, as another server would.
    again = refund.evolve(args={"amount": 150.0, "currency": "EUR"})
    _eventually(lambda: served.gate.evaluate(again).level is Level.NOTIFY)
    decision = served.run(served.gate.guard(again, timeout=5))
    assert "notified" == decision.status
    assert "notified" == served.run(served.gate.guard(again.evolve(args={"amount": 180.0}), timeout=5)).status
    page.goto(served.url + "/feed")
    feed_row = page.locator("table.list tbody tr", has_text=agent).first
    assert "standing approval" in feed_row.inner_text()
    page.goto(served.url + "/allowances")
    uses = page.locator("#allowances tbody tr[data-allowance] td.uses")
    assert ("2", True) == (uses.get_attribute("data-uses"), uses.inner_text().startswith("2 requests\nlast used "))
    assert uses.inner_text().endswith(" ago")
    page.screenshot(path=str(out / "allowances.png"), full_page=True)

    page.click("#allowances tbody tr[data-allowance] button.reject")
    page.wait_for_url(lambda u: "/allowances" in u)
    assert "Revoked allowance" in page.locator("body").inner_text()
    assert "revoked by alice" in page.locator("#ended").inner_text()
    assert "2" == page.locator("#ended td.uses").first.get_attribute("data-uses")  # it keeps its count
    _eventually(lambda: served.gate.evaluate(again).level is Level.APPROVE)


def test_approve_and_always_allow(page: Any, server: Served, tmp_path: Path) -> None:
    allow_flow(page, server, "stamp<i>bot", tmp_path)
    # Agent text is escaped: the name shows as typed, no <i> element was made of it.
    page.goto(server.url + "/allowances")
    assert 0 == page.locator("#ended i").count()
    assert "stamp<i>bot" in page.locator("#ended").inner_text()


def test_a_form_without_the_csrf_token_is_refused(page: Any, server: Served) -> None:
    ticket = server.run(server.gate.submit(Action(name="review.refund", agent="csrf-bot", args={"amount": 5.0})))
    login(page, server.url)
    answer = page.request.post(f"{server.url}/tickets/{ticket.id}/allow", form={"condition": "", "expires": "1d"},
                               headers={"Origin": server.url})
    assert 403 == answer.status
    assert "pending" == server.run(server.gate.get_ticket(ticket.id)).status
    assert [] == [a for a in server.run(server.gate.list_allowances()) if a.agent == "csrf-bot"]


def test_a_junior_is_not_offered_any_agent_and_cannot_allow_a_senior_rule(page: Any, server: Served) -> None:
    """jim (junior) sees no "any agent" choice; a senior-only ticket shows him no control at all."""
    mine = server.run(server.gate.submit(Action(name="review.deploy", agent="jr-bot", args={"env": "staging"})))
    senior = server.run(server.gate.submit(Action(name="senior.deploy", agent="jr-bot", args={"env": "prod"})))
    login(page, server.url, name="jim", next_path=f"/tickets/{mine.id}")
    assert 1 == page.locator("#allow").count()
    assert 0 == page.locator("select[name=scope] option[value=any]").count()
    assert 0 == page.locator("#allow .warn").count()  # no hidden characters here: no warning
    page.goto(f"{server.url}/tickets/{senior.id}")
    assert 0 == page.locator("#allow").count()


def test_hidden_characters_in_the_arguments_are_warned_about(page: Any, server: Served) -> None:
    """The proposal copies the arguments: a zero-width character in them is called out beside it."""
    ticket = server.run(server.gate.submit(Action(name="review.deploy", agent="zw-bot", args={"env": "stag\u200bing"})))
    login(page, server.url, next_path=f"/tickets/{ticket.id}")
    page.click("#allow summary")
    assert "invisible or reordering" in page.locator("#allow .warn").inner_text()


def main() -> None:
    parser = argparse.ArgumentParser(description="Take docs/img/ticket-allow.png and allowances.png.")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    out = Path(parser.parse_args().out)
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        served = start_server(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
                allow_flow(page, served, "billing-bot", out)
                browser.close()
        finally:
            served.stop()


if __name__ == "__main__":
    main()
