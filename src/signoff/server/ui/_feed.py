"""The feed of actions that ran under ``notify`` (flag one for a closer look) and the suggestions
a human executes by hand (mark done or dismiss)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from signoff.server.ui._base import InboxUI, Viewer
from signoff.server.ui._views import permission

__all__ = ["feed", "flag", "resolve", "suggestions"]

FEED_PAGE = 100
"""Newest notified actions (and open suggestions) shown per page."""


async def feed(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    items = await ui.gate.list_tickets(kind="notification", limit=FEED_PAGE, newest_first=True)
    return ui.render(request, "feed.html", viewer, items=items, pending=await ui.pending_count(),
                     note=ui.read_note(request), surges=await ui.surge_banner(await ui.gate.surges()))


async def flag(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    t = await ui.gate.flag(request.path_params["ticket_id"], reviewer=viewer.name, note=form.get("note", "").strip())
    return ui.done(request, f"Flagged {t.action.name} ({t.id}).", ticket=t, to="/feed")


async def suggestions(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    open_, closed = await asyncio.gather(
        ui.gate.list_tickets(kind="suggestion", status="suggested", limit=FEED_PAGE, newest_first=True),
        ui.gate.list_tickets(kind="suggestion", status=("done", "dismissed"), limit=20, newest_first=True),
    )
    tiers = ui.gate.policy.tiers
    return ui.render(request, "suggestions.html", viewer, items=open_, closed=closed,
                     pending=await ui.pending_count(), note=ui.read_note(request),
                     perms={t.id: permission(t.evolve(status="pending"), viewer.reviewer, tiers) for t in open_})


async def resolve(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    done = form.get("done") == "1"
    t = await ui.gate.resolve_suggestion(request.path_params["ticket_id"], reviewer=viewer.name, done=done,
                                         note=form.get("note", "").strip())
    verb = "Marked done" if done else "Dismissed"
    return ui.done(request, f"{verb}: {t.action.name} ({t.id}).", ticket=t, to="/suggestions")
