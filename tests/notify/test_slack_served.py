"""Slack end to end through a real ``signoff serve`` process: the policy's Slack channel (secrets from the
environment, ``api_url`` at the local Slack-compatible server) posts the ticket, a signed button press
at ``/integrations/slack/interactions`` approves it as the linked reviewer, and the deliverer then
updates the same message in place."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signoff import Action, RemoteGate
from signoff.notify._slack_blocks import APPROVE
from tests.notify import _slack_api
from tests.notify._slack_api import SlackAPI
from tests.notify._slack_serve import slack_server
from tests.notify.test_served import until
from tests.notify.test_slack_interactions import press, sign


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


async def test_posted_approved_in_slack_and_updated_in_place(tmp_path: Path, api: SlackAPI) -> None:
    async with slack_server(tmp_path, api) as (base, token, setup):
        async with RemoteGate(base, token=token) as agent:
            t = await agent.submit(Action(name="deploy", args={"service": "api"}, reasoning="<!here> ship it"))
        await until(lambda: api.of("chat.postMessage"), "the Slack message")
        (posted,) = api.of("chat.postMessage")
        assert "&lt;!here&gt; ship it" in json.dumps(posted.args["blocks"])
        body = press("U0OLGA", APPROVE, t.id, response_url=api.response_url())
        async with httpx.AsyncClient() as client:
            resp = await client.post(base + "/integrations/slack/interactions", content=body,
                                     headers=sign(body, int(time.time())))
        assert resp.status_code == 200
        assert (await setup.get_ticket(t.id)).decided_by == ("olga",)
        await until(lambda: api.of("chat.update"), "the message updated in place")
        (update,) = api.of("chat.update")
        assert (update.args["channel"], update.args["ts"]) == (_slack_api.CHANNEL_ID, "1700000000.000001")
        assert "approved by olga in Slack" in update.args["text"]
        assert len(api.of("chat.postMessage")) == 1
