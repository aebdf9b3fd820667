"""The reviewer inbox: server-rendered pages, plain HTML forms, and a few JSON answers for the page's script.

Every page but ``/login`` needs a session; every POST needs the session's CSRF token.
Each form works without JavaScript (a POST, then a redirect or a page that says what
happened); the script only makes the same requests with ``Accept: application/json`` and
updates the page in place. The gate enforces who may decide what; the pages only hide
controls that would fail and turn the gate's errors into clear messages.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from signoff._errors import Conflict, InvalidAction, NotAuthorized, NotFound, SignoffError, UserError
from signoff._model import Ticket, utcnow
from signoff._passwords import verify_password
from signoff.audit import VerifyResult
from signoff.gate import Gate
from signoff.review._transitions import check_mode_switch
from signoff.server.ui import _csrf
from signoff.server.ui._chart import day_range, rate_chart
from signoff.server.ui._hidden import find_hidden
from signoff.server.ui._ratelimit import LoginLimiter
from signoff.server.ui._render import (
    ago,
    args_diff,
    audit_details,
    count_hidden,
    duration,
    hidden_counts,
    json_html,
    pretty_json,
    text_html,
    until,
)
from signoff.server.ui._session import Session, SessionManager, password_fingerprint
from signoff.server.ui._views import DECIDED, group_rows, history_of, make_row, permission
from signoff.store._records import Event, Reviewer

__all__ = ["InboxUI"]

R = TypeVar("R", bound=Response)
TEMPLATES = Path(__file__).parent / "templates"
WINDOW = 100
"""Pending tickets read per inbox page (oldest first); grouped, then shown."""
GROUP_PREVIEW = 5
"""Rows shown under a group header in the inbox; the rest are one click away."""
HISTORY_CAP = 1000
FEED_PAGE = 100
AUDIT_PAGE = 100
SSE_LIFETIME = 120.0
"""An event stream ends after this many seconds and the browser reconnects with Last-Event-ID, so
nothing is missed; a long-lived idle stream through a proxy is renewed before it goes stale."""
_LIVE_FIELDS = ("status", "reviewer", "group", "action", "agent", "tier", "mode", "approvals")
_DUMMY_HASH: str | None = None
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
        self.title = title or {400: "Invalid input", 403: "Not allowed", 404: "Not found",
                               409: "Already decided", 429: "Too many attempts"}.get(status, "Error")


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _local_path(value: str | None, default: str = "/") -> str:
    """Only same-site paths: ``/x`` yes, ``//evil.example`` and ``https://...`` no (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


