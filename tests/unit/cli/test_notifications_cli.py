"""``signoff notifications list`` as a subprocess on a real SQLite file the gate wrote the outbox of."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from tests.unit.cli.test_queue_cli import run

from signoff import Action, Gate
from signoff._model import utcnow
from signoff._records import OutboxResult
from signoff.notify._routing import Router

POLICY = {"version": 1, "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
          "notifications": {"channels": {"approvals": {"kind": "console"},
                                         "hook": {"kind": "webhook", "url": "http://127.0.0.1:9/", "secret": "env:X"}},
                            "routes": [{"to": ["approvals", "hook"]}], "events": ["created"]}}


async def test_lists_deliveries_retries_and_failures(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/n.db"
    with Gate.open(POLICY, store=db, sweep=False) as gate:
        await gate.init_outbox()
        t = await gate.submit(Action(name="deploy", agent="ci", args={"v": 1}))
        await gate.expand_outbox(Router(gate.policy.spec.notifications))  # type: ignore[arg-type]
        now = utcnow()
        claims = {c.channel: c for c in await gate.claim_notifications(lease=timedelta(minutes=1))}
        await gate.finish_notifications([
            OutboxResult(id=claims["approvals"].id, status="delivered", attempts=1, due_at=now, delivered_at=now,
                         detail="printed to the server log"),
            OutboxResult(id=claims["hook"].id, status="pending", attempts=2, due_at=now + timedelta(minutes=5),
                         detail="HTTP 503")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")} | {"NO_COLOR": "1", "SIGNOFF_DB": db}
    out = run(env, "notifications", "list").stdout.splitlines()
    assert out[0].split() == ["WHEN", "(UTC)", "EVENT", "CHANNEL", "TICKET", "STATUS", "TRIES", "DETAIL"]
    rows = {line.split()[3]: line for line in out[1:]}
    assert rows["approvals"].split()[4:] == [t.id, "delivered", "1", "printed", "to", "the", "server", "log"]
    assert ["pending", "2"] == rows["hook"].split()[5:7]
    assert rows["hook"].endswith(("next try in 4m (last: HTTP 503)", "next try in 5m (last: HTTP 503)"))
    failed_only = run(env, "notifications", "list", "--status", "failed").stdout
    assert "no notifications" in failed_only
    lines = run(env, "notifications", "list", "--json", "--channel", "hook").stdout.splitlines()
    assert [("hook", "pending", 2, t.id)] == [(j["channel"], j["status"], j["attempts"], j["ticket_id"])
                                              for j in map(json.loads, lines)]
