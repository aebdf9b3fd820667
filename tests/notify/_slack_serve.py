"""A real ``signoff serve`` process whose policy's Slack channel posts to the local Slack-compatible
server (``_slack_api``), with reviewer olga linked to the Slack user U0OLGA: the setting of the
end-to-end Slack tests."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from signoff import Gate
from signoff.store._records import Reviewer
from tests.notify._slack_api import TOKEN, SlackAPI
from tests.notify.test_slack_interactions import SECRET
from tests.server.conftest import free_port, signoff_exe, stop_process, wait_until_up


@asynccontextmanager
async def slack_server(tmp_path: Path, api: SlackAPI) -> AsyncIterator[tuple[str, str, Gate]]:
    """Yields the server's URL, an agent token, and a gate of this process on the same store."""
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
        yield base, token, setup
    finally:
        if proc.poll() is None:
            stop_process(proc)
        await setup.aclose()
