"""One-click decision links for email: signed, bound to tickets and one reviewer, expiring, single-use.

A link is ``{public_url}/decide/{token}``. The token is an ``itsdangerous`` signature (the
server's secret key, a salt of its own so no other signed value of the server can pass for
it) over the ticket ids, the reviewer's name and email address, the verdict, an expiry and a
nonce. Anyone holding it may act as that reviewer for exactly that verdict on exactly those
tickets, which is why it expires (by default at the earliest ticket deadline, at most 24 h)
and is used once (``used_key`` names it in the store's revocation list, the same one logged-out
inbox sessions use, so every server on the store refuses it after use). Opening the link
never decides (mail scanners open links); the confirmation page's POST does, through the
Gate, so tiers, four eyes and "not your own" hold as in the inbox.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from signoff._errors import NotFound
from signoff._model import Ticket, utcnow
from signoff._records import Reviewer
from signoff.review._transitions import may_decide

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "SALT",
    "DecideGrant",
    "GateLinks",
    "InvalidLink",
    "link_expiry",
    "sign_decision",
    "used_key",
    "verify_decision",
]

Verdict = Literal["approve", "reject"]
SALT = "signoff.notify.decide-link"
DEFAULT_TTL = timedelta(hours=24)
"""A link lives until the earliest deadline of its tickets, and never longer than this."""
MAX_TTL = timedelta(days=7)
"""No token older than this is read, whatever expiry it claims (a bound on a leaked secret's reach)."""


class InvalidLink(Exception):
    """A decision link that cannot be used; ``reason`` is ``"invalid"`` (tampered, not ours) or ``"expired"``."""

    def __init__(self, reason: Literal["invalid", "expired"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class DecideGrant:
    """What a verified token allows: this reviewer, this verdict, these tickets, until then."""

    ticket_ids: tuple[str, ...]
    reviewer: str
    email: str
    verdict: Verdict
    expires_at: datetime
    used_key: str
    """The token's name in the store's revocation list (see ``used_key``)."""


def _serializer(secret: bytes | str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def used_key(token: str) -> str:
    """The SHA-256 under which a used token is recorded (prefixed: never equal to a session's hash)."""
    return hashlib.sha256(b"signoff.decide-link:" + token.encode()).hexdigest()


def sign_decision(secret: bytes | str, *, ticket_ids: Sequence[str], reviewer: str, email: str,
                  verdict: Verdict, expires_at: datetime) -> str:
    """A token letting ``reviewer`` (at ``email``) give ``verdict`` on ``ticket_ids`` until ``expires_at``."""
    if verdict not in ("approve", "reject"):
        raise ValueError(f"verdict must be 'approve' or 'reject', not {verdict!r}")
    if not ticket_ids:
        raise ValueError("a decision link needs at least one ticket")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = {"t": list(ticket_ids), "r": reviewer, "e": email, "v": verdict,
               "x": int(expires_at.timestamp()), "n": secrets.token_urlsafe(8)}
    token: str = _serializer(secret).dumps(payload)
    return token


def verify_decision(secret: bytes | str, token: str, *, now: datetime | None = None) -> DecideGrant:
    """The grant ``token`` carries, or ``InvalidLink`` when it is not ours, was changed, or has expired.

    Whether it was already used is the caller's question (``used_key`` in the store).
    """
    now = now or utcnow()
    try:
        data: Any = _serializer(secret).loads(token, max_age=int(MAX_TTL.total_seconds()))
    except SignatureExpired:
        raise InvalidLink("expired", "This link has expired.") from None
    except BadSignature:
        raise InvalidLink("invalid", "This link is not valid: it was changed or was not made by this server.") from None
    try:
        ids, reviewer, email, verdict, expiry = data["t"], data["r"], data["e"], data["v"], data["x"]
        ok = (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids) and isinstance(reviewer, str)
              and isinstance(email, str) and verdict in ("approve", "reject") and isinstance(expiry, int))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise InvalidLink("invalid", "This link is not valid.")
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if expires_at <= now:
        raise InvalidLink("expired", "This link has expired.")
    return DecideGrant(ticket_ids=tuple(ids), reviewer=reviewer, email=email, verdict=verdict,
                       expires_at=expires_at, used_key=used_key(token))


def link_expiry(tickets: Sequence[Ticket], *, now: datetime | None = None, ttl: timedelta = DEFAULT_TTL) -> datetime:
    """The earliest deadline of ``tickets``, or ``now + ttl`` if that comes first."""
    now = now or utcnow()
    limit = now + min(ttl, MAX_TTL)
    deadlines = [t.deadline for t in tickets if t.deadline is not None]
    return min([limit, *deadlines])


class _Doors(Protocol):
    """What ``GateLinks`` asks of the gate (``signoff.Gate`` has all three)."""

    @property
    def policy(self) -> Any: ...

    async def find_reviewer(self, *, slack_id: str | None = None, email: str | None = None) -> Reviewer | None: ...

    async def get_ticket(self, ticket_id: str) -> Ticket: ...


class GateLinks:
    """``notify.Links`` for a server: its public URL, its secret key, and the gate to ask who may decide.

    ``decide`` gives a link only to an enabled reviewer with that email address who may decide
    every one of the tickets now (pending, tier, not their own, not already approved by them);
    otherwise None, and the message links to the inbox. The Gate checks again when the link is used.
    """

    def __init__(self, *, public_url: str, secret: bytes | str, gate: _Doors, ttl: timedelta = DEFAULT_TTL) -> None:
        self._base = public_url.rstrip("/")
        self._secret = secret
        self._gate = gate
        self._ttl = ttl

    def inbox(self) -> str:
        return self._base + "/"

    def ticket(self, ticket_id: str) -> str:
        return f"{self._base}/tickets/{quote(ticket_id, safe='')}"

    async def decide(self, ticket_ids: Sequence[str], email: str, verdict: Verdict) -> str | None:
        if not ticket_ids or verdict not in ("approve", "reject"):
            return None
        reviewer = await self._gate.find_reviewer(email=email)
        if reviewer is None or reviewer.disabled:
            return None
        tiers = self._gate.policy.tiers
        tickets: list[Ticket] = []
        for tid in ticket_ids:
            try:
                t = await self._gate.get_ticket(tid)
            except NotFound:
                return None
            if (t.status != "pending" or t.kind != "approval" or may_decide(t, reviewer, tiers) is not None
                    or (verdict == "approve" and reviewer.name in t.approvals)):
                return None
            tickets.append(t)
        expires_at = link_expiry(tickets, ttl=self._ttl)
        token = sign_decision(self._secret, ticket_ids=list(ticket_ids), reviewer=reviewer.name, email=email,
                              verdict=verdict, expires_at=expires_at)
        return f"{self._base}/decide/{token}"


if TYPE_CHECKING:
    from signoff.notify._base import Links

    def _is_links(links: GateLinks) -> Links:  # mypy proves GateLinks implements Links
        return links
