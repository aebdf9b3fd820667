""""Approve and always allow…" end to end through a real ``signoff serve`` process: the policy's Slack channel
posts the ticket to the local Slack-compatible server, the signed button press opens the dialog there, its
signed submission makes the allowance as the linked reviewer, and after the deliverer's own update of the
message the allowance is still told (in the thread) and lets the next matching request through."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signoff import Action, RemoteGate
from signoff.notify._slack_allow import ALLOW
from tests.notify import _slack_api
from tests.notify._slack_api import CHANNEL_ID, SlackAPI
from tests.notify._slack_serve import slack_server
from tests.notify.test_served import until
from tests.notify.test_slack_allow import allow_submit
from tests.notify.test_slack_interactions import press, sign


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


async def test_allowed_in_slack_through_a_real_server(tmp_path: Path, api: SlackAPI) -> None:
    async with slack_server(tmp_path, api) as (base, token, setup):

        async def post(body: bytes) -> httpx.Response:
            async with httpx.AsyncClient() as client:
                return await client.post(base + "/integrations/slack/interactions", content=body,
                                         headers=sign(body, int(time.time())))

        async with RemoteGate(base, token=token) as agent:
            t = await agent.submit(Action(name="deploy", args={"env": "<!here> staging"}))
            await until(lambda: api.of("chat.postMessage"), "the Slack message")
            (posted,) = api.of("chat.postMessage")
            assert ALLOW in json.dumps(posted.args["blocks"])
            assert (await post(press("U0OLGA", ALLOW, t.id, response_url=api.response_url()))).status_code == 200
            (opened,) = api.of("views.open")
            view = opened.args["view"]
            proposed = next(b for b in view["blocks"] if b.get("block_id") == "condition")["element"]
            assert proposed["initial_value"] == 'args.env == "<!here> staging"'  # plain text: Slack parses nothing
            resp = await post(allow_submit("U0OLGA", view["private_metadata"], proposed["initial_value"],
                                           expires="1h", scope="any"))
            assert resp.status_code == 200 and resp.content == b""
            assert (await setup.get_ticket(t.id)).decided_by == ("olga",)
            await until(lambda: api.of("chat.update"), "the deliverer's update of the message")
            assert "approved by olga in Slack" in api.of("chat.update")[-1].args["text"]
            notes = [c for c in api.of("chat.postMessage") if c.args.get("thread_ts")]
            (note,) = notes
            assert (note.args["channel"], note.args["thread_ts"]) == (CHANNEL_ID, "1700000000.000001")
            assert "Allowed from now on by olga in Slack: any agent may run `deploy`" in note.args["text"]
            assert "&lt;!here&gt;" in note.args["text"] and "<!here>" not in note.args["text"]
            (reply,) = [c.args for c in api.of("response")]
            assert reply["text"].startswith("signoff: approved and allowed by olga in Slack, until ")
            again = await agent.submit(Action(name="deploy", args={"env": "<!here> staging"}))
            assert again.kind == "notification"
        (made,) = await setup.list_allowances()
        assert (made.agent, made.reviewers, made.status()) == (None, ("olga",), "active")
