""""Approve and always allow…" from Slack on every store (PostgreSQL included): the dialog's submission,
signed as Slack signs it, goes through the real server app to ``Gate.allow`` on the store, which alone
decides who may allow what; the local Slack-compatible server stands in for Slack's API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from signoff import Action
from signoff.notify._slack_allow import ALLOW
from signoff.notify.slack import SlackChannel
from signoff.server import ServerSettings, create_app
from signoff.store._records import Reviewer
from tests.contract.conftest import GateFactory, read_audit
from tests.notify import _slack_api
from tests.notify._slack_api import TOKEN, SlackAPI
from tests.notify.test_slack_allow import allow_submit
from tests.notify.test_slack_interactions import BASE, PATH, SECRET, press, sign

POLICY = {"version": 1, "tiers": ["junior", "senior"],
          "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


async def test_allowed_from_slack_on_the_store(open_gate: GateFactory, store_url: str, api: SlackAPI) -> None:
    gate = open_gate(POLICY, reviewers=False)
    for r in (Reviewer(name="sam", tier="senior", slack_id="U0SAM"), Reviewer(name="jo", tier="junior",
                                                                                slack_id="U0JO")):
        await gate._engine.run(gate.store.put_reviewer(r))
    channel = SlackChannel("approvals", channel="#approvals", token=TOKEN, signing_secret=SECRET,
                           api_url=api.api_url)
    app = create_app(gate, settings=ServerSettings(public_url=BASE), channels={"approvals": channel})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        async def post(body: bytes) -> httpx.Response:
            return await client.post(PATH, content=body, headers=sign(body, int(time.time())))

        first = await gate.submit(Action(name="deploy", agent="bot-1", args={"env": "staging"}))
        meta = json.dumps({"ticket": first.id})
        forged = await post(allow_submit("U0JO", meta, 'args.env == "staging"', scope="any"))  # junior
        assert "only a senior reviewer" in forged.json()["errors"]["scope"]
        assert await gate.list_allowances() == [] and (await gate.get_ticket(first.id)).status == "pending"
        assert (await post(press("U0SAM", ALLOW, first.id, trigger="T.1"))).status_code == 200
        assert len(api.of("views.open")) == 1
        resp = await post(allow_submit("U0SAM", meta, 'args.env == "staging"', expires="never", scope="any"))
        assert resp.status_code == 200 and resp.content == b""
    (made,) = await gate.list_allowances()
    assert (made.agent, made.condition, made.expires_at, made.reviewers) == (None, 'args.env == "staging"', None,
                                                                            ("sam",))
    approved = [e for e in read_audit(store_url, first.id) if e.kind == "approved"]
    assert [e.data.get("via") for e in approved] == ["slack"]
    assert ["slack"] == [e.data.get("via") for e in read_audit(store_url) if e.kind == "allowance_created"]
    other_agent = await gate.submit(Action(name="deploy", agent="bot-2", args={"env": "staging"}))
    assert other_agent.kind == "notification"  # any agent, as the senior chose
    prod = await gate.submit(Action(name="deploy", agent="bot-2", args={"env": "prod"}))
    assert prod.kind == "approval" and prod.status == "pending"
