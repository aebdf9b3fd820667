"""The ticket page shows where reviewers were told: each notification, its channel, time and state,
in real Chromium against a real ``signoff serve`` delivering through its outbox."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signoff import Action
from tests.ui.conftest import POLICY, Served, login, start_server

NOTIFYING = POLICY + """\
notifications:
  channels:
    team: {kind: console}
    ops-hook: {kind: webhook, url: "http://127.0.0.1:9/nobody-listens", secret: "env:UI_TEST_HOOK_SECRET"}
  routes:
    - {to: [team, ops-hook]}
  events: [created]
"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def notifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UI_TEST_HOOK_SECRET", "whsec_" + base64.b64encode(b"u" * 32).decode())
        served = start_server(tmp_path_factory.mktemp("notifying"), NOTIFYING)
    yield served
    served.stop()


def test_delivered_and_retrying_notifications_on_the_ticket_page(page: Any, notifying: Served,
                                                                 tmp_path: Path) -> None:
    t = notifying.run(notifying.gate.submit(Action(name="review.deploy", agent="ci", args={"v": 2},
                                                   reasoning="ship it")))
    deadline = time.monotonic() + 30
    while True:
        rows = {n.channel: n for n in notifying.run(notifying.gate.list_notifications(ticket_id=t.id))}
        if len(rows) == 2 and rows["team"].status == "delivered" and rows["ops-hook"].attempts >= 1:
            break
        assert time.monotonic() < deadline, f"not delivered/tried in time: {rows}"
        time.sleep(0.1)
    login(page, notifying.url, next_path=f"/tickets/{t.id}")
    table = page.locator("table.notifications")
    team = table.locator("tr", has_text="team")
    hook = table.locator("tr", has_text="ops-hook")
    assert "delivered" in team.inner_text() and "written to the server log" in team.inner_text()
    hook_text = hook.inner_text()
    assert "pending" in hook_text and "next try" in hook_text and "last:" in hook_text, hook_text
    page.locator("#notifications").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "ticket-notifications.png"), full_page=True)
