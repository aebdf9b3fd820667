"""Login and logout: the password form (rate-limited, CSRF-checked without a session), the single sign-on
button when ``--oidc-issuer`` is set (``_oidc``), and the session cookie."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from signoff._errors import SignoffError
from signoff._passwords import verify_password
from signoff.server.ui import _csrf
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer, local_path
from signoff.server.ui._session import password_fingerprint
from signoff.store._records import Reviewer

__all__ = ["doors", "login", "login_page", "logout"]

_DUMMY_HASH: str | None = None


async def login_page(ui: InboxUI, request: Request) -> Response:
    """The login form. It never sets or replaces the session cookie (a cross-site link here would
    otherwise log the reviewer out): its CSRF token travels in the login form's own cookie."""
    try:
        session = ui.sessions.read(request)
        if session is not None and session.name is not None and await ui.viewer(request) is not None:
            return RedirectResponse(local_path(request.query_params.get("next")), status_code=303)
    except SignoffError as exc:
        return ui.problem(request, None, exc)
    token = ui.login_tokens.read(request) or ui.login_tokens.new()
    response = ui.render(request, "login.html", None, csrf=token, **doors(ui),
                         next=local_path(request.query_params.get("next")), error="", name="")
    ui.login_tokens.write(response, token)
    return response


async def login(ui: InboxUI, request: Request) -> Response:
    try:
        return await _login(ui, request)
    except SignoffError as exc:
        return ui.problem(request, None, exc)


async def _login(ui: InboxUI, request: Request) -> Response:
    if not getattr(ui.settings, "password_login", True):
        return ui.problem(request, None, HTTPProblem(
            403, "Password login is switched off on this server: use single sign-on on the login page.",
            title="Refused"))
    token = ui.login_tokens.read(request)
    form = await ui.form(request)
    name = form.get("name", "").strip()
    nxt = local_path(form.get("next"))
    if (token is None or not _csrf.origin_ok(request, ui.public_url)
            or not _csrf.token_ok(token, form.get(_csrf.FIELD))):
        return ui.problem(request, None, HTTPProblem(
            403, "The login form expired or was not sent by this site. Nothing was changed: open the login "
                 "page again.", title="Refused"))
    address = request.client.host if request.client else "unknown"
    # The slot is taken before the password is checked (and given back on success), so guesses
    # sent at once cannot all pass the count before the first failure is recorded.
    wait = ui.limiter.reserve(address, name)
    if wait is not None:
        response = ui.render(
            request, "login.html", None, status=429, csrf=token, next=nxt, name=name, **doors(ui),
            error=f"Too many failed logins for this name or from this address. Try again in "
                  f"{int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    reviewer = await ui.gate.get_reviewer(name) if name else None
    ok = await asyncio.to_thread(_check_password, reviewer, form.get("password", ""))
    if not ok or reviewer is None:
        return ui.render(request, "login.html", None, status=401, csrf=token, next=nxt, name=name, **doors(ui),
                         error="Wrong name or password (or the account is disabled).")
    ui.limiter.success(name, address)
    fresh = ui.sessions.new(name=reviewer.name, pw=password_fingerprint(reviewer.password_hash))
    redirect = RedirectResponse(nxt, status_code=303)
    ui.sessions.write(redirect, fresh)
    ui.login_tokens.clear(redirect)
    return redirect


def doors(ui: InboxUI) -> dict[str, Any]:
    """Which ways in the login page offers: single sign-on (shown with the provider's address) and passwords."""
    return {"sso": getattr(ui.settings, "oidc_issuer", None) or "",
            "password_login": bool(getattr(ui.settings, "password_login", True))}


async def logout(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    response = RedirectResponse("/login", status_code=303)
    await ui.sessions.end(response, viewer.session)
    return response


def _check_password(reviewer: Reviewer | None, password: str) -> bool:
    """argon2 verification; an unknown name still costs one verification (no timing oracle on names)."""
    global _DUMMY_HASH
    if reviewer is None or reviewer.disabled or not reviewer.password_hash:
        if _DUMMY_HASH is None:
            from signoff._passwords import hash_password

            _DUMMY_HASH = hash_password(secrets.token_urlsafe(12))
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(reviewer.password_hash, password)
