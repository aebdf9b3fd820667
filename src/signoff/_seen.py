"""How long the reviewer had the ticket open before deciding: set by the inbox, recorded in the audit.

Why: a reviewer who approves within two seconds of opening a ticket's page has not read it
(rubber stamping, the reviewer's fatigue that OWASP lists as an agentic threat). The inbox knows
when it served the page (a signed time in the form); the Gate records the difference in the
decision's own audit entry (``seen_for``, seconds), in the same transaction, so insights can
tell each reviewer's habits without another write. A context variable like ``_via``, for the
same reason: a fact about the request, not a parameter of the GateLike surface."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["current_seen", "seen_for", "with_seen"]

_SEEN: ContextVar[float | None] = ContextVar("signoff_seen_for", default=None)
_DECISIONS = frozenset({"approved", "approval", "rejected"})


def current_seen() -> float | None:
    """Seconds the deciding reviewer had the ticket open, when the door knows; else None."""
    return _SEEN.get()


@contextlib.contextmanager
def seen_for(seconds: float | None) -> Iterator[None]:
    """Decisions made inside this block were made ``seconds`` after the reviewer opened the ticket."""
    token = _SEEN.set(None if seconds is None else max(0.0, round(float(seconds), 3)))
    try:
        yield
    finally:
        _SEEN.reset(token)


def with_seen(change: Any, seconds: float | None) -> Any:
    """``change`` with ``seen_for`` in its decision audit entries (unchanged when unknown)."""
    if seconds is None:
        return change
    drafts = tuple(dataclasses.replace(d, data={**d.data, "seen_for": seconds}) if d.kind in _DECISIONS else d
                   for d in change.audit)
    return dataclasses.replace(change, audit=drafts)
