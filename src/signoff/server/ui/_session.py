"""Reviewer sessions: a signed, timestamped cookie holding who is logged in and their CSRF token.

Why a signed cookie (itsdangerous) rather than a server-side table: several stateless
``signoff serve`` processes can share one database, and any of them must accept a
session another one issued, given the same ``secret_key``. What a signed cookie cannot
do by itself is end early; so the session also carries a fingerprint of the
reviewer's password hash (a password change ends every session of that reviewer on
every server), every request re-reads the reviewer (a disabled reviewer is out at
once), and logout records the session in the store (the SHA-256 of its id, until the cookie
would have expired): every server on the store refuses it from then on, after a restart
too. A revocation seen once is remembered in the process; a session not revoked is asked
about again on every request (one primary-key lookup), so no server trusts a stale answer.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site
sends it) and ``Secure`` when the settings say the server is behind TLS.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "Revocations", "Session", "SessionManager", "password_fingerprint"]

COOKIE = "signoff_session"


class Revocations(Protocol):
    """Where logouts are kept for every server on the store: the Gate's doors of these names."""

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None: ...
    async def session_revoked(self, session_hash: str) -> bool: ...


@dataclass(frozen=True)
class Session:
    """One browser's session; ``name`` is None before login (the login form still needs a CSRF token)."""

    sid: str
    csrf: str
    name: str | None = None
    pw: str | None = None


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: changes when the password changes, reveals nothing."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def session_hash(sid: str) -> str:
    """What the store keeps of a revoked session: its id hashed, so the table names no live cookie."""
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionManager:
    """Signs and reads session cookies; with ``revocations`` (the gate), logouts are kept in the
    store and honoured by every server on it."""

    def __init__(self, secret_key: bytes | str, *, max_age: int, secure: bool,
                 revocations: Revocations | None = None) -> None:
        self._ser = URLSafeTimedSerializer(secret_key, salt="signoff.ui.session")
        self.max_age = max_age
        self.secure = secure
        self._revocations = revocations
        self._revoked: dict[str, float] = {}  # sid -> when its cookie expires anyway
        self._lock = threading.Lock()

    def new(self, *, name: str | None = None, pw: str | None = None) -> Session:
        """A fresh session with a new id and a new CSRF token (issued again at login: no fixation)."""
        return Session(sid=secrets.token_urlsafe(16), csrf=secrets.token_urlsafe(32), name=name, pw=pw)

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._ser.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        sid, csrf = data.get("sid"), data.get("csrf")
        if not isinstance(sid, str) or not isinstance(csrf, str):
            return None
        with self._lock:
            if sid in self._revoked:
                return None
        name, pw = data.get("n"), data.get("pw")
        return Session(sid=sid, csrf=csrf, name=name if isinstance(name, str) else None,
                       pw=pw if isinstance(pw, str) else None)

    def write(self, response: Response, session: Session) -> None:
        value = self._ser.dumps({"sid": session.sid, "csrf": session.csrf, "n": session.name, "pw": session.pw})
        response.set_cookie(COOKIE, value, max_age=self.max_age, path="/", httponly=True, samesite="strict",
                            secure=self.secure)

    async def live(self, session: Session) -> bool:
        """False once the session was logged out, here or on any server sharing the store. A store
        that cannot answer raises StoreUnavailable: the request fails closed rather than let it in."""
        with self._lock:
            if session.sid in self._revoked:
                return False
        if self._revocations is None:
            return True
        if await self._revocations.session_revoked(session_hash(session.sid)):
            self._remember(session.sid)
            return False
        return True

    async def end(self, response: Response, session: Session | None) -> None:
        """Logout for good: recorded in the store first (every server refuses the cookie from then
        on, after a restart too), then here and in the browser."""
        if session is not None and self._revocations is not None:
            expires = datetime.fromtimestamp(time.time() + self.max_age, UTC)
            await self._revocations.revoke_session(session_hash(session.sid), expires_at=expires)
        self.revoke(response, session)

    def revoke(self, response: Response, session: Session | None) -> None:
        """Forget the cookie in the browser and refuse its id in this process until it would have
        expired (``end`` also records it in the store, for every server)."""
        if session is not None:
            self._remember(session.sid)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure)

    def _remember(self, sid: str) -> None:
        now = time.time()
        with self._lock:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
            self._revoked[sid] = now + self.max_age
