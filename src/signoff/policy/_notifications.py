"""The policy file's ``notifications:`` section: channels, routes, events (DESIGN.md, "Notifications").

Validated with the rest of the policy, so a typo reports ``policy.yaml:41:7``. Secrets never
live in the file: a token, signing secret, webhook secret or SMTP URL must be written
``env:NAME`` and is read from the environment when the server starts
(``signoff.notify._channels``), where a missing variable is an error naming the channel.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from signoff.policy._durations import parse_duration
from signoff.policy._fields import LevelField, Names, ReasonCode
from signoff.policy._fields import SpecModel as _Model

__all__ = ["EVENT_NAMES", "NotificationRoute", "Notifications", "RouteMatch", "SecretRef"]

EVENT_NAMES = ("created", "escalated", "expiring", "decided", "expired", "aborted", "cancelled")
"""What a route can be told about; each is ``ticket.<name>`` on the wire."""
EventName = Literal["created", "escalated", "expiring", "decided", "expired", "aborted", "cancelled"]
DEFAULT_EVENTS: tuple[EventName, ...] = ("created", "escalated", "expiring", "decided", "expired", "aborted")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def _secret(value: Any) -> Any:
    if isinstance(value, str) and _ENV.fullmatch(value):
        return value
    raise ValueError("secrets are read from the environment, never written in the policy: "
                     "write env:NAME and set NAME where the server runs")


def _secrets(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("write env:NAME, or a list of them while a secret rotates")
    return [_secret(v) for v in value]


def _duration_or_zero(value: Any) -> Any:
    if value in (0, "0", "0s", None):
        return timedelta(0)
    return parse_duration(value)


SecretRef = Annotated[str, BeforeValidator(_secret)]
"""``env:NAME``: read when the server starts."""


class _Channel(_Model):
    kind: str


class WebhookChannelSpec(_Channel):
    """A signed POST per notification (Standard Webhooks)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$")
    secret: Annotated[list[str], BeforeValidator(_secrets)]
    """``env:NAME`` holding ``whsec_<base64>``; a list while a secret rotates (each signs)."""
    timeout: Annotated[timedelta, BeforeValidator(parse_duration)] = timedelta(seconds=10)


class SlackChannelSpec(_Channel):
    """A Block Kit message with Approve / Reject / Open buttons."""

    kind: Literal["slack"]
    channel: str = Field(min_length=1)
    """``#approvals`` or a channel id."""
    token: SecretRef
    signing_secret: SecretRef
    api_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """A Slack-compatible endpoint instead of ``https://slack.com/api/``."""


class EmailChannelSpec(_Channel):
    """Mail with one-click links, one message per recipient."""

    kind: Literal["email"]
    to: Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = Field(min_length=1)
    sender: str = Field(alias="from")
    smtp: SecretRef
    """``env:NAME`` holding ``smtp://user:password@host:587`` (or ``smtps://``)."""

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"bad email address {address!r}")
        return value


class ConsoleChannelSpec(_Channel):
    """Prints each notification to the server's log: what ``make run`` uses."""

    kind: Literal["console"]


ChannelSpec = Annotated[WebhookChannelSpec | SlackChannelSpec | EmailChannelSpec | ConsoleChannelSpec,
                        Field(discriminator="kind")]


class RouteMatch(_Model):
    """Which tickets a route is for; every key given must hold (names, globs for action and agent)."""

    rule: Names = None
    action: Names = None
    agent: Names = None
    tier: Names = None
    level: list[LevelField] | None = None
    reason: list[ReasonCode] | None = None

    @field_validator("level", "reason", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class NotificationRoute(_Model):
    """Send the tickets ``match`` selects (all that need a human when omitted) to channels ``to``."""

    match: RouteMatch | None = None
    to: Names
    """The channels to send to (required)."""
    events: list[EventName] | None = None
    """Override the section's ``events`` for this route."""


class Notifications(_Model):
    """The ``notifications:`` section."""

    channels: dict[str, ChannelSpec] = Field(default_factory=dict)
    routes: list[NotificationRoute] = Field(default_factory=list)
    events: list[EventName] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    expiring_at: float = Field(default=0.8, gt=0.0, lt=1.0)
    """Warn when this share of a ticket's timeout has passed."""
    coalesce: Annotated[timedelta, BeforeValidator(_duration_or_zero)] = timedelta(0)
    """Similar tickets created within this window go out as one message (0: each alone, at once)."""
