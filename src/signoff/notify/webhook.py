"""The webhook channel: each message as one signed JSON POST, per the Standard Webhooks specification.

Headers ``webhook-id`` (the event's id, the same on every retry: receivers drop repeats),
``webhook-timestamp`` (integer seconds at this attempt, which receivers check against a
5-minute window) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
for each secret, separated by spaces, so a receiver holding either the old or the new
secret accepts a message while a secret rotates.

The body::

    {"type": "ticket.created", "timestamp": "2026-11-28T12:00:00+00:00",
     "data": {"ticket": {...}, "tickets": [{...}], "links": {...}, "details": {...}}}

``data.tickets`` always lists every ticket of the message (several when similar tickets
were coalesced); ``data.ticket`` is there too when there is exactly one. Each ticket is the
API's JSON (``GET /api/v1/tickets/{id}``). ``details`` carries the event's extras
(``escalated_to``, ``decided_via``) when there are any.

Signed here with ``hmac`` rather than the ``standardwebhooks`` package: the scheme is four
lines, and the package's ``sign`` reads naive datetimes as UTC, which our clock never is;
the tests verify every delivery with that package's reference ``Webhook.verify``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from signoff._errors import DeliveryFailed, UserError
from signoff._wire import ticket_to_dict
from signoff.notify._base import Message, Sent

__all__ = ["SECRET_PREFIX", "WebhookChannel", "body_of", "decode_secret", "signature"]

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix is optional, as in the reference)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "==", validate=False)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise UserError("a webhook secret must be whsec_ followed by base64 (at least one byte), "
                        "e.g. 'whsec_' + base64 of 32 random bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>``: HMAC-SHA256 of ``{id}.{timestamp}.{body}`` with ``key``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def body_of(message: Message) -> bytes:
    """The JSON body for ``message`` (compact, UTF-8)."""
    tickets = [ticket_to_dict(t) for t in message.tickets]
    data: dict[str, Any] = {"tickets": tickets}
    if len(tickets) == 1:
        data["ticket"] = tickets[0]
    data["links"] = {"inbox": message.links.inbox(),
                     "tickets": [message.links.ticket(t.id) for t in message.tickets]}
    if message.extra:
        data["details"] = dict(message.extra)
    doc = {"type": message.type, "timestamp": message.at.isoformat(), "data": data}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class WebhookChannel:
    """POSTs each message to ``url``, signed with every secret in ``secrets``.

    ``client``: an ``httpx.AsyncClient`` to share (not closed by ``aclose``); by default the
    channel makes its own. Redirects are not followed (a moved endpoint is a configuration
    to fix, and a signature must not travel to another host).
    """

    kind = "webhook"

    def __init__(self, name: str, *, url: str, secrets: Sequence[str], timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        if isinstance(secrets, str):
            raise UserError(f"channel {name!r}: secrets is a list of whsec_ secrets, not one string")
        if not secrets:
            raise UserError(f"channel {name!r}: a webhook needs at least one secret")
        if not url.startswith(("http://", "https://")):
            raise UserError(f"channel {name!r}: the webhook url must start with http:// or https://")
        self.name = name
        self.url = url
        self._keys = [decode_secret(s) for s in secrets]
        self._timeout = httpx.Timeout(timeout)
        self._own = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)

    def headers(self, message: Message, body: bytes, *, now: float | None = None) -> dict[str, str]:
        """The Standard Webhooks headers for ``body``, signed at ``now`` (default: this moment)."""
        ts = int(now if now is not None else time.time())
        sigs = " ".join(signature(k, message.id, ts, body) for k in self._keys)
        return {"webhook-id": message.id, "webhook-timestamp": str(ts), "webhook-signature": sigs,
                "content-type": "application/json", "user-agent": _user_agent()}

    async def send(self, message: Message) -> Sent:
        body = body_of(message)
        try:
            async with self._client.stream("POST", self.url, content=body, headers=self.headers(message, body),
                                           timeout=self._timeout, follow_redirects=False) as resp:
                status = resp.status_code
                retry_after = resp.headers.get("retry-after")
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"webhook {self.name}: no answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, protocol errors: try again later
            raise DeliveryFailed(f"webhook {self.name}: {type(exc).__name__}: {exc}") from exc
        return _outcome(self.name, status, retry_after)

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()


def _outcome(name: str, status: int, retry_after: str | None) -> Sent:
    """2xx delivered; 408, 429 and 5xx retried (``Retry-After`` honoured); any other answer is permanent."""
    if 200 <= status < 300:
        return Sent(detail=f"HTTP {status}")
    if status in (408, 429) or status >= 500:
        raise DeliveryFailed(f"webhook {name}: HTTP {status}", retry_after=_retry_after(retry_after))
    if 300 <= status < 400:
        raise DeliveryFailed(f"webhook {name}: HTTP {status} (redirects are not followed)", permanent=True)
    raise DeliveryFailed(f"webhook {name}: HTTP {status}", permanent=True)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@functools.cache
def _user_agent() -> str:
    """Read once: the package metadata lookup costs more than signing a message."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"signoff-webhooks/{version('signoff')}"
    except PackageNotFoundError:
        return "signoff-webhooks"
