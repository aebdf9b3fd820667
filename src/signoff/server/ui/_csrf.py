"""CSRF protection: a synchronizer token kept in the session and required on every POST.

Forms carry it in a hidden ``csrf_token`` field; the page's scripts send it in the
``X-CSRF-Token`` header. A POST without it, or with another one, is refused with 403
before anything is read or changed. The ``SameSite=Strict`` cookie already keeps other
sites from sending the session; the token is the second, independent lock, and an
``Origin`` header naming another site is refused too.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = ["FIELD", "HEADER", "origin_ok", "token_ok"]

FIELD = "csrf_token"
HEADER = "x-csrf-token"


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
