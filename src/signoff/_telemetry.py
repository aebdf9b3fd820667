"""OpenTelemetry spans for the gate's steps, when the ``otel`` extra (opentelemetry-api) is installed.

``@traced("signoff.submit")`` on a Gate or RemoteGate method (a coroutine, or a RemoteGate sync
twin, which makes its own HTTP calls) opens a span around each call, with the ticket id
(``signoff.ticket_id``) taken from a ``ticket_id`` argument, the Decision executed, or the
Ticket/Decision returned. Without opentelemetry the decorator returns the function itself, so
an install without the extra pays nothing, not even a wrapper call; the import is tried once,
here. With the API but no tracer provider configured, the call goes straight through too
(checked per call, so a provider set later is picked up).

Trace context crosses from ``Gate.remote`` to the server in the W3C ``traceparent`` header
(``trace_headers()`` on the client, ``TraceMiddleware`` on the server), so an agent's trace
shows the server's work for its request as children.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ENABLED", "TraceMiddleware", "trace_headers", "traced"]

try:
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # the otel extra is not installed
    _trace = None  # type: ignore[assignment]
    _propagate = None  # type: ignore[assignment]

ENABLED = _trace is not None
"""Whether opentelemetry-api is importable (the ``otel`` extra)."""
_IDLE: tuple[type, ...] = (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider) if _trace is not None else ()

F = TypeVar("F", bound=Callable[..., Any])
_TICKET = re.compile(r"tk_[0-9a-f]{16}")


def _ticket_of(value: Any) -> str | None:
    tid = getattr(value, "ticket_id", None) or getattr(value, "id", None)
    return tid if isinstance(tid, str) else None


def traced(name: str) -> Callable[[F], F]:
    """A span called ``name`` around each call of the decorated coroutine function (see module doc)."""

    def decorate(fn: F) -> F:
        if _trace is None:
            return fn
        tracer, provider, idle = _trace.get_tracer("signoff"), _trace.get_tracer_provider, _IDLE

        def opened(span: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            recording: bool = span.is_recording()
            if recording:
                first = kwargs.get("ticket_id", args[1] if len(args) > 1 else None)  # (self, ticket_id, ...)
                tid = first if isinstance(first, str) else getattr(first, "ticket_id", None)  # a Decision
                if isinstance(tid, str):
                    span.set_attribute("signoff.ticket_id", tid)
            return recording

        def closing(span: Any, recording: bool, result: Any) -> Any:
            tid = _ticket_of(result) if recording else None
            if tid is not None:
                span.set_attribute("signoff.ticket_id", tid)
            return result

        if not inspect.iscoroutinefunction(fn):  # a sync twin (RemoteGate's run their own HTTP calls)
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                if type(provider()) in idle:
                    return fn(*args, **kwargs)
                with tracer.start_as_current_span(name) as span:
                    recording = opened(span, args, kwargs)
                    return closing(span, recording, fn(*args, **kwargs))

            return sync_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if type(provider()) in idle:  # no SDK configured (yet): a no-op span would cost ~3 us a call
                return await fn(*args, **kwargs)
            with tracer.start_as_current_span(name) as span:
                recording = opened(span, args, kwargs)
                return closing(span, recording, await fn(*args, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate


def trace_headers() -> dict[str, str]:
    """The current trace context as HTTP headers (``traceparent``, ``tracestate``); empty without otel
    or outside any span."""
    if _propagate is None or _trace is None or type(_trace.get_tracer_provider()) in _IDLE:
        return {}
    carrier: dict[str, str] = {}
    _propagate.inject(carrier)
    return carrier


class TraceMiddleware:
    """ASGI middleware: a server span per HTTP request, child of the caller's ``traceparent`` when
    it sent one. Added by ``create_app`` only when opentelemetry is installed."""

    def __init__(self, app: ASGIApp) -> None:
        assert _trace is not None and _propagate is not None
        self.app = app
        self.tracer = _trace.get_tracer("signoff")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _trace is None or _propagate is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k in (b"traceparent", b"tracestate")}
        parent = _propagate.extract(headers) if headers else None
        path: str = scope.get("path", "")
        found = _TICKET.search(path)
        route = _TICKET.sub("{ticket_id}", path)
        with self.tracer.start_as_current_span(f"{scope.get('method', 'GET')} {route}", context=parent,
                                               kind=_trace.SpanKind.SERVER) as span:
            if span.is_recording():
                span.set_attribute("http.request.method", scope.get("method", ""))
                span.set_attribute("url.path", path)
                if found:
                    span.set_attribute("signoff.ticket_id", found.group())
            await self.app(scope, receive, send)
