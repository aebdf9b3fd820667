"""The JSON API under /api/v1: agent endpoints, reviewer endpoints and the event stream."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from signoff.server.api import _agents, _events, _reviewers
from signoff.server.api._common import FastRoute, json_response

__all__ = ["ROUTERS", "router"]


class HealthOut(BaseModel):
    status: str
    version: str


router = APIRouter(route_class=FastRoute)


@router.get("/health", response_model=HealthOut, tags=["server"], summary="Is the server up (no token needed)")
async def health() -> Response:
    from signoff import __version__

    return json_response({"status": "ok", "version": __version__})


ROUTERS = (router, _agents.router, _reviewers.router, _events.router)
"""Included into the app one by one, under /api/v1: one level of routers to match, not two."""
