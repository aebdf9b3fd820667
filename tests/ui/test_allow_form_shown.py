"""The inbox offers "Approve and always allow…" on the same tickets as Slack (``_slack_allow.allowable``): a
request a rule raised, not one only a mode raised (an allowance never lowers a mode's ``approve``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from signoff import Action, Gate
from signoff.server.ui import mount_ui

POLICY = {"version": 1, "tiers": ["junior", "senior"],
          "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
          "modes": {"careful": {"default_level": "approve"}}}


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[tuple[Gate, httpx.AsyncClient]]:
    gate = Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/ui.db", sweep=False)
    gate.add_reviewer("alice", tier="senior", password="correct horse battery")
    app = FastAPI()
    mount_ui(app, gate)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        await client.post("/login", data={"csrf_token": token.group(1), "name": "alice",
                                          "password": "correct horse battery", "next": "/"})
        yield gate, client
    await gate.aclose()


async def test_the_allow_form_shows_only_on_a_rule_raised_request(inbox: tuple[Gate, httpx.AsyncClient]) -> None:
    gate, client = inbox
    await gate.set_mode_async("careful", reviewer="alice")
    by_rule = await gate.submit(Action(name="deploy", agent="bot", args={"env": "staging"}))
    by_mode = await gate.submit(Action(name="restart", agent="bot", args={"env": "staging"}))
    assert (by_rule.kind, by_mode.kind) == ("approval", "approval")
    assert any(r.code == "mode" for r in by_mode.reasons)
    rule_page = await client.get(f"/tickets/{by_rule.id}")
    mode_page = await client.get(f"/tickets/{by_mode.id}")
    assert rule_page.status_code == mode_page.status_code == 200
    assert 'class="allow-form"' in rule_page.text
    assert 'class="allow-form"' not in mode_page.text and "/reject" in mode_page.text  # still decidable
