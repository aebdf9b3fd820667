"""Which door a decision came through: set by the door, read by the Gate, recorded in the audit.

A context variable rather than a parameter: the door (inbox, Slack, email link, CLI) is a fact
about the request, not something a caller chooses, so it stays out of the GateLike surface that
local and remote gates share. It crosses the Gate's engine hop because asyncio copies the
caller's context into the task it runs there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

__all__ = ["DecidedVia", "current_via", "decided_via"]

DecidedVia = Literal["api", "inbox", "slack", "email", "cli"]

_VIA: ContextVar[DecidedVia] = ContextVar("signoff_decided_via", default="api")


def current_via() -> DecidedVia:
    """The door of the decision being made here; ``api`` unless a door said otherwise."""
    return _VIA.get()


@contextlib.contextmanager
def decided_via(door: DecidedVia) -> Iterator[None]:
    """Decisions made inside this block came through ``door``."""
    token = _VIA.set(door)
    try:
        yield
    finally:
        _VIA.reset(token)
