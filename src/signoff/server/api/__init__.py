"""The JSON API under /api/v1: agent endpoints, reviewer endpoints and the event stream."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from signoff.server._context import Ctx
from signoff.server._problems import problem_response
from signoff.server.api import _agents, _allowances, _events, _hooks, _reviewers
from signoff.server.api._common import ERRORS, FastRoute, json_response

__all__ = ["OPS_ROUTER", "ROUTERS", "router"]

log = logging.getLogger("signoff.server")


class HealthOut(BaseModel):
    status: str
    version: str
    checks: dict[str, str]


class LiveOut(BaseModel):
    status: str


router = APIRouter(route_class=FastRoute)
OPS_ROUTER = APIRouter(route_class=FastRoute)
"""``/healthz`` and ``/readyz`` at the root, where orchestrators look for them."""


async def _ready(ctx: Ctx) -> Response:
    """Ask the store for one round trip, bounded by ``ready_timeout_seconds``.

    The 503 says only that the store did not answer: the reason (a driver message naming the
    database user, host and database) goes to the server's log, never to an unauthenticated caller.
    """
    from signoff import __version__

    timeout = ctx.settings.ready_timeout_seconds
    try:
        await asyncio.wait_for(ctx.gate.ping(), timeout)
    except Exception as exc:  # any failure means not ready; the log has which
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("readiness check: the store did not answer (%s)", reason)
        if ctx.metrics is not None:
            ctx.metrics.store_errors.labels("ready").inc()
        return problem_response(
            503, "the store did not answer; nothing can be submitted or decided until it does (the server's log "
                 "says why)", error="StoreUnavailable", extra={"checks": {"store": "unavailable"}})
    return json_response({"status": "ok", "version": __version__, "checks": {"store": "ok"}})


@router.get("/health", response_model=HealthOut, tags=["server"], responses={503: ERRORS[503]},
            summary="Is the server up and does its store answer (no token needed)")
async def health(ctx: Ctx) -> Response:
    return await _ready(ctx)


@OPS_ROUTER.get("/readyz", response_model=HealthOut, tags=["server"], responses={503: ERRORS[503]},
                summary="Readiness: the store answers a round trip (no token needed)")
async def readyz(ctx: Ctx) -> Response:
    return await _ready(ctx)


@OPS_ROUTER.get("/healthz", response_model=LiveOut, tags=["server"],
                summary="Liveness: the process serves requests; the store is not asked (no token needed)")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@OPS_ROUTER.get("/metrics", tags=["server"], responses={200: {"content": {"text/plain": {}}}, 401: ERRORS[401]},
                summary="Prometheus metrics of this server (the metrics token or a reviewer token, unless "
                        "--metrics-public)")
async def metrics(request: Request, ctx: Ctx) -> Response:
    from signoff.server._metrics import CONTENT_TYPE_LATEST, authorize

    await authorize(request, ctx.settings, ctx.auth)
    assert ctx.metrics is not None
    body = await ctx.metrics.render(ctx.gate, timeout=ctx.settings.ready_timeout_seconds)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


ROUTERS = (router, _agents.router, _reviewers.router, _events.router, _hooks.router, _allowances.router)
"""Included into the app one by one, under /api/v1: one level of routers to match, not two."""
