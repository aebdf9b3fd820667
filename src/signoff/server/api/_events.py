"""``GET /api/v1/events``: committed changes as server-sent events.

Each event is one audit entry as it commits (``submitted``, ``approved``, ``rejected``,
``escalated``, ``mode``...)::

    id: 42
    event: approved
    data: {"seq": 42, "kind": "approved", "ticket_id": "tk_...", "data": {...}}

The events come from the store's Notifier (the same wake-ups that end waits), never
from polling the database per client. A client that reconnects with ``Last-Event-ID``
(or ``?after=``) first gets what it missed, from the audit log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse

from signoff.server._auth import ReviewerPrincipal
from signoff.server._context import Ctx
from signoff.server.api._common import ERRORS, FastRoute
from signoff.store._records import Event

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["reviewers"])
_BACKLOG_PAGE = 500


def _frame(seq: int, kind: str, ticket_id: str | None, data: Any) -> bytes:
    body = orjson.dumps({"seq": seq, "kind": kind, "ticket_id": ticket_id, "data": data}, default=str)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), body)


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
    start = _start_from(after, last_event_id)
    settings = ctx.settings

    async def stream() -> AsyncIterator[bytes]:
        async with ctx.gate.subscribe() as queue:
            last = -1
            yield b": signoff events\n\n"
            if start is not None:
                last = start
                while True:
                    page = await ctx.gate.audit_entries(after=last, limit=_BACKLOG_PAGE)
                    for e in page:
                        yield _frame(e.seq, e.kind, e.ticket_id, dict(e.data))
                        last = e.seq
                    if len(page) < _BACKLOG_PAGE:
                        break
            stop = asyncio.ensure_future(ctx.stopping.wait())
            get: asyncio.Future[Event] | None = None
            try:
                while not stop.done():
                    if get is None:
                        get = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait((get, stop), timeout=settings.sse_heartbeat_seconds,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if get not in done:
                        if not stop.done():
                            yield b": keep-alive\n\n"
                        continue
                    ev, get = get.result(), None
                    if ev.seq <= last:
                        continue
                    last = ev.seq
                    yield _frame(ev.seq, ev.kind, ev.ticket_id, dict(ev.data))
            finally:
                for task in (stop, get):
                    if task is not None:
                        task.cancel()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
