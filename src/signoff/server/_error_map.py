"""One map from signoff errors to HTTP: the status, and the words a caller may see.

The JSON API (problem+json, ``_problems``) and the inbox (HTML pages) both answer from
here, so one exception gets one status at every door. Like starlette's exception
middleware, the registry is walked along the exception's MRO: a new subclass gets its
parent's status until it is listed itself.

A ``StoreUnavailable``'s own message can name the database (user, host, port, name) or a
file path, which no caller needs: it goes to the server's log, and callers get
``signoff._errors.public_message``'s words.
"""

from __future__ import annotations

import logging

from signoff._errors import (
    AlreadyExecuted,
    Conflict,
    InvalidAction,
    NotAllowed,
    NotAuthorized,
    NotFound,
    PolicyError,
    QuotaExceeded,
    SignoffError,
    StillPending,
    StoreUnavailable,
    UserError,
    public_message,
)

__all__ = ["STATUS", "Unauthenticated", "public_detail", "status_for"]

log = logging.getLogger("signoff.server")


class Unauthenticated(NotAuthorized):
    """Raised when a request has no credentials or credentials nobody issued (401, not 403)."""


STATUS: dict[type[BaseException], int] = {
    Unauthenticated: 401,
    NotAuthorized: 403,
    NotFound: 404,
    Conflict: 409,
    AlreadyExecuted: 409,
    PolicyError: 422,
    InvalidAction: 422,
    UserError: 422,
    QuotaExceeded: 429,
    StoreUnavailable: 503,
    StillPending: 408,
    NotAllowed: 403,
    SignoffError: 400,
}
"""Signoff error class -> HTTP status; the nearest class along the MRO wins."""


def status_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


def public_detail(exc: SignoffError, where: str) -> str:
    """What a caller of ``where`` (a path) is told about ``exc``; a store outage's real reason is logged."""
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable on %s: %s", where, exc)
        return public_message(exc) + "; the server's log says why"
    return public_message(exc)
