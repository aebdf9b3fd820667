"""The inbox page: pending approvals, grouped, filtered and paged; live rows; deciding a group at once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from signoff._model import utcnow
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer, local_path
from signoff.server.ui._views import group_rows, make_row

__all__ = ["decide_group", "inbox", "row_fragment"]

WINDOW = 100
"""Pending tickets read per inbox page (oldest first); grouped, then shown."""
GROUP_PREVIEW = 5
"""Rows shown under a group header in the inbox; the rest are one click away."""
DOUBTS_SHOWN = 20
"""Runs in doubt named above the inbox (the oldest first; the rest after these are recorded)."""


def _filters(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {k: (q.get(k) or "").strip() or None for k in ("agent", "action", "group")}


async def inbox(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    f = _filters(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        raise HTTPProblem(400, "page must be a whole number (1, 2, ...)") from None
    # Only approvals are ever "pending", so counts leave out kind=: SQLite then counts from an index
    # alone. Listing keeps it: the (kind, created_at) index gives the order without a sort.
    filtered = any(f.values())
    total, tickets = await asyncio.gather(
        ui.gate.count_tickets(status="pending", agent=f["agent"], action=f["action"], group=f["group"]),
        ui.gate.list_tickets(status="pending", kind="approval", agent=f["agent"], action=f["action"],
                             group=f["group"], limit=WINDOW, offset=(page - 1) * WINDOW),
    )
    all_pending = await ui.pending_count() if filtered else total
    surges = await ui.gate.surges()
    doubts = await ui.gate.runs_in_doubt(limit=DOUBTS_SHOWN)
    tiers = ui.gate.policy.tiers
    blocks = group_rows((make_row(t, viewer.reviewer, tiers) for t in tickets),
                        limit=None if f["group"] else GROUP_PREVIEW)
    multi = [b for b in blocks if len(b.rows) > 1]
    counts = await asyncio.gather(*(ui.gate.count_tickets(status="pending", agent=f["agent"], group=b.key)
                                    for b in multi))
    for b, n in zip(multi, counts, strict=True):
        b.total = n
    ctx: dict[str, Any] = dict(blocks=blocks, total=total, all_pending=all_pending, page=page, window=WINDOW,
                               first=(page - 1) * WINDOW + 1 if tickets else 0,
                               last=(page - 1) * WINDOW + len(tickets), filters=f, note=ui.read_note(request),
                               agents=sorted({t.action.agent for t in tickets}),
                               actions=sorted({t.action.name for t in tickets}),
                               has_next=page * WINDOW < total, page_url=lambda p: _page_url(f, p),
                               surges=await ui.surge_banner(surges), surging=set(surges), doubts=doubts,
                               doubts_cap=DOUBTS_SHOWN)
    return ui.render(request, "inbox.html", viewer, pending=all_pending, **ctx)


async def row_fragment(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    """One inbox row, for the live page (204 when the ticket is no longer pending or filtered out)."""
    t = await ui.ticket_or_404(request.path_params["ticket_id"])
    f = _filters(request)
    if (t.status != "pending" or t.kind != "approval" or (f["agent"] and t.action.agent != f["agent"])
            or (f["action"] and t.action.name != f["action"]) or (f["group"] and t.group_key != f["group"])):
        return Response(status_code=204)
    row = make_row(t, viewer.reviewer, ui.gate.policy.tiers)
    html = ui.env.get_template("_row.html").render(row=row, csrf=viewer.csrf, now=utcnow(), grouped=False,
                                                   surging=set(await ui.gate.surges()))
    return ui.secure_headers(HTMLResponse(html))


async def decide_group(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
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
    result = await ui.gate.decide_group(key, ticket_ids=ids, reviewer=viewer.name, approve=approve,
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
    return ui.done(request, msg, to=local_path(form.get("back"), "/"),
                   decided=[t.id for t in result.decided], failed=result.failed)


def _page_url(filters: Mapping[str, str | None], page: int) -> str:
    params = {k: v for k, v in filters.items() if v}
    if page > 1:
        params["page"] = str(page)
    return "/?" + urlencode(params) if params else "/"
