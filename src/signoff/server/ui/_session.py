"""Reviewer sessions: a signed, timestamped cookie holding who is logged in and their CSRF token.

Why a signed cookie (itsdangerous) rather than a server-side table: several stateless
``signoff serve`` processes can share one database, and any of them must accept a
session another one issued, given the same ``secret_key``. What a signed cookie cannot
do by itself is end early; so the session also carries a fingerprint of the
reviewer's password hash (a password change ends every session of that reviewer on
every server), every request re-reads the reviewer (a disabled reviewer is out at
once), and logout remembers the session id in this process until it would have expired.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site
sends it) and ``Secure`` when the settings say the server is behind TLS.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "Session", "SessionManager", "password_fingerprint"]

COOKIE = "signoff_session"


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


class SessionManager:
    def __init__(self, secret_key: bytes | str, *, max_age: int, secure: bool) -> None:
        self._ser = URLSafeTimedSerializer(secret_key, salt="signoff.ui.session")
        self.max_age = max_age
        self.secure = secure
        self._revoked: dict[str, float] = {}
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

    def revoke(self, response: Response, session: Session | None) -> None:
        """Logout: forget the cookie in the browser and refuse its id here until it would have expired."""
        if session is not None:
            now = time.time()
            with self._lock:
                self._revoked = {k: v for k, v in self._revoked.items() if v > now}
                self._revoked[session.sid] = now + self.max_age
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure)
