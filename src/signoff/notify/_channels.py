"""Channels built from the policy's ``notifications.channels``, with their secrets read from the environment.

Done once when the server starts, so a missing variable stops it with an error naming the
channel and the variable, rather than the first notification failing an hour later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from signoff._errors import UserError
from signoff.notify._base import Channel
from signoff.policy._notifications import (
    ConsoleChannelSpec,
    EmailChannelSpec,
    Notifications,
    SlackChannelSpec,
    WebhookChannelSpec,
)

__all__ = ["build_channels", "secret"]


def secret(ref: str, *, channel: str, key: str, env: Mapping[str, str] | None = None) -> str:
    """The value of ``env:NAME`` for ``channel``'s ``key``; a clear error when NAME is not set."""
    name = ref.removeprefix("env:")
    value = (os.environ if env is None else env).get(name)
    if not value:
        raise UserError(f"notification channel {channel!r}: {key} reads the environment variable {name}, "
                        f"which is not set (export {name}=... where signoff serve runs)")
    return value


def build_channels(spec: Notifications, *, env: Mapping[str, str] | None = None,
                   log: logging.Logger | None = None) -> dict[str, Channel]:
    """One channel object per configured channel (a UserError names the first one that cannot be built)."""
    out: dict[str, Channel] = {}
    for name, c in spec.channels.items():
        if isinstance(c, ConsoleChannelSpec):
            from signoff.notify.console import ConsoleChannel

            out[name] = ConsoleChannel(name, stream=log)  # None: the server's stderr, whatever the log level
        elif isinstance(c, WebhookChannelSpec):
            from signoff.notify.webhook import WebhookChannel

            out[name] = WebhookChannel(name, url=c.url, timeout=c.timeout.total_seconds(),
                                       secrets=[secret(s, channel=name, key="secret", env=env) for s in c.secret])
        elif isinstance(c, SlackChannelSpec):
            from signoff.notify.slack import SLACK_API, SlackChannel

            out[name] = SlackChannel(name, channel=c.channel, token=secret(c.token, channel=name, key="token", env=env),
                                     signing_secret=secret(c.signing_secret, channel=name, key="signing_secret",
                                                           env=env),
                                     api_url=c.api_url or SLACK_API)
        elif isinstance(c, EmailChannelSpec):
            from signoff.notify.email import EmailChannel

            out[name] = EmailChannel(name, to=list(c.to), sender=c.sender,
                                     smtp_url=secret(c.smtp, channel=name, key="smtp", env=env))
    return out
