"""The insights page shows each recommendation's policy change as a diff of the policy file, with its
replay on the decided requests, in real Chromium against a real ``signoff serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action
from tests.ui.conftest import Served, login, start_server

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start_server(tmp_path_factory.mktemp("recs"))
    yield s
    s.stop()


def test_a_recommendation_opens_on_its_diff(page: Any, served: Served, tmp_path: Path) -> None:
    for i in range(3):
        t = served.run(served.gate.submit(Action(name="review.deploy", agent="ci", args={"n": i}, reasoning="ok")))
        served.run(served.gate.approve(t.id, reviewer="alice"))
    login(page, served.url, next_path="/insights?min_volume=3")
    rec = page.locator("ul.recs li", has_text="rule 'reviewed-actions'")
    assert "consider `notify`" in rec.inner_text()
    rec.locator("summary").click()
    diff = rec.locator("pre.diff")
    assert diff.locator("span.del", has_text="level: approve").count() == 1
    assert diff.locator("span.add", has_text="level: notify").count() == 1
    assert "would have let 3 of 3 past requests through" in rec.locator("summary").inner_text()
    assert "signoff never edits the policy" in rec.inner_text()
    rec.screenshot(path=str(tmp_path / "insights-recommendation.png"))

    allow = rec.locator("form.allow-one")
    assert allow.count() == 1 and "3 approved; when args.n <= 2" in allow.inner_text()
    allow.locator("button").click()
    page.wait_for_url(lambda u: "/allowances" in u)
    assert "allowed from now on" in page.locator("body").inner_text()
    later = served.run(served.gate.guard(Action(name="review.deploy", agent="ci", args={"n": 1}, reasoning="ok")))
    assert later.status == "notified", later
    bigger = served.run(served.gate.submit(Action(name="review.deploy", agent="ci", args={"n": 9}, reasoning="ok")))
    assert (bigger.kind, bigger.status) == ("approval", "pending")  # outside the condition: a person again
