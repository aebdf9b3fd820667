"""The email channel: each message as a text + HTML email to every address in ``to``, over SMTP.

``smtp_url`` says where and how (read from the environment by the policy: ``env:SIGNOFF_SMTP_URL``):

- ``smtp://host:25``: plain SMTP (a local relay);
- ``smtp://user:pass@host:587`` or ``smtp://...?starttls=true``: STARTTLS, required (port 587
  implies it; ``?starttls=false`` turns it off);
- ``smtps://user:pass@host:465``: TLS from the first byte.

User name and password are URL-encoded (``%40`` for ``@``). Credentials are refused on a
connection that would send them in the clear, except to a loopback relay.

An SMTP answer of 5xx fails for good (``DeliveryFailed(permanent=True)``: a bad address or
a refused login will not change on a retry); 4xx answers, time-outs and connection errors
are retried. With several recipients, one whose address is refused for good does not hold
back the others; a temporary failure retries the message (at least once: someone may get it
twice, with the same ``X-Signoff-Event`` header).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from signoff._errors import DeliveryFailed, UserError
from signoff.notify._base import Message, Sent
from signoff.notify._mail import compose

__all__ = ["EmailChannel", "SmtpTarget", "parse_smtp_url"]


@dataclass(frozen=True, kw_only=True)
class SmtpTarget:
    """Where and how to send, from an ``smtp://`` or ``smtps://`` URL."""

    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    """TLS from the start (``smtps://``)."""
    start_tls: bool
    """STARTTLS after connecting, required (the send fails if the server does not offer it)."""


def parse_smtp_url(url: str) -> SmtpTarget:
    """``SmtpTarget`` of ``url``, or a ``UserError`` saying what is wrong (the password never shown)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise UserError("the SMTP URL must start with smtp:// or smtps:// (e.g. smtp://user:pass@mail.example:587)")
    if not parts.hostname:
        raise UserError("the SMTP URL names no host")
    try:
        explicit_port = parts.port
    except ValueError:
        raise UserError("the SMTP URL's port is not a number") from None
    use_tls = parts.scheme == "smtps"
    port = explicit_port or (465 if use_tls else 25)
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    starttls = query.get("starttls")
    if starttls not in (None, "true", "false", "1", "0", "yes", "no"):
        raise UserError("the SMTP URL's starttls must be true or false")
    start_tls = not use_tls and (starttls in ("true", "1", "yes") or (starttls is None and port == 587))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if user is not None and not (use_tls or start_tls) and not _loopback(parts.hostname):
        raise UserError("the SMTP URL has a user name and password but no TLS: use smtps:// or STARTTLS "
                        "(port 587 or ?starttls=true), so the password is not sent in the clear")
    return SmtpTarget(host=parts.hostname, port=port, username=user, password=password, use_tls=use_tls,
                      start_tls=start_tls)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailChannel:
    """Sends each message to every address in ``to``, one email each (their links are theirs).

    ``tls_context``: the certificates to trust (default: the system's), e.g. for a relay with a
    private CA.
    """

    kind = "email"

    def __init__(self, name: str, *, to: Sequence[str], sender: str, smtp_url: str, timeout: float = 30.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        if isinstance(to, str):
            raise UserError(f"channel {name!r}: to is a list of addresses, not one string")
        if not to:
            raise UserError(f"channel {name!r}: an email channel needs at least one address in to")
        for addr in [*to, sender]:
            if "@" not in addr or any(c in addr for c in "\r\n"):
                raise UserError(f"channel {name!r}: {addr!r} is not an email address")
        try:
            self._target = parse_smtp_url(smtp_url)
        except UserError as exc:
            raise UserError(f"channel {name!r}: {exc}") from None
        self.name = name
        self.to = list(to)
        self.sender = sender
        self.timeout = timeout
        self._tls = tls_context

    async def send(self, message: Message) -> Sent:
        mails = [await compose(message, sender=self.sender, to=addr) for addr in self.to]
        target = self._target
        client = aiosmtplib.SMTP(hostname=target.host, port=target.port, use_tls=target.use_tls,
                                 start_tls=target.start_tls, timeout=self.timeout, tls_context=self._tls,
                                 username=target.username, password=target.password)
        sent: list[str] = []
        refused: dict[str, str] = {}
        try:
            async with client:
                for addr, mail in zip(self.to, mails, strict=True):
                    try:
                        await client.send_message(mail, sender=self.sender, recipients=[addr])
                    except aiosmtplib.SMTPRecipientsRefused as exc:
                        codes = [r.code for r in exc.recipients]
                        if any(c < 500 for c in codes):
                            raise
                        refused[addr] = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                        continue
                    sent.append(addr)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"email {self.name}: recipient refused for now: {_words(exc)}") from exc
        except aiosmtplib.SMTPResponseException as exc:  # sender refused, data refused, login refused...
            raise DeliveryFailed(f"email {self.name}: SMTP {exc.code} {exc.message}", permanent=exc.code >= 500) \
                from exc
        except aiosmtplib.SMTPNotSupported as exc:  # STARTTLS required but not offered: a setup to fix
            raise DeliveryFailed(f"email {self.name}: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:  # connect, time-out, TLS, disconnect
            raise DeliveryFailed(f"email {self.name}: {type(exc).__name__}: {exc}") from exc
        if not sent:
            raise DeliveryFailed(f"email {self.name}: every recipient refused: {refused}", permanent=True)
        detail = f"emailed {', '.join(sent)}"
        if refused:
            detail += f"; refused for good: {', '.join(f'{a} ({w})' for a, w in refused.items())}"
        return Sent(detail=detail)

    async def aclose(self) -> None:
        return None  # one SMTP connection per message, closed after it


def _words(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
