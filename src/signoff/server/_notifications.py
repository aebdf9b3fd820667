"""Notifications in a server: channels built at start-up, and the deliverer run for the app's lifetime.

The channels are built when the app is (``create_app``), so ``signoff serve`` refuses to start
with a clear error when a channel's secret is missing from the environment; the deliverer
starts with the app's lifespan (uvicorn runs it) and stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI

from signoff.notify._base import Channel
from signoff.notify._channels import build_channels
from signoff.notify._deliverer import Deliverer
from signoff.notify._links import GateLinks
from signoff.notify._routing import Router
from signoff.server._settings import ServerSettings

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = ["Notifications", "lifespan"]


class Notifications:
    """A server's channels (by name) and its deliverer; empty when the policy routes none."""

    def __init__(self, gate: Gate, settings: ServerSettings, channels: Mapping[str, Channel] | None = None) -> None:
        spec = gate.policy.spec.notifications
        self.channels: dict[str, Channel] = dict(channels) if channels is not None else (
            build_channels(spec, log=_console_log(settings)) if spec is not None else {})
        self.links = GateLinks(public_url=settings.public_url, secret=settings.secret_key, gate=gate)
        self.deliverer = Deliverer(gate, Router(spec), self.channels, self.links) if spec is not None else None


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the deliverer while the app serves."""
    notifications: Notifications | None = getattr(app.state.signoff, "notifications", None)
    deliverer = notifications.deliverer if notifications is not None else None
    task = asyncio.create_task(deliverer.run(), name="signoff-deliverer") if deliverer is not None else None
    try:
        yield
    finally:
        if task is not None and deliverer is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await deliverer.aclose()


def _console_log(settings: ServerSettings) -> logging.Logger | None:
    """Where console notifications go: the server's stderr, or its JSON log (every line JSON)."""
    return logging.getLogger("signoff.notify.console") if settings.log_format == "json" else None
