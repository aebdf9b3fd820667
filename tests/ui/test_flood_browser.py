"""The flood guard in the inbox, in real Chromium against a real ``signoff serve``: a surging agent is
named above the list, its rows are marked, and approving its group leaves its tickets pending."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action
from tests.ui.conftest import POLICY, Served, login, start_server

GUARDED = POLICY.replace(
    "defaults: {level: auto, confidence_threshold: 0.7, timeout: 30m, on_timeout: escalate}",
    "defaults: {level: auto, confidence_threshold: 0.7, timeout: 30m, on_timeout: escalate,\n"
    "           flood_guard: {window: 1h, history: 1d, factor: 5, min_tickets: 3}}")

pytestmark = pytest.mark.browser


@pytest.fixture
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    assert GUARDED != POLICY
    served = start_server(tmp_path_factory.mktemp("flood"), GUARDED)
    yield served
    served.stop()


def test_a_surging_agent_is_flagged_and_held_back(page: Any, guarded: Served, tmp_path: Path) -> None:
    for i in range(4):
        guarded.run(guarded.gate.submit(Action(name="review.refund", agent="loop<b>", args={"amount": 10 + i},
                                               reasoning="customer asked")))
    login(page, guarded.url)
    banner = page.locator(".surges")
    text = banner.inner_text()
    assert "loop<b>" in text and "4 tickets in the last 1h, none in the 1d before" in text
    assert "held back from group approval" in text
    assert page.locator("tr.ticket .agent .warn-badge", has_text="surge").count() == 4
    page.screenshot(path=str(tmp_path / "inbox-flood.png"), full_page=True)

    head = page.locator("tbody.group tr.group-head")
    assert "4 from a surging agent: approve one by one" in head.inner_text()
    assert head.locator("button.approve").count() == 0 and head.locator("button.reject").count() == 1
    statuses = {t.status for t in guarded.run(guarded.gate.list_tickets(agent="loop<b>", limit=10))}
    assert statuses == {"pending"}
    assert "its 4 pending tickets" in text

    for t in guarded.run(guarded.gate.list_tickets(agent="loop<b>", limit=10)):  # decided one by one
        guarded.run(guarded.gate.reject(t.id, reviewer="alice", feedback="slow down"))
    page.goto(guarded.url + "/feed")
    after = page.locator(".surges").inner_text()
    assert "None of its tickets is pending now" in after and "pending ticket" not in after
