"""``GET /api/v1/events``: committed changes as server-sent events.

Each event is one audit entry as it commits (``submitted``, ``approved``, ``rejected``,
``escalated``, ``mode``...)::

    id: 42
    event: approved
    data: {"seq": 42, "kind": "approved", "ticket_id": "tk_...", "data": {...}}

A client that reconnects with ``Last-Event-ID`` (or ``?after=``) first gets what it
missed, from the audit log; the loop is ``server._sse``'s, shared with the inbox.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse

from signoff.server._auth import ReviewerPrincipal
from signoff.server._context import Ctx
from signoff.server._sse import event_stream
from signoff.server.api._common import ERRORS, FastRoute
from signoff.store._records import Event

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["reviewers"])


def _frame(ev: Event) -> bytes:
    body = orjson.dumps({"seq": ev.seq, "kind": ev.kind, "ticket_id": ev.ticket_id, "data": dict(ev.data)},
                        default=str)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (ev.seq, ev.kind.encode(), body)


def _start_from(after: int | None, last_event_id: str | None) -> int | None:
    if after is not None:
        return after
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return None


@router.get("/events", summary="Committed changes, live (server-sent events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "An endless event stream; one event per committed change."}})
async def events(
    principal: ReviewerPrincipal, ctx: Ctx,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Replay changes after this sequence.")] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    frames = event_stream(ctx.gate, after=_start_from(after, last_event_id), frame=_frame, stop=ctx.stopping,
                          heartbeat=ctx.settings.sse_heartbeat_seconds, hello=b": signoff events\n\n")
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
