"""The one-click email links: ``GET /decide/{token}`` confirms, ``POST /decide/{token}`` decides.

The token (``signoff.notify._links``) is the credential: no session is needed, so a reviewer
can decide from their phone's mail app. A GET only shows what would be decided, never
decides: mail scanners and link previews open every link. The POST goes back to the same
URL; it is refused when the browser says it comes from another site (``Origin`` or
``Sec-Fetch-Site``), decides through the Gate as the reviewer the link is bound to (so
tiers, four eyes and "not your own" hold as everywhere), and then marks the token used in
the store, so a second use is refused on every server. Every failure is a page with a 4xx
status that says what happened.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signoff._errors import NotFound, SignoffError
from signoff._model import Ticket
from signoff._records import Reviewer
from signoff._via import decided_via
from signoff.notify._links import DecideGrant, InvalidLink, verify_decision
from signoff.server.ui import _csrf
from signoff.server.ui._base import HTTPProblem, InboxUI, translate
from signoff.server.ui._render import hidden_counts
from signoff.server.ui._views import permission

__all__ = ["confirm", "decide"]

_FEEDBACK_MAX = 10_000


async def confirm(ui: InboxUI, request: Request) -> Response:
    """The confirmation page: the tickets as the inbox shows them and one button (GET: decides nothing)."""
    try:
        grant, reviewer = await _grant(ui, request)
        tickets = await _tickets(ui, grant)
    except (HTTPProblem, SignoffError) as exc:
        return _problem(ui, request, exc)
    perms = [permission(t, reviewer, ui.gate.policy.tiers) for t in tickets]
    blocked = [(t, p.why_not) for t, p in zip(tickets, perms, strict=True) if not p.can]
    status = 200 if len(blocked) < len(tickets) else (409 if all(t.status != "pending" for t in tickets) else 403)
    return _page(ui, request, status, grant=grant, reviewer=reviewer, tickets=tickets, blocked=blocked, result=None)


async def _decide(ui: InboxUI, grant: DecideGrant, approve: bool, feedback: str) -> tuple[list[Ticket], dict[str, str]]:
    if len(grant.ticket_ids) == 1:
        tid = grant.ticket_ids[0]
        if approve:
            return [await ui.gate.approve(tid, reviewer=grant.reviewer, comment=feedback)], {}
        return [await ui.gate.reject(tid, reviewer=grant.reviewer, feedback=feedback)], {}
    result = await ui.gate.decide_many(grant.ticket_ids, reviewer=grant.reviewer, approve=approve, feedback=feedback)
    return result.decided, result.failed


async def decide(ui: InboxUI, request: Request) -> Response:
    """Decide as the link's reviewer, once; show what happened."""
    try:
        if not _same_site(request, ui.public_url):
            raise HTTPProblem(403, "This form was not sent from this server's confirmation page. Nothing was "
                                   "decided.", title="Refused")
        grant, reviewer = await _grant(ui, request)
        form = await ui.form(request)
        feedback = form.get("feedback", "").strip()[:_FEEDBACK_MAX]
        approve = grant.verdict == "approve"
        with decided_via("email"):
            decided, failed = await _decide(ui, grant, approve, feedback)
        if decided:
            await ui.gate.revoke_session(grant.used_key, expires_at=grant.expires_at)
        tickets = await _tickets(ui, grant)
    except (HTTPProblem, SignoffError) as exc:
        return _problem(ui, request, exc)
    blocked = [(t, failed[t.id]) for t in tickets if t.id in failed]
    return _page(ui, request, 200 if decided else 409, grant=grant, reviewer=reviewer, tickets=tickets,
                 blocked=blocked, result=decided)


async def _grant(ui: InboxUI, request: Request) -> tuple[DecideGrant, Reviewer]:
    """The token's grant, refused when invalid, expired, used, or its reviewer is gone or changed address."""
    token = request.path_params["token"]
    try:
        grant = verify_decision(ui.settings.secret_key, token)
    except InvalidLink as exc:
        if exc.reason == "expired":
            raise HTTPProblem(410, "This link has expired. Open the inbox to decide.", title="Link expired") from None
        raise HTTPProblem(400, str(exc), title="Invalid link") from None
    if await ui.gate.session_revoked(grant.used_key):
        raise HTTPProblem(410, "This link was already used: each link decides once. Open the inbox to see the "
                               "ticket.", title="Link already used")
    reviewer = await ui.gate.get_reviewer(grant.reviewer)
    if reviewer is None or reviewer.disabled or (reviewer.email or "").lower() != grant.email.lower():
        raise HTTPProblem(403, "This link's reviewer no longer exists, is disabled, or has another email address "
                               "now.", title="Link no longer valid")
    return grant, reviewer


async def _tickets(ui: InboxUI, grant: DecideGrant) -> list[Ticket]:
    out = []
    for tid in grant.ticket_ids:
        try:
            out.append(await ui.gate.get_ticket(tid))
        except NotFound:
            raise HTTPProblem(404, f"Ticket {tid!r} no longer exists.") from None
    return out


def _same_site(request: Request, public_url: str) -> bool:
    """The inbox's origin check, plus ``Sec-Fetch-Site`` (sent by every current browser, also without Origin)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    return _csrf.origin_ok(request, public_url)


def _problem(ui: InboxUI, request: Request, exc: HTTPProblem | SignoffError) -> Response:
    if isinstance(exc, SignoffError):
        exc = translate(exc, request.url.path)
    return ui.render(request, "message.html", None, status=exc.status, title=exc.title, message=exc.message,
                     back="/")


def _page(ui: InboxUI, request: Request, status: int, **ctx: object) -> Response:
    tickets = ctx["tickets"]
    assert isinstance(tickets, list)
    hidden = {t.id: sum(hidden_counts(t).values()) for t in tickets}
    # The URL is a credential: the inbox's Referrer-Policy (same-origin) keeps it from other sites.
    # Not no-referrer: with it, browsers send "Origin: null" on the form's POST, which is refused.
    return ui.render(request, "decide.html", None, status=status, hidden=hidden, **ctx)
