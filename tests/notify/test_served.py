"""Notifications through a real ``signoff serve`` process: an agent submits over HTTP, a real local
receiver gets the Standard Webhooks-signed notification (checked with the reference verifier),
and a server killed with SIGKILL between the event and its delivery loses nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from signoff import Action, Gate, RemoteGate
from tests.notify._receiver import Receiver
from tests.server.conftest import free_port, signoff_exe, stop_process, wait_until_up

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def policy(url: str) -> dict[str, Any]:
    return {"version": 1, "tiers": ["ops"],
            "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}],
            "notifications": {"channels": {"hook": {"kind": "webhook", "url": url, "secret": "env:HOOK_SECRET"}},
                              "routes": [{"to": ["hook"]}], "events": ["created", "decided"]}}


@contextmanager
def served(tmp: Path, policy_path: Path, db: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp / f"serve-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(policy_path), "--db", db, "--port", str(port),
                                 "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, "HOOK_SECRET": SECRET})
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            stop_process(proc)


async def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def verified(received: Any) -> dict[str, Any]:
    """The body, after the reference implementation checked the signature."""
    return Webhook(SECRET).verify(received.body, received.headers)  # type: ignore[no-any-return]


class TestServed:
    async def test_created_and_decided_reach_the_receiver_signed(self, tmp_path: Path) -> None:
        async with Receiver() as receiver:
            path = tmp_path / "policy.json"
            path.write_text(json.dumps(policy(receiver.url)))
            db = f"sqlite:///{tmp_path}/s.db"
            with Gate.open(path, store=db, sweep=False) as setup:
                setup.add_reviewer("olga", tier="ops")
                token = await setup.create_token("agent", "deployer")
                port = free_port()
                with served(tmp_path, path, db, port):
                    async with RemoteGate(f"http://127.0.0.1:{port}", token=token) as agent:
                        t = await agent.submit(Action(name="deploy", args={"service": "api"}, reasoning="release"))
                    await until(lambda: len(receiver.received) >= 1, "the created notification")
                    await setup.approve(t.id, reviewer="olga")
                    await until(lambda: len(receiver.received) >= 2, "the decided notification")
        bodies = [verified(r) for r in receiver.received]
        assert ["ticket.created", "ticket.decided"] == [b["type"] for b in bodies]
        assert [t.id, t.id] == [b["data"]["ticket"]["id"] for b in bodies]
        assert "approved" == bodies[1]["data"]["ticket"]["status"]
        assert {"decided_via": "api"} == bodies[1]["data"]["details"]

    async def test_kill_9_between_event_and_delivery_loses_nothing(self, tmp_path: Path) -> None:
        receiver = Receiver()  # its port is reserved but not listening yet: deliveries are refused
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(policy(receiver.url)))
        db = f"sqlite:///{tmp_path}/s.db"
        with Gate.open(path, store=db, sweep=False) as setup:
            token = await setup.create_token("agent", "deployer")
            port = free_port()
            with served(tmp_path, path, db, port) as proc:
                async with RemoteGate(f"http://127.0.0.1:{port}", token=token) as agent:
                    t = await agent.submit(Action(name="deploy", args={"service": "api"}, reasoning="release"))

                async def tried() -> bool:
                    return any(n.attempts for n in await setup.list_notifications(ticket_id=t.id))

                await until(tried, "a refused first attempt")
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            [row] = await setup.list_notifications(ticket_id=t.id)
            assert ("pending", "ticket.created") == (row.status, row.event)
            async with receiver:
                with served(tmp_path, path, db, free_port()):
                    await until(lambda: receiver.received, "delivery after the restart", timeout=60)
            [row] = await setup.list_notifications(ticket_id=t.id)
        assert "delivered" == row.status
        assert [row.id] == [r.headers["webhook-id"] for r in receiver.received]  # the event id, for dedupe
        assert t.id == verified(receiver.received[0])["data"]["ticket"]["id"]
