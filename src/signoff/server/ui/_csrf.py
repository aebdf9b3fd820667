"""CSRF protection: a synchronizer token kept in the session and required on every POST.

Forms carry it in a hidden ``csrf_token`` field; the page's scripts send it in the
``X-CSRF-Token`` header. A POST without it, or with another one, is refused with 403
before anything is read or changed. The ``SameSite=Strict`` cookie already keeps other
sites from sending the session; the token is the second, independent lock, and an
``Origin`` header naming another site is refused too.

The login form has no session yet, so its token lives in a cookie of its own
(``LoginTokens``, path ``/login``). Why not a pre-login session: a link from another site
to ``/login`` arrives without the ``SameSite=Strict`` session cookie, yet the browser
stores whatever the answer sets; issuing a session there logged the reviewer out. Only a
successful ``POST /login`` sets the session cookie.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["FIELD", "HEADER", "LOGIN_COOKIE", "LoginTokens", "origin_ok", "token_ok"]

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "signoff_login"


class LoginTokens:
    """The login form's CSRF token: signed, in the ``signoff_login`` cookie, sent to ``/login`` only."""

    def __init__(self, secret_key: bytes | str, *, max_age: int, secure: bool) -> None:
        self._ser = URLSafeTimedSerializer(secret_key, salt="signoff.ui.login")
        self.max_age = max_age
        self.secure = secure

    def read(self, request: Request) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw:
            return None
        try:
            token = self._ser.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        return token if isinstance(token, str) and token else None

    @staticmethod
    def new() -> str:
        return secrets.token_urlsafe(32)

    def write(self, response: Response, token: str) -> None:
        response.set_cookie(LOGIN_COOKIE, self._ser.dumps(token), max_age=self.max_age, path="/login",
                            httponly=True, samesite="strict", secure=self.secure)

    def clear(self, response: Response) -> None:
        response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict", secure=self.secure)


def token_ok(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison; a missing token on either side is a failure."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def origin_ok(request: Request, public_url: str = "") -> bool:
    """False when the browser says the request comes from another origin than this server.

    This server is the ``Host`` the request was sent to, or the configured public URL (a
    reverse proxy may rewrite ``Host``). No ``Origin`` header at all passes: older browsers
    omit it on same-origin form posts, and the token check still applies.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # "null" comes from sandboxed frames and file: pages: refuse
    netloc = urlsplit(origin).netloc.lower()
    allowed = {request.headers.get("host", "").lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return netloc in allowed
