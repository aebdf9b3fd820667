"""A run in doubt on the ticket page: "did this run?", and the form that records the answer.

A claimed run that never reported back within its lease is ``unknown``: it may or may not have
happened, and only a person who checks can say. The answer (ran / did not run / re-approve) goes
through ``Gate.record_execution``, which applies the ticket's tier like any decision; the page
only hides a form that would fail.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from signoff._errors import UserError
from signoff._model import Resolution, Ticket
from signoff.review._transitions import may_decide
from signoff.server.ui._base import InboxUI, Viewer, local_path
from signoff.server.ui._views import Permission

__all__ = ["doubt_permission", "record"]

_SAID: dict[str, str] = {
    "ran": "Recorded that {name} ({id}) ran.",
    "not_run": "Recorded that {name} ({id}) did not run.",
    "reapprove": "Re-approved {name} ({id}): it runs again only when the agent executes it again.",
}


def doubt_permission(ticket: Ticket, viewer: Viewer, tiers: list[str] | tuple[str, ...]) -> Permission:
    """May ``viewer`` record what happened to this ticket's run (the rule of ``may_decide``)?"""
    if ticket.execution != "unknown":
        return Permission(False, f"its run is {ticket.execution}")
    refusal = may_decide(ticket, viewer.reviewer, tiers)
    if refusal == "disabled":
        return Permission(False, "your account is disabled")
    if refusal == "own_request":
        return Permission(False, "you requested this action, so someone else must say whether it ran")
    if refusal == "tier":
        return Permission(False, f"needs a {ticket.tier} reviewer; you are {viewer.reviewer.tier or 'without a tier'}")
    return Permission(True)


async def record(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    outcome = form.get("outcome", "")
    if outcome not in _SAID:
        raise UserError(f"outcome must be ran, not_run or reapprove, got {outcome[:40]!r}")
    resolution: Resolution = outcome  # type: ignore[assignment]
    t = await ui.gate.record_execution(request.path_params["ticket_id"], reviewer=viewer.name, outcome=resolution,
                                       note=form.get("note", "").strip())
    return ui.done(request, _SAID[outcome].format(name=t.action.name, id=t.id), ticket=t,
                   to=local_path(form.get("back"), f"/tickets/{t.id}"))
