"""A run in doubt in real Chromium against a real ``signoff serve``: the inbox names it, its page asks
"Did this run?", and the reviewer's answer (a CSRF-protected form) is recorded through the Gate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from signoff import Action
from tests.ui.conftest import Served, login

pytestmark = pytest.mark.browser


def test_a_reviewer_records_that_a_run_in_doubt_did_not_run(page: Any, server: Served, agent: str,
                                                            tmp_path: Path) -> None:
    gate = server.gate
    t = server.run(gate.submit(Action(name="review.deploy", agent=agent, args={"v": 3}, reasoning="ship it")))
    server.run(gate.approve(t.id, reviewer="bob"))
    decision = server.run(gate.wait(t.id, timeout=30))
    server.run(gate.claim_execution(t.id, action=decision.action, claim_id="cl_ui", lease=0.01))
    time.sleep(0.05)
    server.run(gate.sweep())
    assert "unknown" == server.run(gate.get_ticket(t.id)).execution

    login(page, server.url)
    page.locator(f"#doubts a[href='/tickets/{t.id}#doubt']").click()  # the inbox names it above the queue
    page.wait_for_url(lambda u: f"/tickets/{t.id}" in u)
    doubt = page.locator("section.doubt")
    assert "Did this run?" in doubt.inner_text()
    claim = doubt.locator("dl.claim").inner_text()
    assert "cl_ui" in claim and "lease ended" in claim
    page.screenshot(path=str(tmp_path / "ticket-in-doubt.png"), full_page=True)
    doubt.locator("input[name=note]").fill("the deploy log shows no v3")
    doubt.locator("button[value=not_run]").click()
    page.wait_for_url(lambda u: "note=" in u)
    assert "did not run" in page.locator("body").inner_text()
    after = server.run(gate.get_ticket(t.id))
    entries = server.run(gate.audit_entries(ticket_id=t.id))
    resolved = [e for e in entries if e.kind == "execution_resolved"]
    assert ("not_run", 1) == (after.execution, len(resolved))
    assert {"reviewer": "alice", "outcome": "not_run", "note": "the deploy log shows no v3", "via": "inbox"} \
        == resolved[0].data
    assert page.locator("section.doubt").count() == 0
    page.goto(server.url + "/")
    assert page.locator(f"#doubts a[href='/tickets/{t.id}#doubt']").count() == 0


def test_the_record_form_needs_the_csrf_token(page: Any, server: Served, agent: str) -> None:
    """A post without the session's token is refused and records nothing; the name the agent's client
    gave itself shows as text, never as markup."""
    gate = server.gate
    t = server.run(gate.submit(Action(name="review.deploy", agent=agent, args={"v": 4}, reasoning="ship it")))
    server.run(gate.approve(t.id, reviewer="bob"))
    decision = server.run(gate.wait(t.id, timeout=30))
    server.run(gate.claim_execution(t.id, action=decision.action, lease=0.01, instance="<b id=pwn>host</b>"))
    time.sleep(0.05)
    server.run(gate.sweep())
    login(page, server.url, next_path=f"/tickets/{t.id}")
    assert ("<b id=pwn>host</b>", 0) == (page.locator("dl.claim dd.mono").first.inner_text(),
                                         page.locator("#pwn").count())
    resp = page.request.post(f"{server.url}/tickets/{t.id}/execution", form={"outcome": "ran"},
                             headers={"Origin": server.url})
    assert 403 == resp.status
    assert "unknown" == server.run(gate.get_ticket(t.id)).execution
