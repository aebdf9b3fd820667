"""Errors as RFC 9457 problem details: how the JSON API answers a failure.

Every error the API returns is ``application/problem+json``::

    {"type": "urn:signoff:problem:conflict", "title": "Conflict", "status": 409,
     "detail": "ticket tk_... is already approved (by alice)", "instance": "/api/v1/tickets/tk_.../approve",
     "error": "Conflict", "attrs": {"ticket_id": "tk_...", "status": "approved"}}

``error`` names the signoff exception class and ``attrs`` carries its attributes, so
``Gate.remote`` raises the very exception a local Gate would. Statuses and the words
shown come from ``_error_map``, which the inbox answers from too.
"""

from __future__ import annotations

import http
import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff._errors import SignoffError, StoreUnavailable
from signoff._wire import error_attrs
from signoff.server._error_map import Unauthenticated, public_detail, status_for

__all__ = ["PROBLEM_JSON", "BodyLimit", "install_problem_handlers", "problem_response", "signoff_problem"]

log = logging.getLogger("signoff.server")
PROBLEM_JSON = "application/problem+json"


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _wire_name(exc: SignoffError) -> str:
    """The public class to report: our private subclasses travel as their public parent."""
    if isinstance(exc, Unauthenticated):
        return "NotAuthorized"
    return type(exc).__name__


def problem_response(status: int, detail: str, *, instance: str = "", error: str | None = None,
                     attrs: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None,
                     headers: Mapping[str, str] | None = None) -> Response:
    title = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": f"urn:signoff:problem:{_kebab(error)}" if error else "about:blank",
        "title": title, "status": status, "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if error:
        body["error"] = error
    if attrs:
        body["attrs"] = dict(attrs)
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON,
                    headers=dict(headers or {}))


def signoff_problem(exc: SignoffError, instance: str, *, retry_after: int = 30) -> Response:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="signoff"'
    elif status == 429:
        headers["Retry-After"] = str(retry_after)
    attrs = None if isinstance(exc, StoreUnavailable) else error_attrs(exc)
    return problem_response(status, public_detail(exc, instance), instance=instance, error=_wire_name(exc),
                            attrs=attrs, headers=headers)


def _loc(loc: Any) -> str:
    return ".".join(str(part) for part in loc) if isinstance(loc, (list, tuple)) else str(loc)


def install_problem_handlers(app: FastAPI, *, retry_after: int = 30) -> None:
    """Route signoff errors, validation errors, HTTP errors and crashes to problem+json."""

    async def on_signoff(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignoffError)
        return signoff_problem(exc, request.url.path, retry_after=retry_after)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for e in exc.errors():
            msg = str(e.get("msg", ""))
            if e.get("type") == "json_invalid":
                reason = (e.get("ctx") or {}).get("error")
                msg = f"the body is not valid JSON ({reason})" if reason else "the body is not valid JSON"
            errors.append({"loc": _loc(e.get("loc", ())), "msg": msg, "type": str(e.get("type", ""))})
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]) or "the request is not valid"
        if len(errors) > 5:
            detail += f"; and {len(errors) - 5} more"
        return problem_response(422, detail, instance=request.url.path, error="UserError",
                                extra={"errors": errors})

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).description
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        error = {401: "NotAuthorized", 403: "NotAuthorized", 404: "NotFound", 409: "Conflict"}.get(exc.status_code)
        if error is None and 400 <= exc.status_code < 500:
            error = "UserError"
        return problem_response(exc.status_code, detail, instance=request.url.path, error=error,
                                headers=exc.headers)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "the server failed to handle this request; the error is in its log",
                                instance=request.url.path)

    app.add_exception_handler(SignoffError, on_signoff)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with a 413 problem, counting as they stream in
    (a chunked upload has no Content-Length to check up front). The error is raised from inside
    the route's body read, so the app's handlers render it like any other problem."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        limit = self.limit

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, f"the request body is larger than this server takes "
                                                      f"({limit} bytes)")
            return message

        await self.app(scope, counted, send)
