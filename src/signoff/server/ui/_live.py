"""``/ui/events``: the inbox's live updates, server-sent through the server's one event loop (``server._sse``).

Each event is small JSON (what changed, no HTML); the page fetches the rows it needs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from signoff._errors import SignoffError
from signoff.server._sse import event_stream
from signoff.server.ui._base import InboxUI
from signoff.store._records import Event

__all__ = ["events"]

SSE_LIFETIME = 120.0
"""An event stream ends after this many seconds and the browser reconnects with Last-Event-ID, so
nothing is missed; a long-lived idle stream through a proxy is renewed before it goes stale."""
_LIVE_FIELDS = ("status", "reviewer", "group", "action", "agent", "tier", "mode", "approvals")


async def events(ui: InboxUI, request: Request) -> Response:
    try:
        viewer = await ui.viewer(request)
    except SignoffError as exc:
        return ui.problem(request, None, exc)
    if viewer is None:
        return Response("log in first", status_code=401)
    try:
        last_seen = int(request.headers.get("last-event-id", "0") or 0)
    except ValueError:
        last_seen = 0
    frames = event_stream(ui.gate, after=last_seen or None, frame=_frame, heartbeat=ui.heartbeat,
                          stop=_stopping(request), hello=b"retry: 1500\n\n", lifetime=SSE_LIFETIME)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _frame(ev: Event) -> bytes:
    data: dict[str, Any] = {"seq": ev.seq, "kind": ev.kind, "ticket": ev.ticket_id}
    for key in _LIVE_FIELDS:
        value = ev.data.get(key)
        if isinstance(value, (str, int, float, bool)):
            data[key] = value
    return b"id: %d\nevent: change\ndata: %s\n\n" % (ev.seq, orjson.dumps(data))


def _stopping(request: Request) -> asyncio.Event | None:
    """The server's "shutting down" event (``create_app`` provides it): open streams then end at once."""
    stop = getattr(getattr(request.app.state, "signoff", None), "stopping", None)
    return stop if isinstance(stop, asyncio.Event) else None
