"""What every request handler of one app shares: the gate, the settings, the token cache, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request

from signoff.server._settings import ServerSettings

if TYPE_CHECKING:
    from signoff.gate import Gate
    from signoff.server._group_commit import GroupCommit
    from signoff.server._principals import Authenticator

__all__ = ["Ctx", "ServerContext", "context", "get_context"]

T = TypeVar("T")


@dataclass
class ServerContext:
    gate: Gate
    settings: ServerSettings
    auth: Authenticator
    submissions: GroupCommit
    """Single submissions go through here: concurrent ones share a durable commit."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server begins to shut down: long-polls and event streams end at once."""

    async def store(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a store read where the gate runs its store calls (possibly right here)."""
        # The Gate has no public door to its store for reads it does not wrap (token lookups,
        # counts, audit pages); its engine is the one place store coroutines may run.
        return await self.gate._engine.run(coro)

    async def off_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a gate call that writes on the gate's engine thread, never on the server's loop.

        A durable commit waits for an fsync (0.3-1 ms here, more on a busy disk); on the server's
        event loop that would stall every connection meanwhile."""
        engine = self.gate._engine
        run_here = getattr(engine, "run_here", None)
        return await (run_here(coro) if run_here is not None else engine.run(coro))


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
