"""The webhook channel against a real local HTTP receiver, verified with the reference standardwebhooks package."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from signoff._errors import DeliveryFailed, UserError
from signoff._model import Action
from signoff._wire import ticket_from_dict
from signoff.notify import Channel
from signoff.notify.webhook import WebhookChannel
from tests.notify._receiver import Answer, Receiver
from tests.notify._tickets import message, ticket

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()


async def deliver(secrets: list[str], *answers: Answer, msg: Any = None, timeout: float = 10.0) -> tuple[Receiver, Any]:
    """Send one message to a fresh receiver; returns the receiver and the Sent or the DeliveryFailed."""
    async with Receiver() as r:
        r.answers.extend(answers)
        ch = WebhookChannel("ops-hook", url=r.url, secrets=secrets, timeout=timeout)
        try:
            result: Any = await ch.send(msg or message())
        except DeliveryFailed as exc:
            result = exc
        finally:
            await ch.aclose()
    return r, result


class TestSigning:
    async def test_reference_verifier_accepts(self) -> None:
        """The receiver gets the Standard Webhooks headers and a body the reference verifier accepts."""
        r, sent = await deliver([OLD])
        [got] = r.received
        body = Webhook(OLD).verify(got.body, got.headers)
        assert "HTTP 200" == sent.detail
        assert "msg_1" == got.headers["webhook-id"]
        assert re.fullmatch(r"[0-9]+", got.headers["webhook-timestamp"])
        assert "ticket.created" == body["type"]
        assert "2026-11-28T12:00:00+00:00" == body["timestamp"]
        assert ticket() == ticket_from_dict(body["data"]["ticket"])
        assert [body["data"]["ticket"]] == body["data"]["tickets"]
        assert ["https://signoff.example/tickets/tk_1"] == body["data"]["links"]["tickets"]

    async def test_rotation_two_signatures(self) -> None:
        """With two secrets, a receiver holding either one verifies; one holding another does not."""
        r, _ = await deliver([OLD, NEW])
        [got] = r.received
        assert 2 == len(got.headers["webhook-signature"].split(" "))
        Webhook(OLD).verify(got.body, got.headers)
        Webhook(NEW).verify(got.body, got.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(OTHER).verify(got.body, got.headers)

    async def test_tampered_body_fails(self) -> None:
        """A body changed by one byte fails verification."""
        r, _ = await deliver([OLD])
        [got] = r.received
        with pytest.raises(WebhookVerificationError):
            Webhook(OLD).verify(got.body.replace(b"deploy", b"dePloy"), got.headers)

    async def test_coalesced_lists_tickets(self) -> None:
        """A coalesced message lists every ticket in data.tickets and has no data.ticket."""
        msg = message(ticket(id="tk_1"), ticket(id="tk_2"), extra={"decided_via": "email"})
        r, _ = await deliver([OLD], msg=msg)
        data = Webhook(OLD).verify(r.received[0].body, r.received[0].headers)["data"]
        assert ["tk_1", "tk_2"] == [t["id"] for t in data["tickets"]]
        assert "ticket" not in data
        assert {"decided_via": "email"} == data["details"]

    async def test_agent_text_arrives_exactly(self) -> None:
        """The agent's text travels as data, byte for byte (receivers escape it for their medium)."""
        action = Action(name="x", args={"html": "<script>alert(1)</script>", "bidi": "\u202e"})
        r, _ = await deliver([OLD], msg=message(ticket(action=action)))
        data = json.loads(r.received[0].body)["data"]
        assert {"html": "<script>alert(1)</script>", "bidi": "\u202e"} == data["ticket"]["action"]["args"]


class TestAnswers:
    @pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
    async def test_4xx_permanent(self, status: int) -> None:
        """A 4xx other than 408 and 429 will not change on a retry: permanent."""
        _, exc = await deliver([OLD], Answer(status))
        assert isinstance(exc, DeliveryFailed) and exc.permanent
        assert f"HTTP {status}" in str(exc)

    @pytest.mark.parametrize("status", [408, 500, 502, 503])
    async def test_retryable(self, status: int) -> None:
        """408 and 5xx are retried."""
        _, exc = await deliver([OLD], Answer(status))
        assert isinstance(exc, DeliveryFailed) and not exc.permanent
        assert exc.retry_after is None

    async def test_429_retry_after(self) -> None:
        """429 is retried no sooner than its Retry-After says."""
        _, exc = await deliver([OLD], Answer(429, {"retry-after": "120"}))
        assert isinstance(exc, DeliveryFailed) and not exc.permanent
        assert 120.0 == exc.retry_after

    async def test_redirect_not_followed(self) -> None:
        """A redirect is not followed (the signature must not travel elsewhere) and is permanent."""
        r, exc = await deliver([OLD], Answer(301, {"location": "http://127.0.0.1:1/elsewhere"}))
        assert isinstance(exc, DeliveryFailed) and exc.permanent
        assert 1 == len(r.received)

    async def test_timeout_retryable(self) -> None:
        """A receiver that never answers times out and is retried."""
        _, exc = await deliver([OLD], Answer(hang=True), timeout=0.2)
        assert isinstance(exc, DeliveryFailed) and not exc.permanent
        assert "no answer in time" in str(exc)

    async def test_connection_refused_retryable(self) -> None:
        """Nothing listening: retried."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        ch = WebhookChannel("ops-hook", url=f"http://127.0.0.1:{port}/hook", secrets=[OLD])
        assert isinstance(ch, Channel)
        with pytest.raises(DeliveryFailed) as info:
            await ch.send(message())
        await ch.aclose()
        assert not info.value.permanent


class TestConfig:
    @pytest.mark.parametrize("secrets", [[], ["whsec_"], OLD])
    def test_bad_secrets(self, secrets: Any) -> None:
        """No secret, an empty one, or one string instead of a list is a clear error."""
        with pytest.raises(UserError):
            WebhookChannel("ops-hook", url="https://x.example/hook", secrets=secrets)


DOCS = Path(__file__).parents[2] / "docs" / "notifications.md"


class TestDocsReceiver:
    def test_docs_example_verifies(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The receiver in docs/notifications.md accepts a delivery, drops its repeat and refuses a forgery."""
        import asyncio

        source = DOCS.read_text().split("<!-- receiver -->\n```python\n", 1)[1].split("```", 1)[0]
        monkeypatch.setenv("SIGNOFF_WEBHOOK_SECRET", OLD)
        ns: dict[str, Any] = {"__name__": "receiver"}
        exec(compile(source, str(DOCS), "exec"), ns)
        handled: list[dict[str, Any]] = []
        ns["handle"] = handled.append
        server = HTTPServer(("127.0.0.1", 0), ns["Receiver"])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/"

            async def go() -> list[Any]:
                out: list[Any] = []
                for secrets in ([OLD], [OLD], [OTHER]):  # the second is the same event again
                    ch = WebhookChannel("ops-hook", url=url, secrets=secrets)
                    try:
                        out.append(await ch.send(message()))
                    except DeliveryFailed as exc:
                        out.append(exc)
                    await ch.aclose()
                return out

            first, again, forged = asyncio.run(go())
        finally:
            server.shutdown()
            server.server_close()
        assert ("HTTP 204", "HTTP 204") == (first.detail, again.detail)
        assert isinstance(forged, DeliveryFailed) and forged.permanent
        assert ["ticket.created"] == [e["type"] for e in handled]
        assert os.environ["SIGNOFF_WEBHOOK_SECRET"] == OLD
