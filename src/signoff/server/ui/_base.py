"""What every inbox page shares: the UI object, who is logged in, the page and form wrappers, and errors.

Every page but ``/login`` needs a session; every POST needs the session's CSRF token.
Each form works without JavaScript (a POST, then a redirect or a page that says what
happened); the script only makes the same requests with ``Accept: application/json`` and
updates the page in place. The gate enforces who may decide what; the pages only hide
controls that would fail and turn the gate's errors into clear messages, with the status
the API gives the same error (``server._error_map``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from signoff._errors import Conflict, NotAuthorized, NotFound, SignoffError, StoreUnavailable
from signoff._model import Ticket, utcnow
from signoff._via import decided_via
from signoff.audit import VerifyResult
from signoff.gate import Gate
from signoff.review._flood import Surge
from signoff.review._transitions import check_mode_switch
from signoff.server._error_map import public_detail, status_for
from signoff.server.ui import _csrf
from signoff.server.ui._chart import rate_chart
from signoff.server.ui._hidden import find_hidden
from signoff.server.ui._ratelimit import LoginLimiter
from signoff.server.ui._render import (
    ago,
    audit_details,
    count_hidden,
    duration,
    json_html,
    pretty_json,
    text_html,
    until,
)
from signoff.server.ui._session import Session, SessionManager, password_fingerprint
from signoff.store._records import Reviewer

__all__ = ["HTTPProblem", "InboxUI", "Page", "Post", "Viewer", "local_path", "wants_json"]

R = TypeVar("R", bound=Response)
TEMPLATES = Path(__file__).parent / "templates"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


@dataclass(frozen=True)
class Viewer:
    """The logged-in reviewer of a request."""

    session: Session
    reviewer: Reviewer

    @property
    def name(self) -> str:
        return self.reviewer.name

    @property
    def csrf(self) -> str:
        return self.session.csrf


class HTTPProblem(Exception):
    """A request that cannot be served, with the status and the words to show."""

    def __init__(self, status: int, message: str, *, title: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or {400: "Invalid input", 403: "Not allowed", 404: "Not found", 409: "Already decided",
                               422: "Invalid input", 429: "Too many attempts"}.get(status, "Error")


Page = Callable[[Request, Viewer], Awaitable[Response]]
"""A GET handler: the request and who is logged in."""
Post = Callable[[Request, Viewer, Mapping[str, str]], Awaitable[Response]]
"""A POST handler: the request, who is logged in, and the form (already checked for CSRF)."""


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def local_path(value: str | None, default: str = "/") -> str:
    """Only same-site paths: ``/x`` yes, ``//evil.example`` and ``https://...`` no (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def translate(exc: SignoffError, where: str) -> HTTPProblem:
    """The gate's error as a page: the status of the one error map (the API's too), in a reviewer's words."""
    status, detail = status_for(exc), public_detail(exc, where)
    if isinstance(exc, NotAuthorized):
        return HTTPProblem(status, f"You may not decide this: {detail}", title="Not allowed for your tier"
                           if "tier" in detail or "needs a" in detail else "Not allowed")
    if isinstance(exc, Conflict):
        return HTTPProblem(status, detail[:1].upper() + detail[1:] + ".", title="Already decided")
    if isinstance(exc, StoreUnavailable):
        return HTTPProblem(status, detail[:1].upper() + detail[1:] + ". Try again in a moment.",
                           title="Store unavailable")
    return HTTPProblem(status, detail)


