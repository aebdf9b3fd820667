"""The Slack channel: a Block Kit message per event, updated in place as the tickets move on.

A new ticket (or a coalesced batch) is posted with ``chat.postMessage``; ``Sent.ref`` is
``"<channel id>:<ts>"``. Any later event about the same tickets (``Message.previous`` set)
rewrites that message with ``chat.update``, so the channel keeps one message per request
that always shows its state: decided ones lose their Approve / Reject buttons and say who
decided. Escalated and expiring tickets are also announced as a reply in the message's
thread, because an edit notifies nobody; the ref stays the original message's.

Calls go through ``slack_sdk``'s ``WebClient`` (its request building, error parsing and
``Retry-After``) in a worker thread: its ``AsyncWebClient`` needs aiohttp, which signoff
does not otherwise depend on. The client's own retries are off: the deliverer retries with
backoff. Errors: ``ratelimited`` is retried after ``Retry-After``; a bad token, a missing
channel or a bot not in it are permanent (a configuration to fix); network errors and
Slack's own failures are retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from signoff._errors import DeliveryFailed, UserError
from signoff.notify._base import Message, Sent
from signoff.notify._mrkdwn import escape
from signoff.notify._slack_blocks import render

__all__ = ["PERMANENT_ERRORS", "SLACK_API", "SlackChannel", "parse_ref"]

SLACK_API = "https://slack.com/api/"

PERMANENT_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments", "invalid_arguments",
    "ekm_access_denied", "team_access_not_granted", "org_login_required",
})
"""Slack errors that no retry fixes: the token, the channel or the message must change."""
_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""``chat.update`` errors after which a new message is posted instead."""
_THREAD_EVENTS = frozenset({"ticket.escalated", "ticket.expiring"})


def parse_ref(ref: str) -> tuple[str, str]:
    """``"C123:1700000000.000100"`` -> ``("C123", "1700000000.000100")``."""
    channel, sep, ts = ref.partition(":")
    if not sep or not channel or not ts:
        raise DeliveryFailed(f"not a Slack message reference: {ref!r} (expected CHANNEL:TS)", permanent=True)
    return channel, ts


class SlackChannel:
    """Posts to ``channel`` (``#approvals`` or an id) as the bot with ``token``.

    ``signing_secret`` is the Slack app's, kept here for the interaction route
    (``signoff.server._slack``), which verifies button presses with it. ``api_url``: a
    Slack-compatible endpoint (the tests' local server) instead of Slack's.
    """

    kind = "slack"

    def __init__(self, name: str, *, channel: str, token: str, signing_secret: str,
                 api_url: str = SLACK_API, timeout: float = 10.0) -> None:
        if not channel:
            raise UserError(f"channel {name!r}: a Slack channel needs channel (#approvals or an id)")
        if not token or not signing_secret:
            raise UserError(f"channel {name!r}: a Slack channel needs a bot token and the app's signing secret")
        self.name = name
        self.channel = channel
        self.signing_secret = signing_secret
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._client = WebClient(token=token, base_url=self.api_url, timeout=max(1, round(timeout)),
                                 retry_handlers=[])

    async def send(self, message: Message) -> Sent:
        text, blocks = render(message.type, message.tickets, message.links, message.extra, now=message.at)
        where = f"#{self.channel.lstrip('#')}"
        if message.previous:
            channel_id, ts = parse_ref(message.previous)
            try:
                await self._call("chat_update", channel=channel_id, ts=ts, text=text, blocks=blocks)
            except DeliveryFailed as exc:
                if exc.__cause__ is None or _error_of(exc.__cause__) not in _GONE:
                    raise
            else:
                if message.type in _THREAD_EVENTS:
                    await self._call("chat_postMessage", channel=channel_id, thread_ts=ts, text=text,
                                     unfurl_links=False, unfurl_media=False)
                    return Sent(ref=message.previous, detail=f"updated in {where}, thread reply posted")
                return Sent(ref=message.previous, detail=f"updated in {where}")
        data = await self._call("chat_postMessage", channel=self.channel, text=text, blocks=blocks,
                                unfurl_links=False, unfurl_media=False)
        return Sent(ref=f"{data.get('channel', self.channel)}:{data.get('ts', '')}", detail=f"posted to {where}")

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (``views.open``) for the user who pressed a button; the trigger lasts 3 seconds."""
        await self._call("views_open", trigger_id=trigger_id, view=view)

    async def reply(self, ref: str, text: str) -> None:
        """Post ``text`` (mrkdwn, already escaped) in the thread of the message ``ref`` (``channel:ts``): a
        note that outlives the message's next update (an allowance made on its ticket)."""
        channel_id, ts = parse_ref(ref)
        await self._call("chat_postMessage", channel=channel_id, thread_ts=ts, text=text,
                         unfurl_links=False, unfurl_media=False)

    async def user_email(self, user_id: str) -> str | None:
        """The email address Slack has for a user (``users.info``, scope ``users:read.email``), or None."""
        try:
            data = await self._call("users_info", user=user_id)
        except DeliveryFailed:
            return None
        user = data.get("user")
        profile = user.get("profile") if isinstance(user, dict) else None
        email = profile.get("email") if isinstance(profile, dict) else None
        return email if isinstance(email, str) and email else None

    async def aclose(self) -> None:
        return None

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call in a worker thread, its failure as a DeliveryFailed."""
        fn = getattr(self._client, method)
        api = method.replace("_", ".", 1)
        try:
            resp = await asyncio.to_thread(fn, **kwargs)
        except SlackApiError as exc:
            err = _error_of(exc)
            if err == "ratelimited" or exc.response.status_code == 429:
                raise DeliveryFailed(f"slack {self.name}: {api}: ratelimited",
                                     retry_after=_retry_after(exc.response.headers)) from exc
            raise DeliveryFailed(f"slack {self.name}: {api}: {escape(err, one_line=True)}",
                                 permanent=err in PERMANENT_ERRORS) from exc
        except (SlackClientError, OSError, TimeoutError) as exc:  # URLError, refused, reset, timed out
            raise DeliveryFailed(f"slack {self.name}: {api}: {type(exc).__name__}: {exc}") from exc
        data = resp.data
        return data if isinstance(data, dict) else {}


def _error_of(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        if isinstance(data, dict):
            return str(data.get("error") or "unknown_error")
    return type(exc).__name__


def _retry_after(headers: Any) -> float | None:
    """Seconds from Slack's ``Retry-After`` header (slack_sdk keeps header values as they came, or in lists)."""
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(str(value).strip()))
            except ValueError:
                return None
    return None
