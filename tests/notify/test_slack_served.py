"""Slack end to end through a real ``signoff serve`` process: the policy's Slack channel (secrets from the
environment, ``api_url`` at the local Slack-compatible server) posts the ticket, a signed button press
at ``/integrations/slack/interactions`` approves it as the linked reviewer, and the deliverer then
updates the same message in place."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signoff import Action, Gate, RemoteGate
from signoff.notify._slack_blocks import APPROVE
from signoff.store._records import Reviewer
from tests.notify import _slack_api
from tests.notify._slack_api import TOKEN, SlackAPI
from tests.notify.test_served import until
from tests.notify.test_slack_interactions import SECRET, press, sign
from tests.server.conftest import free_port, signoff_exe, stop_process, wait_until_up


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


async def test_posted_approved_in_slack_and_updated_in_place(tmp_path: Path, api: SlackAPI) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({
        "version": 1, "tiers": ["ops"],
        "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
        "notifications": {"channels": {"approvals": {"kind": "slack", "channel": "#approvals",
                                                     "token": "env:SLACK_BOT_TOKEN",
                                                     "signing_secret": "env:SLACK_SIGNING_SECRET",
                                                     "api_url": api.api_url}},
                          "routes": [{"to": ["approvals"]}], "events": ["created", "decided"]}}))
    db = f"sqlite:///{tmp_path}/s.db"
    setup = Gate.open(path, store=db, sweep=False)
    await setup._engine.run(setup.store.put_reviewer(Reviewer(name="olga", tier="ops", slack_id="U0OLGA")))
    token = await setup.create_token("agent", "deployer")
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(path), "--db", db, "--port", str(port),
                                 "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env={**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, proc, log)
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
    finally:
        if proc.poll() is None:
            stop_process(proc)
        await setup.aclose()
