"""Helpers every API route uses: fast JSON in and out, actions from bodies, visibility of tickets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from signoff._codec import state_from_request
from signoff._errors import NotAuthorized, NotFound
from signoff._model import Action, Ticket
from signoff._wire import loads_exact
from signoff.server._auth import Principal
from signoff.server._context import ServerContext, get_context
from signoff.server.api._models import ActionIn, ProblemOut

__all__ = [
    "ERRORS",
    "FastRoute",
    "json_response",
    "load_ticket",
    "or_stop",
    "state_from_body",
    "to_action",
]

T = TypeVar("T")


class _OrjsonRequest(Request):
    """Parses bodies with orjson: faster, and it refuses what cannot be stored (lone surrogates,
    NaN), so such input is a 422 instead of a crash deeper down; integers stay exact (see
    ``signoff._wire.loads_exact``), so one beyond 64 bits is refused, never rounded."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class FastRoute(APIRoute):
    """The API's routes: orjson bodies, and a declared body larger than the server takes is a 413."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit():
                limit = get_context(request).settings.max_request_bytes
                if int(declared) > limit:
                    raise HTTPException(413, f"the request body is {declared} bytes; this server takes at most {limit}")
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data, default=str), status_code=status_code, media_type="application/json")


def _problem(description: str) -> dict[str, Any]:
    return {"model": ProblemOut, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing or unknown token."),
    403: _problem("The token may not do this (wrong kind, tier, or not its agent)."),
    404: _problem("No such ticket (or not this agent's)."),
    422: _problem("The request is not valid; `detail` says what is wrong."),
    503: _problem("The store cannot be reached: nothing was done (fail closed)."),
}


def to_action(principal: Principal, body: ActionIn) -> Action:
    """The Action a body describes, attributed to the token's agent (another agent's name is refused)."""
    agent = body.agent
    if principal.is_agent:
        if agent and agent != principal.name:
            raise NotAuthorized(f"this token acts for agent {principal.name!r}; it cannot act as {agent!r}")
        agent = principal.name
    return Action(name=body.name, args=body.args, confidence=body.confidence, reasoning=body.reasoning,
                  alternatives=tuple(body.alternatives), tags=frozenset(body.tags), external=body.external,
                  agent=agent, context=body.context)


state_from_body = state_from_request
"""The state a submission carries (``state``, or bytes as ``state_b64``): ``signoff._codec``."""


async def load_ticket(ctx: ServerContext, principal: Principal, ticket_id: str) -> Ticket:
    """The ticket, if this principal may see it: agents see only their own (others look absent)."""
    ticket = await ctx.gate.get_ticket(ticket_id)
    if principal.is_agent and ticket.action.agent != principal.name:
        raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
    return ticket


async def or_stop(ctx: ServerContext, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Await ``work`` unless the server starts shutting down first: (finished, result)."""
    if ctx.stopping.is_set():
        if asyncio.iscoroutine(work):
            work.close()
        return False, None
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(ctx.stopping.wait())
    try:
        await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return False, None
    return True, task.result()
