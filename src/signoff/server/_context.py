"""What every request handler of one app shares: the gate, the settings, the token cache, shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from signoff.server._settings import ServerSettings

if TYPE_CHECKING:
    from signoff.gate import Gate
    from signoff.server._group_commit import GroupCommit
    from signoff.server._metrics import Metrics
    from signoff.server._notifications import Notifications
    from signoff.server._principals import Authenticator

__all__ = ["Ctx", "ServerContext", "context", "get_context"]


@dataclass
class ServerContext:
    gate: Gate
    settings: ServerSettings
    auth: Authenticator
    submissions: GroupCommit
    """Single submissions go through here: concurrent ones share a durable commit."""
    notifications: Notifications | None = None
    """The policy's notification channels and the deliverer sending to them."""
    metrics: Metrics | None = None
    """This server's Prometheus counters (``GET /metrics``)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server begins to shut down: long-polls and event streams end at once."""


def get_context(request: Request) -> ServerContext:
    ctx = getattr(request.app.state, "signoff", None)
    if not isinstance(ctx, ServerContext):
        raise RuntimeError("this app was not built by signoff.server.create_app")
    return ctx


async def context(request: Request) -> ServerContext:
    """The dependency form of ``get_context``. Async on purpose: FastAPI runs a plain ``def``
    dependency in a worker thread, which cost a thread hand-off on every request."""
    return get_context(request)


Ctx = Annotated[ServerContext, Depends(context)]