class InboxUI:
    """The inbox of one gate: its templates, sessions, login tokens and limits. Pages live in one
    module each (``_inbox``, ``_ticket``, ``_feed``, ``_audit``, ``_login``, ``_mode``, ``_live``)."""

    def __init__(self, gate: Gate, settings: Any) -> None:
        self.gate = gate
        self.settings = settings
        self.sessions = SessionManager(settings.secret_key, max_age=int(settings.session_max_age_seconds),
                                       secure=bool(settings.cookie_secure), revocations=gate)
        self.login_tokens = _csrf.LoginTokens(settings.secret_key, max_age=int(settings.session_max_age_seconds),
                                              secure=bool(settings.cookie_secure))
        self.limiter = LoginLimiter(int(settings.login_max_attempts), float(settings.login_window_seconds))
        self.heartbeat = float(getattr(settings, "sse_heartbeat_seconds", 15.0))
        self.public_url = str(getattr(settings, "public_url", ""))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True,
        )
        self.env.globals.update(json_html=json_html, text_html=text_html, ago=ago, until=until,
                                find_hidden=find_hidden, count_hidden=count_hidden, pretty_json=pretty_json,
                                rate_chart=rate_chart, duration=duration, audit_details=audit_details)
        self.verified: tuple[int, VerifyResult] | None = None
        """The audit page's last chain check, by the sequence number it covered (redone when it grows)."""
        self._notes = URLSafeTimedSerializer(settings.secret_key, salt="signoff.ui.note")

    def render(self, request: Request, template: str, viewer: Viewer | None, status: int = 200,
               **ctx: Any) -> HTMLResponse:
        ctx.setdefault("pending", None)
        ctx.setdefault("note", "")
        ctx.setdefault("can_switch_mode", viewer is not None and self.may_switch_mode(viewer.reviewer))
        csrf = viewer.csrf if viewer else ctx.pop("csrf", "")
        html = self.env.get_template(template).render(
            viewer=viewer, csrf=csrf, path=request.url.path,
            mode=self.gate.mode, modes=list(self.gate.policy.modes), now=utcnow(), **ctx)
        return self.secure_headers(HTMLResponse(html, status_code=status))

    @staticmethod
    def secure_headers(response: R) -> R:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    def may_switch_mode(self, reviewer: Reviewer) -> bool:
        """Whether to offer the mode switch (the Gate enforces it: only the top tier switches modes)."""
        try:
            check_mode_switch(reviewer, tiers=self.gate.policy.tiers)
        except NotAuthorized:
            return False
        return True

    async def viewer(self, request: Request) -> Viewer | None:
        session = self.sessions.read(request)
        if session is None or session.name is None or not await self.sessions.live(session):
            return None
        reviewer = await self.gate.get_reviewer(session.name)
        if reviewer is None or reviewer.disabled or password_fingerprint(reviewer.password_hash) != session.pw:
            return None
        return Viewer(session, reviewer)

    def problem(self, request: Request, viewer: Viewer | None, exc: HTTPProblem | SignoffError) -> Response:
        """An error as the page (or the script's JSON) says it; a gate error gets the API's status."""
        if isinstance(exc, SignoffError):
            exc = translate(exc, request.url.path)
        if wants_json(request):
            return self.secure_headers(JSONResponse({"ok": False, "title": exc.title, "message": exc.message},
                                                    status_code=exc.status))
        return self.render(request, "message.html", viewer, status=exc.status, title=exc.title,
                           message=exc.message, back=_back(request))

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: a session or a redirect to /login (which comes back here afterwards)."""
        async def endpoint(request: Request) -> Response:
            viewer = None
            try:
                viewer = await self.viewer(request)
                if viewer is None:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
                return await handler(request, viewer)
            except (HTTPProblem, SignoffError) as exc:
                return self.problem(request, viewer, exc)
        return endpoint

    def action(self, handler: Post) -> Callable[[Request], Awaitable[Response]]:
        """A POST: a session, the CSRF token and a same-origin request, checked before anything is read."""
        async def endpoint(request: Request) -> Response:
            viewer = None
            try:
                viewer = await self.viewer(request)
                if viewer is None:
                    if wants_json(request):
                        return self.secure_headers(JSONResponse(
                            {"ok": False, "title": "Not logged in", "message": "Your session ended: log in again."},
                            status_code=401))
                    return RedirectResponse("/login", status_code=303)
                form = await self.form(request)
                submitted = request.headers.get(_csrf.HEADER) or form.get(_csrf.FIELD)
                if not _csrf.origin_ok(request, self.public_url) or not _csrf.token_ok(viewer.csrf, submitted):
                    raise HTTPProblem(
                        403, "This form was not sent by a page of this inbox (its CSRF token is missing or wrong). "
                             "Nothing was changed. Reload the page and try again.", title="Refused")
                with decided_via("inbox"):  # the audit and the notifications say where it was decided
                    return await handler(request, viewer, form)
            except (HTTPProblem, SignoffError) as exc:
                return self.problem(request, viewer, exc)
        return endpoint

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            return {}
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    async def ticket_or_404(self, ticket_id: str) -> Ticket:
        try:
            return await self.gate.get_ticket(ticket_id)
        except NotFound:
            raise HTTPProblem(404, f"There is no ticket {ticket_id!r}.") from None

    def done(self, request: Request, message: str, *, ticket: Ticket | None = None, to: str = "/",
             **extra: Any) -> Response:
        """Success: JSON for the script, else back to ``to`` with a note the next page shows."""
        if wants_json(request):
            body: dict[str, Any] = {"ok": True, "message": message, **extra}
            if ticket is not None:
                body.update(ticket_id=ticket.id, status=ticket.status, approvals=len(ticket.approvals),
                            required=ticket.required_approvals)
            return self.secure_headers(JSONResponse(body))
        sep = "&" if "?" in to else "?"
        note = {"note": self._notes.dumps(message[:500])}
        return RedirectResponse(to + sep + urlencode(note), status_code=303)

    def read_note(self, request: Request) -> str:
        """The message of the last action, carried signed in the URL (a forged ?note= shows nothing)."""
        raw = request.query_params.get("note")
        if not raw:
            return ""
        try:
            value = self._notes.loads(raw, max_age=120)
        except BadSignature:
            return ""
        return value if isinstance(value, str) else ""

    async def pending_count(self) -> int:
        return await self.gate.count_tickets(status="pending")

    async def surge_banner(self, surges: Mapping[str, Surge]) -> list[tuple[Surge, int]]:
        """Each surging agent with how many of its tickets are pending now (the banner says so)."""
        counts = await asyncio.gather(*(self.gate.count_tickets(status="pending", agent=a) for a in surges))
        return list(zip(surges.values(), counts, strict=True))


def _back(request: Request) -> str:
    """Where the "back" link of an error page goes: the page the form was on, if it was ours."""
    ref = urlsplit(request.headers.get("referer", ""))
    if ref.netloc and ref.netloc.lower() == request.headers.get("host", "").lower():
        return local_path(ref.path + (f"?{ref.query}" if ref.query else ""))
    return "/"
