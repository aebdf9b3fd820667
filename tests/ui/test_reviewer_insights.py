"""The reviewer's side of the insights page in a real browser: time from opening a ticket's page to
deciding is measured by the server, approvals within 2 s count as quick, and a reviewer sees only
their own figures unless of the policy's top tier."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action
from tests.ui.conftest import Served, login, start_server


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("reviewers"))
    yield served
    served.stop()


def _decided(served: Served, ticket_id: str) -> str:
    for _ in range(200):
        status = served.run(served.gate.get_ticket(ticket_id)).status
        if status != "pending":
            return str(status)
        time.sleep(0.05)
    return "pending"


class TestReviewerFigures:
    def test_quick_approval_is_counted_and_figures_are_scoped(self, own_server: Served, browser: Any,
                                                              tmp_path: Path) -> None:
        """jim (junior) approves from the ticket's page at once: a quick approval. He sees only his row;
        alice (senior, the top tier) sees everyone's, her rejection timed but never quick."""
        served = own_server
        first, second = (served.run(served.gate.submit(Action(name="review.deploy", args={"n": i}, agent="ci",
                                                              reasoning="green")))
                         for i in range(2))
        jim = browser.new_context(viewport={"width": 1400, "height": 900})
        alice = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = jim.new_page()
            login(page, served.url, name="jim", next_path=f"/tickets/{first.id}")
            page.click("form[data-decide=approve] button")
            assert "approved" == _decided(served, first.id)
            page.wait_for_url(lambda u: f"/tickets/{first.id}" not in u)  # the page moves on by itself

            other = alice.new_page()
            login(other, served.url, name="alice", next_path=f"/tickets/{second.id}")
            other.click("#reject summary")
            other.fill("form[data-decide=reject] textarea", "not today")
            other.click("form[data-decide=reject] button")
            assert "rejected" == _decided(served, second.id)
            other.wait_for_url(lambda u: f"/tickets/{second.id}" not in u)

            page.goto(served.url + "/insights")
            mine = page.locator("section#reviewers")
            assert mine.locator("h2").inner_text().startswith("Your decisions")
            rows = [" ".join(r.split()) for r in mine.locator("tbody tr, tr").all_inner_texts()[1:]]
            assert 1 == len(rows) and rows[0].startswith("jim 1 1 0 100%")
            assert rows[0].endswith("100% (1 of 1)")

            other.goto(served.url + "/insights")
            everyone = other.locator("section#reviewers")
            assert everyone.locator("h2").inner_text().startswith("Reviewers")
            rows = [" ".join(r.split()) for r in everyone.locator("tr").all_inner_texts()[1:]]
            assert ["alice 1 0 1 0%", "jim 1 1 0 100%"] == [" ".join(r.split()[:5]) for r in rows]
            assert rows[0].endswith("(1 timed) -")  # a rejection is timed, never a quick approval
            everyone.screenshot(path=str(tmp_path / "reviewers.png"))
        finally:
            jim.close()
            alice.close()
