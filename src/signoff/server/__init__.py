"""The signoff server: JSON API under /api/v1 (agents and reviewers) and the reviewer inbox at /.

``create_app(gate, settings=...)`` builds the ASGI app around an open Gate; ``signoff
serve`` runs it with uvicorn. The app does not own the gate: whoever opened it closes
it (after the server stopped), and the gate's sweeper applies timeouts meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.responses import HTMLResponse

from signoff.server._settings import ServerSettings

if TYPE_CHECKING:
    from signoff.gate import Gate
    from signoff.notify import Channel

__all__ = ["ServerSettings", "begin_shutdown", "create_app"]

API_PREFIX = "/api/v1"


def create_app(gate: Gate, *, settings: ServerSettings | None = None,
               channels: Mapping[str, Channel] | None = None) -> FastAPI:
    """The ASGI app serving ``gate``: the JSON API, its OpenAPI document, the inbox when installed, and
    the delivery of the policy's notifications (``channels`` replaces the ones the policy would build)."""
    from signoff import __version__
    from signoff.server._context import ServerContext
    from signoff.server._docs import install_docs
    from signoff.server._fast_evaluate import FastEvaluate
    from signoff.server._group_commit import GroupCommit
    from signoff.server._metrics import instrument
    from signoff.server._notifications import Notifications, lifespan
    from signoff.server._principals import Authenticator
    from signoff.server._problems import BodyLimit, install_problem_handlers
    from signoff.server.api import OPS_ROUTER, ROUTERS

    settings = settings or ServerSettings()
    app = FastAPI(
        title="signoff", version=__version__,
        description="A human-in-the-loop approval gate for AI agents: submit actions, wait for decisions, "
                    "review them.",
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(FastEvaluate, path=f"{API_PREFIX}/evaluate", limit=settings.max_request_bytes)
    _trace_requests(app)
    app.state.signoff = ServerContext(gate=gate, settings=settings,
                                      auth=Authenticator(gate, ttl=settings.token_cache_seconds,
                                                         outage_seconds=settings.token_outage_seconds),
                                      submissions=GroupCommit(gate),
                                      notifications=Notifications(gate, settings, channels),
                                      metrics=instrument(gate))
    _observe_deliveries(app)
    install_problem_handlers(app, retry_after=settings.quota_retry_after_seconds)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(OPS_ROUTER)
    from signoff.server._slack import SLACK_ROUTER

    app.include_router(SLACK_ROUTER)  # POST /integrations/slack/interactions
    install_docs(app, f"{API_PREFIX}/docs")
    mount_ui = _find_ui()
    if mount_ui is not None:
        mount_ui(app, gate, settings)
    else:
        app.add_route("/", _no_inbox, include_in_schema=False)
    return app


def _trace_requests(app: FastAPI) -> None:
    """A server span per request, joined to the caller's ``traceparent``: only when opentelemetry is
    installed, FastAPI does not make them itself (its native telemetry, fastapi.telemetry, does),
    and a tracer provider is configured by now (the API's default one records nothing, so an app
    without one skips the middleware and its cost)."""
    import importlib.util

    from signoff._telemetry import ENABLED, TraceMiddleware

    if ENABLED and importlib.util.find_spec("fastapi.telemetry") is None:
        from opentelemetry import trace

        if type(trace.get_tracer_provider()).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider"):
            app.add_middleware(TraceMiddleware)


def _observe_deliveries(app: FastAPI) -> None:
    ctx = app.state.signoff
    if ctx.notifications is not None and ctx.notifications.deliverer is not None and ctx.metrics is not None:
        ctx.notifications.deliverer.observe = ctx.metrics.delivered


def begin_shutdown(app: FastAPI) -> None:
    """Tell open long-polls and event streams to end now (the server is stopping). Idempotent."""
    from signoff.server._context import ServerContext

    ctx = getattr(app.state, "signoff", None)
    if isinstance(ctx, ServerContext):
        ctx.stopping.set()


def _find_ui() -> Any:
    # The inbox lives in signoff.server.ui; an install without it still serves the API.
    # Only its absence is tolerated: an ImportError raised inside it is a bug to show.
    try:
        from signoff.server.ui import mount_ui
    except ModuleNotFoundError as exc:
        if exc.name in ("signoff.server.ui",):
            return None
        raise
    return mount_ui


async def _no_inbox(request: object) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>signoff</title><p>The reviewer inbox is not installed in this "
                        f"build. The API is at <a href={API_PREFIX}/docs>{API_PREFIX}/docs</a>.</p>")
