"""One ticket's page: what the agent wants and why, its history, an argument editor with a diff; approve, reject."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signoff._allowances import allowable
from signoff._model import Ticket
from signoff._seen import seen_for
from signoff.server.ui._allowances import allow_form
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer, local_path, wants_json
from signoff.server.ui._doubt import doubt_permission
from signoff.server.ui._render import args_diff, hidden_counts, pretty_json
from signoff.server.ui._views import DECIDED, history_of, permission

__all__ = ["approve", "preview_edit", "reject", "ticket_page"]

HISTORY_CAP = 1000
"""Earlier decided requests of the same agent and action read for the history summary."""


async def ticket_page(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    t = await ui.ticket_or_404(request.path_params["ticket_id"])
    return await _ticket_response(ui, request, viewer, t)


async def _ticket_response(ui: InboxUI, request: Request, viewer: Viewer, t: Ticket, *, status: int = 200,
                           edit_text: str | None = None, edit_error: str = "", diff: Any = None,
                           diff_changed: int = 0) -> Response:
    a = t.action
    earlier, nxt, notifications = await asyncio.gather(
        ui.gate.list_tickets(kind="approval", agent=a.agent, action=a.name, status=DECIDED,
                             limit=HISTORY_CAP, newest_first=True),
        ui.gate.list_tickets(status="pending", kind="approval", limit=2),
        ui.gate.list_notifications(ticket_id=t.id, limit=50),
    )
    history = history_of(t, earlier, cap=HISTORY_CAP)
    next_id = next((x.id for x in nxt if x.id != t.id), None)
    hidden = hidden_counts(t)
    return ui.render(
        request, "ticket.html", viewer, status=status, t=t, a=a,
        perm=permission(t, viewer.reviewer, ui.gate.policy.tiers),
        allow=allow_form(ui, t, viewer) if allowable(t) else None,  # the rule Slack's button follows too
        doubt=doubt_permission(t, viewer, ui.gate.policy.tiers),
        history=history, next_id=next_id, hidden=hidden, hidden_total=sum(hidden.values()),
        edit_text=edit_text if edit_text is not None else pretty_json(dict(t.executable_action.args)),
        edit_error=edit_error, diff=diff, diff_changed=diff_changed, pending=await ui.pending_count(),
        note=ui.read_note(request), notifications=notifications, opened=opened_token(ui, t.id, viewer.name),
    )


def _opened_serializer(ui: InboxUI) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ui.settings.secret_key, salt="signoff.ui.opened")


def opened_token(ui: InboxUI, ticket_id: str, reviewer: str) -> str:
    """When this reviewer opened this ticket's page, signed: the decision form sends it back, so the
    time from opening to deciding is the server's own measure (``signoff._seen``)."""
    return _opened_serializer(ui).dumps([ticket_id, reviewer, time.time()])


def seconds_open(ui: InboxUI, form: Mapping[str, str], ticket_id: str, reviewer: str) -> float | None:
    """Seconds since the page the decision came from was served, or None (no token, another ticket or
    reviewer, a bad signature, older than a day): unknown, and the decision goes ahead regardless."""
    try:
        tid, who, at = _opened_serializer(ui).loads(form.get("opened", ""), max_age=86_400)
    except (BadSignature, ValueError, TypeError):
        return None
    if tid != ticket_id or who != reviewer or not isinstance(at, (int, float)):
        return None
    return max(0.0, time.time() - float(at))


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


async def preview_edit(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    """Show the diff of an edit before it is approved (a fragment for the script, else the whole page)."""
    t = await ui.ticket_or_404(request.path_params["ticket_id"])
    text = form.get("args", "")
    try:
        new = parse_args(text)
    except HTTPProblem as exc:
        if wants_json(request):
            raise
        return await _ticket_response(ui, request, viewer, t, status=400, edit_text=text, edit_error=exc.message)
    diff, changed = args_diff(dict(t.executable_action.args), new)
    if wants_json(request):
        html = ui.env.get_template("_diff.html").render(t=t, diff=diff, changed=changed, csrf=viewer.csrf,
                                                        args_json=json.dumps(new, ensure_ascii=False))
        return ui.secure_headers(JSONResponse({"ok": True, "html": html, "changed": changed}))
    return await _ticket_response(ui, request, viewer, t, edit_text=text, diff=diff, diff_changed=changed)


async def approve(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    tid = request.path_params["ticket_id"]
    args = parse_args(form["args"]) if form.get("args") else None
    with seen_for(seconds_open(ui, form, tid, viewer.name)):
        t = await ui.gate.approve(tid, reviewer=viewer.name, args=args, comment=form.get("comment", "").strip())
    edited = " with edited arguments" if args is not None and t.edited_args is not None else ""
    if t.status == "approved":
        msg = f"Approved {t.action.name} ({t.id}){edited}."
    else:
        msg = (f"Your approval of {t.action.name} ({t.id}){edited} is recorded: {len(t.approvals)} of "
               f"{t.required_approvals} approvers so far.")
    return ui.done(request, msg, ticket=t, to=local_path(form.get("back"), "/"))


async def reject(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    tid = request.path_params["ticket_id"]
    feedback = form.get("feedback", "").strip()
    with seen_for(seconds_open(ui, form, tid, viewer.name)):
        t = await ui.gate.reject(tid, reviewer=viewer.name, feedback=feedback)
    return ui.done(request, f"Rejected {t.action.name} ({t.id}); the agent receives your feedback.",
                   ticket=t, to=local_path(form.get("back"), "/"))
