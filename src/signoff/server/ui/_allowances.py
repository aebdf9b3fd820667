"""Standing approvals in the inbox: "Approve and always allow" on a ticket, and the Allowances page
(list, confirm for four-eyes rules, revoke). Every check is the Gate's; the page only hides controls
that would fail, and every form goes through ``InboxUI.action`` (session, CSRF, same origin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from signoff._allowances import EXPIRIES, propose_condition
from signoff._model import Ticket, utcnow
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer

__all__ = ["allow", "allow_form", "allowances_page", "confirm", "revoke"]

ENDED_SHOWN = 20
_EXPIRY_LABELS = {"1h": "1 hour", "1d": "1 day", "7d": "7 days", "never": "until revoked"}


def allow_form(ui: InboxUI, t: Ticket, viewer: Viewer) -> dict[str, Any]:
    """What the ticket page's "Approve and always allow" control offers: the condition proposed from the
    arguments that would run, the expiries, and "any agent" for the top tier only."""
    tiers = ui.gate.policy.tiers
    return {"proposal": propose_condition(t.executable_action.args),
            "expiries": [(k, _EXPIRY_LABELS[k]) for k in EXPIRIES], "default": "1d",
            "any_agent": not tiers or viewer.reviewer.tier == tiers[-1]}


async def allow(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    tid = request.path_params["ticket_id"]
    expires = form.get("expires", "1d")
    if expires not in EXPIRIES:
        raise HTTPProblem(400, f"Unknown expiry {expires!r}; choose one of {', '.join(EXPIRIES)}.")
    made = await ui.gate.allow(tid, reviewer=viewer.name, condition=form.get("condition", "").strip() or None,
                               expires=expires, any_agent=form.get("scope") == "any",
                               comment=form.get("comment", "").strip())
    if made.status() == "pending":
        msg = (f"Your approval is recorded and allowance {made.id} waits for {made.required - len(made.reviewers)} "
               "more reviewer(s) to confirm it on the Allowances page.")
    else:
        msg = f"Approved {made.action}, and allowed from now on ({made.id})."
    return ui.done(request, msg, to="/allowances", allowance_id=made.id, allowance_status=made.status())


async def allowances_page(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    every = await ui.gate.list_allowances(include_ended=True)
    now = utcnow()
    standing = [a for a in every if a.status(now) in ("active", "pending")]
    ended = [a for a in reversed(every) if a.status(now) in ("expired", "revoked")][:ENDED_SHOWN]
    return ui.render(request, "allowances.html", viewer, standing=standing, ended=ended,
                     pending=await ui.pending_count(), note=ui.read_note(request))


async def confirm(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    made = await ui.gate.confirm_allowance(request.path_params["allowance_id"], reviewer=viewer.name)
    return ui.done(request, f"Allowance {made.id} is {made.status()} ({len(made.reviewers)} of {made.required} "
                            "reviewers).", to="/allowances")


async def revoke(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    made = await ui.gate.revoke_allowance(request.path_params["allowance_id"], reviewer=viewer.name)
    return ui.done(request, f"Revoked allowance {made.id}: {made.action} asks a reviewer again.", to="/allowances")