class InboxUI:
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
        self._verified: tuple[int, VerifyResult] | None = None
        self._notes = URLSafeTimedSerializer(settings.secret_key, salt="signoff.ui.note")

    # -- plumbing ---------------------------------------------------------------------------
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

    async def viewer(self, request: Request) -> Viewer | None:
        session = self.sessions.read(request)
        if session is None or session.name is None or not await self.sessions.live(session):
            return None
        reviewer = await self.gate.get_reviewer(session.name)
        if reviewer is None or reviewer.disabled or password_fingerprint(reviewer.password_hash) != session.pw:
            return None
        return Viewer(session, reviewer)

    def problem(self, request: Request, viewer: Viewer | None, exc: HTTPProblem) -> Response:
        if _wants_json(request):
            return self.secure_headers(JSONResponse({"ok": False, "title": exc.title, "message": exc.message},
                                                    status_code=exc.status))
        return self.render(request, "message.html", viewer, status=exc.status, title=exc.title,
                           message=exc.message, back=_back(request))

    def page(self, handler: Callable[[Request, Viewer], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: a session or a redirect to /login (which comes back here afterwards)."""
        async def endpoint(request: Request) -> Response:
            viewer = await self.viewer(request)
            if viewer is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            try:
                return await handler(request, viewer)
            except HTTPProblem as exc:
                return self.problem(request, viewer, exc)
        return endpoint

    def action(self, handler: Callable[[Request, Viewer, Mapping[str, str]], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
        """A POST: a session, the CSRF token and a same-origin request, checked before anything is read."""
        async def endpoint(request: Request) -> Response:
            viewer = await self.viewer(request)
            if viewer is None:
                if _wants_json(request):
                    return self.secure_headers(JSONResponse(
                        {"ok": False, "title": "Not logged in", "message": "Your session ended: log in again."},
                        status_code=401))
                return RedirectResponse("/login", status_code=303)
            form = await self.form(request)
            submitted = request.headers.get(_csrf.HEADER) or form.get(_csrf.FIELD)
            if not _csrf.origin_ok(request, self.public_url) or not _csrf.token_ok(viewer.csrf, submitted):
                return self.problem(request, viewer, HTTPProblem(
                    403, "This form was not sent by a page of this inbox (its CSRF token is missing or wrong). "
                         "Nothing was changed. Reload the page and try again.", title="Refused"))
            try:
                return await handler(request, viewer, form)
            except HTTPProblem as exc:
                return self.problem(request, viewer, exc)
            except SignoffError as exc:
                return self.problem(request, viewer, self.translate(exc))
        return endpoint

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            return {}
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    @staticmethod
    def translate(exc: SignoffError) -> HTTPProblem:
        if isinstance(exc, NotAuthorized):
            return HTTPProblem(403, f"You may not decide this: {exc.message}", title="Not allowed for your tier"
                               if "tier" in exc.message or "needs a" in exc.message else "Not allowed")
        if isinstance(exc, Conflict):
            return HTTPProblem(409, exc.message[:1].upper() + exc.message[1:] + ".", title="Already decided")
        if isinstance(exc, NotFound):
            return HTTPProblem(404, exc.message)
        if isinstance(exc, (InvalidAction, UserError)):
            return HTTPProblem(400, exc.message)
        return HTTPProblem(500, f"{type(exc).__name__}: {exc.message}")

    async def ticket_or_404(self, ticket_id: str) -> Ticket:
        try:
            return await self.gate.get_ticket(ticket_id)
        except NotFound:
            raise HTTPProblem(404, f"There is no ticket {ticket_id!r}.") from None

    def done(self, request: Request, message: str, *, ticket: Ticket | None = None, to: str = "/",
             **extra: Any) -> Response:
        """Success: JSON for the script, else back to ``to`` with a note the next page shows."""
        if _wants_json(request):
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

    # -- login ------------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        """The login form. It never sets or replaces the session cookie (a cross-site link here would
        otherwise log the reviewer out): its CSRF token travels in the login form's own cookie."""
        session = self.sessions.read(request)
        if session is not None and session.name is not None and await self.viewer(request) is not None:
            return RedirectResponse(_local_path(request.query_params.get("next")), status_code=303)
        token = self.login_tokens.read(request) or self.login_tokens.new()
        response = self.render(request, "login.html", None, csrf=token,
                               next=_local_path(request.query_params.get("next")), error="", name="")
        self.login_tokens.write(response, token)
        return response

    async def login(self, request: Request) -> Response:
        token = self.login_tokens.read(request)
        form = await self.form(request)
        name = form.get("name", "").strip()
        nxt = _local_path(form.get("next"))
        if (token is None or not _csrf.origin_ok(request, self.public_url)
                or not _csrf.token_ok(token, form.get(_csrf.FIELD))):
            return self.problem(request, None, HTTPProblem(
                403, "The login form expired or was not sent by this site. Nothing was changed: open the login "
                     "page again.", title="Refused"))
        address = request.client.host if request.client else "unknown"
        # The slot is taken before the password is checked (and given back on success), so guesses
        # sent at once cannot all pass the count before the first failure is recorded.
        wait = self.limiter.reserve(address, name)
        if wait is not None:
            response = self.render(
                request, "login.html", None, status=429, csrf=token, next=nxt, name=name,
                error=f"Too many failed logins for this name or from this address. Try again in "
                      f"{int(wait) + 1} seconds.")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        reviewer = await self.gate.get_reviewer(name) if name else None
        ok = await asyncio.to_thread(_check_password, reviewer, form.get("password", ""))
        if not ok or reviewer is None:
            return self.render(request, "login.html", None, status=401, csrf=token, next=nxt, name=name,
                               error="Wrong name or password (or the account is disabled).")
        self.limiter.success(name, address)
        fresh = self.sessions.new(name=reviewer.name, pw=password_fingerprint(reviewer.password_hash))
        redirect = RedirectResponse(nxt, status_code=303)
        self.sessions.write(redirect, fresh)
        self.login_tokens.clear(redirect)
        return redirect

    async def logout(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        response = RedirectResponse("/login", status_code=303)
        await self.sessions.end(response, viewer.session)
        return response

    # -- the inbox --------------------------------------------------------------------------
    def _filters(self, request: Request) -> dict[str, str | None]:
        q = request.query_params
        return {k: (q.get(k) or "").strip() or None for k in ("agent", "action", "group")}

    async def inbox(self, request: Request, viewer: Viewer) -> Response:
        f = self._filters(request)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise HTTPProblem(400, "page must be a whole number (1, 2, ...)") from None
        # Only approvals are ever "pending", so counts leave out kind=: SQLite then counts from an index
        # alone. Listing keeps it: the (kind, created_at) index gives the order without a sort.
        filtered = any(f.values())
        total, tickets = await asyncio.gather(
            self.gate.count_tickets(status="pending", agent=f["agent"], action=f["action"], group=f["group"]),
            self.gate.list_tickets(status="pending", kind="approval", agent=f["agent"], action=f["action"],
                                   group=f["group"], limit=WINDOW, offset=(page - 1) * WINDOW),
        )
        all_pending = await self.pending_count() if filtered else total
        tiers = self.gate.policy.tiers
        blocks = group_rows((make_row(t, viewer.reviewer, tiers) for t in tickets),
                            limit=None if f["group"] else GROUP_PREVIEW)
        multi = [b for b in blocks if len(b.rows) > 1]
        counts = await asyncio.gather(*(self.gate.count_tickets(status="pending", agent=f["agent"], group=b.key)
                                        for b in multi))
        for b, n in zip(multi, counts, strict=True):
            b.total = n
        ctx: dict[str, Any] = dict(blocks=blocks, total=total, all_pending=all_pending, page=page, window=WINDOW,
                   first=(page - 1) * WINDOW + 1 if tickets else 0, last=(page - 1) * WINDOW + len(tickets),
                   filters=f, note=self.read_note(request),
                   agents=sorted({t.action.agent for t in tickets}),
                   actions=sorted({t.action.name for t in tickets}),
                   has_next=page * WINDOW < total, page_url=lambda p: _page_url(f, p))
        return self.render(request, "inbox.html", viewer, pending=all_pending, **ctx)

    async def row_fragment(self, request: Request, viewer: Viewer) -> Response:
        """One inbox row, for the live page (204 when the ticket is no longer pending or filtered out)."""
        t = await self.ticket_or_404(request.path_params["ticket_id"])
        f = self._filters(request)
        if (t.status != "pending" or t.kind != "approval" or (f["agent"] and t.action.agent != f["agent"])
                or (f["action"] and t.action.name != f["action"]) or (f["group"] and t.group_key != f["group"])):
            return Response(status_code=204)
        row = make_row(t, viewer.reviewer, self.gate.policy.tiers)
        html = self.env.get_template("_row.html").render(row=row, csrf=viewer.csrf, now=utcnow(), grouped=False)
        return self.secure_headers(HTMLResponse(html))

    # -- one ticket -------------------------------------------------------------------------
    async def ticket_page(self, request: Request, viewer: Viewer) -> Response:
        t = await self.ticket_or_404(request.path_params["ticket_id"])
        return await self._ticket_response(request, viewer, t)

    async def _ticket_response(self, request: Request, viewer: Viewer, t: Ticket, *, status: int = 200,
                               edit_text: str | None = None, edit_error: str = "", diff: Any = None,
                               diff_changed: int = 0) -> Response:
        a = t.action
        earlier, nxt = await asyncio.gather(
            self.gate.list_tickets(kind="approval", agent=a.agent, action=a.name, status=DECIDED,
                                   limit=HISTORY_CAP, newest_first=True),
            self.gate.list_tickets(status="pending", kind="approval", limit=2),
        )
        history = history_of(t, earlier, cap=HISTORY_CAP)
        next_id = next((x.id for x in nxt if x.id != t.id), None)
        hidden = hidden_counts(t)
        return self.render(
            request, "ticket.html", viewer, status=status, t=t, a=a, perm=permission(t, viewer.reviewer,
                                                                                       self.gate.policy.tiers),
            history=history, next_id=next_id, hidden=hidden, hidden_total=sum(hidden.values()),
            edit_text=edit_text if edit_text is not None else pretty_json(dict(t.executable_action.args)),
            edit_error=edit_error, diff=diff, diff_changed=diff_changed, pending=await self.pending_count(),
            note=self.read_note(request),
        )

    @staticmethod
    def parse_args(text: str) -> dict[str, Any]:
        """The edited arguments: a JSON object, or a 400 that says where the JSON is wrong."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HTTPProblem(400, f"The arguments are not valid JSON: {exc.msg} at line {exc.lineno}, "
                                   f"column {exc.colno}.", title="Invalid arguments") from None
        if not isinstance(value, dict):
            raise HTTPProblem(400, f"The arguments must be a JSON object ({{...}}), not {type(value).__name__}.",
                              title="Invalid arguments")
        return value

    async def preview_edit(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        """Show the diff of an edit before it is approved (a fragment for the script, else the whole page)."""
        t = await self.ticket_or_404(request.path_params["ticket_id"])
        text = form.get("args", "")
        try:
            new = self.parse_args(text)
        except HTTPProblem as exc:
            if _wants_json(request):
                raise
            return await self._ticket_response(request, viewer, t, status=400, edit_text=text, edit_error=exc.message)
        diff, changed = args_diff(dict(t.executable_action.args), new)
        if _wants_json(request):
            html = self.env.get_template("_diff.html").render(t=t, diff=diff, changed=changed, csrf=viewer.csrf,
                                                              args_json=json.dumps(new, ensure_ascii=False))
            return self.secure_headers(JSONResponse({"ok": True, "html": html, "changed": changed}))
        return await self._ticket_response(request, viewer, t, edit_text=text, diff=diff, diff_changed=changed)

    async def approve(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        tid = request.path_params["ticket_id"]
        args = self.parse_args(form["args"]) if form.get("args") else None
        t = await self.gate.approve(tid, reviewer=viewer.name, args=args, comment=form.get("comment", "").strip())
        edited = " with edited arguments" if args is not None and t.edited_args is not None else ""
        if t.status == "approved":
            msg = f"Approved {t.action.name} ({t.id}){edited}."
        else:
            msg = (f"Your approval of {t.action.name} ({t.id}){edited} is recorded: {len(t.approvals)} of "
                   f"{t.required_approvals} approvers so far.")
        return self.done(request, msg, ticket=t, to=_local_path(form.get("back"), "/"))

    async def reject(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        tid = request.path_params["ticket_id"]
        feedback = form.get("feedback", "").strip()
        t = await self.gate.reject(tid, reviewer=viewer.name, feedback=feedback)
        return self.done(request, f"Rejected {t.action.name} ({t.id}); the agent receives your feedback.",
                         ticket=t, to=_local_path(form.get("back"), "/"))

    async def decide_group(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        """Approve or reject the rows a group showed: the form names their ids, and only those are decided.

        A similar ticket that arrived after the page was drawn is not among them, so it stays
        pending for the reviewer to see; each named ticket is still checked on its own (pending,
        in this group, this reviewer may decide it).
        """
        key = form.get("group", "")
        approve = form.get("decision") == "approve"
        ids = [x.strip() for x in form.get("tickets", "").split(",") if x.strip()]
        if not key or not ids:
            raise HTTPProblem(400, "The group form does not say which tickets it showed. Nothing was decided; "
                                   "reload the page.", title="Nothing decided")
        result = await self.gate.decide_group(key, ticket_ids=ids, reviewer=viewer.name, approve=approve,
                                              feedback=form.get("feedback", "").strip())
        if not result.decided and result.failed:
            first = next(iter(result.failed.values()))
            raise HTTPProblem(409, f"None of the {len(ids)} tickets could be decided: {first}",
                              title="Nothing decided")
        verb = "Approved" if approve else "Rejected"
        name = result.decided[0].action.name if result.decided else key.split("~")[0]
        msg = f"{verb} {len(result.decided)} of {len(ids)} {name} tickets."
        if result.failed:
            first = next(iter(result.failed.values()))
            msg += f" {len(result.failed)} could not be decided: {first}"
        return self.done(request, msg, to=_local_path(form.get("back"), "/"),
                         decided=[t.id for t in result.decided], failed=result.failed)

    # -- notified actions, suggestions, mode ------------------------------------------------
    async def feed(self, request: Request, viewer: Viewer) -> Response:
        items = await self.gate.list_tickets(kind="notification", limit=FEED_PAGE, newest_first=True)
        return self.render(request, "feed.html", viewer, items=items, pending=await self.pending_count(),
                           note=self.read_note(request))

    async def flag(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        t = await self.gate.flag(request.path_params["ticket_id"], reviewer=viewer.name,
                                 note=form.get("note", "").strip())
        return self.done(request, f"Flagged {t.action.name} ({t.id}).", ticket=t, to="/feed")

    async def suggestions(self, request: Request, viewer: Viewer) -> Response:
        open_, closed = await asyncio.gather(
            self.gate.list_tickets(kind="suggestion", status="suggested", limit=FEED_PAGE, newest_first=True),
            self.gate.list_tickets(kind="suggestion", status=("done", "dismissed"), limit=20, newest_first=True),
        )
        tiers = self.gate.policy.tiers
        return self.render(request, "suggestions.html", viewer, items=open_, closed=closed,
                           pending=await self.pending_count(), note=self.read_note(request),
                           perms={t.id: permission(t.evolve(status="pending"), viewer.reviewer, tiers)
                                  for t in open_})

    async def resolve(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        done = form.get("done") == "1"
        t = await self.gate.resolve_suggestion(request.path_params["ticket_id"], reviewer=viewer.name, done=done,
                                               note=form.get("note", "").strip())
        verb = "Marked done" if done else "Dismissed"
        return self.done(request, f"{verb}: {t.action.name} ({t.id}).", ticket=t, to="/suggestions")

    def may_switch_mode(self, reviewer: Reviewer) -> bool:
        """Whether to offer the mode switch (the Gate enforces it: only the top tier switches modes)."""
        try:
            check_mode_switch(reviewer, tiers=self.gate.policy.tiers)
        except NotAuthorized:
            return False
        return True

    async def set_mode(self, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
        mode = form.get("mode", "")
        new = None if mode in ("", "off", "normal") else mode
        if new is not None and new not in self.gate.policy.modes:
            raise HTTPProblem(400, f"Unknown mode {mode!r}; the policy defines "
                                   f"{', '.join(self.gate.policy.modes) or 'no modes'}.")
        try:
            await self.gate.set_mode_async(new, reviewer=viewer.name)
        except NotAuthorized as exc:
            raise HTTPProblem(403, f"{exc.message[:1].upper()}{exc.message[1:]}. Nothing was changed.",
                              title="Not allowed for your tier") from None
        msg = f"Mode switched to {new}." if new else "Mode switched off: normal rules apply."
        return self.done(request, msg, to=_local_path(form.get("back"), "/"), mode=new)

    # -- audit and insights -----------------------------------------------------------------
    async def audit(self, request: Request, viewer: Viewer) -> Response:
        head = await self.gate.audit_head()
        last = head[0] if head else 0
        try:
            before = int(request.query_params.get("before", last + 1))
        except ValueError:
            raise HTTPProblem(400, "before must be an entry number") from None
        before = max(1, min(before, last + 1))
        after = max(0, before - 1 - AUDIT_PAGE)
        entries = (await self.gate.audit_entries(after=after, limit=before - 1 - after)
                   if before > 1 else [])
        if self._verified is None or self._verified[0] != last:
            self._verified = (last, await self.gate.verify_audit())
        return self.render(request, "audit.html", viewer, entries=list(reversed(entries)),
                           verified=self._verified[1], older=after + 1 if after > 0 else None,
                           newer=before + AUDIT_PAGE if before <= last else None, pending=await self.pending_count())

    async def insights(self, request: Request, viewer: Viewer) -> Response:
        try:
            min_volume = max(1, int(request.query_params.get("min_volume", "20") or 20))
        except ValueError:
            raise HTTPProblem(400, "min_volume must be a whole number of decisions (e.g. 20)") from None
        report = await self.gate.insights(min_volume=min_volume)
        return self.render(request, "insights.html", viewer, report=report, span=day_range(report.timeline),
                           pending=await self.pending_count())

    # -- live events ------------------------------------------------------------------------
    async def events(self, request: Request) -> Response:
        """Server-sent events: small JSON per committed change; the page fetches the HTML it needs."""
        if await self.viewer(request) is None:
            return Response("log in first", status_code=401)
        try:
            last_seen = int(request.headers.get("last-event-id", "0") or 0)
        except ValueError:
            last_seen = 0
        return StreamingResponse(self._stream(request, last_seen), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(self, request: Request, last_seen: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end = loop.time() + SSE_LIFETIME
        stop = _stopping(request)
        yield "retry: 1500\n\n"
        async with self.gate.subscribe() as queue:
            seq = last_seen
            if last_seen:
                # Reconnected: first what happened while the browser was away (from the audit log).
                missed = await self.gate.audit_entries(after=last_seen, limit=500)
                for e in missed:
                    seq = e.seq
                    yield _sse(Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data))
            else:
                yield ": connected\n\n"
            stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
            try:
                while loop.time() < end and not (stopped is not None and stopped.done()):
                    getter = asyncio.ensure_future(queue.get())
                    waiting: set[asyncio.Future[Any]] = {getter} | ({stopped} if stopped is not None else set())
                    done, _ = await asyncio.wait(waiting, timeout=min(self.heartbeat, max(0.05, end - loop.time())),
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        if stopped is None or not stopped.done():
                            yield ": ping\n\n"
                        continue
                    ev = getter.result()
                    if ev.seq > seq:
                        seq = ev.seq
                        yield _sse(ev)
            finally:
                if stopped is not None:
                    stopped.cancel()

    # -- routes -----------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]]:
        return [
            ("/login", self.login_page, ["GET"]),
            ("/login", self.login, ["POST"]),
            ("/logout", self.action(self.logout), ["POST"]),
            ("/", self.page(self.inbox), ["GET"]),
            ("/tickets/{ticket_id}", self.page(self.ticket_page), ["GET"]),
            ("/tickets/{ticket_id}/approve", self.action(self.approve), ["POST"]),
            ("/tickets/{ticket_id}/reject", self.action(self.reject), ["POST"]),
            ("/tickets/{ticket_id}/edit", self.action(self.preview_edit), ["POST"]),
            ("/groups/decide", self.action(self.decide_group), ["POST"]),
            ("/feed", self.page(self.feed), ["GET"]),
            ("/feed/{ticket_id}/flag", self.action(self.flag), ["POST"]),
            ("/suggestions", self.page(self.suggestions), ["GET"]),
            ("/suggestions/{ticket_id}/resolve", self.action(self.resolve), ["POST"]),
            ("/mode", self.action(self.set_mode), ["POST"]),
            ("/audit", self.page(self.audit), ["GET"]),
            ("/insights", self.page(self.insights), ["GET"]),
            ("/ui/events", self.events, ["GET"]),
            ("/ui/rows/{ticket_id}", self.page(self.row_fragment), ["GET"]),
        ]


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


def _back(request: Request) -> str:
    """Where the "back" link of an error page goes: the page the form was on, if it was ours."""
    ref = urlsplit(request.headers.get("referer", ""))
    if ref.netloc and ref.netloc.lower() == request.headers.get("host", "").lower():
        return _local_path(ref.path + (f"?{ref.query}" if ref.query else ""))
    return "/"


def _sse(ev: Event) -> str:
    data: dict[str, Any] = {"seq": ev.seq, "kind": ev.kind, "ticket": ev.ticket_id}
    for key in _LIVE_FIELDS:
        value = ev.data.get(key)
        if isinstance(value, (str, int, float, bool)):
            data[key] = value
    return f"id: {ev.seq}\nevent: change\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stopping(request: Request) -> asyncio.Event | None:
    """The server's "shutting down" event (``create_app`` provides it): open streams then end at once."""
    stop = getattr(getattr(request.app.state, "signoff", None), "stopping", None)
    return stop if isinstance(stop, asyncio.Event) else None


def _page_url(filters: Mapping[str, str | None], page: int) -> str:
    params = {k: v for k, v in filters.items() if v}
    if page > 1:
        params["page"] = str(page)
    return "/?" + urlencode(params) if params else "/"


