"""Slack interactions: is this request from Slack (and new), and what did the person press?

Slack signs each interaction request: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of
"v0:{timestamp}:{body}" with the app's signing secret>`` and ``X-Slack-Request-Timestamp``.
``RequestVerifier`` checks it with ``slack_sdk``'s ``SignatureVerifier`` (constant-time
compare, 5-minute window) and refuses replays: a timestamp outside the window, and the
same signature seen again inside it (remembered in this process for the window; the
window bounds what several servers could each accept once).

``parse`` reads the ``payload`` form field into an ``Interaction``; it decides nothing.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from signoff._errors import InvalidAction, NotAuthorized
from signoff.notify._slack_allow import ALLOW, ALLOW_VIEW, CONDITION_BLOCK, EXPIRES_BLOCK, SCOPE_BLOCK
from signoff.notify._slack_blocks import (
    APPROVE,
    APPROVE_ALL,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    OPEN,
    REJECT,
    REJECT_ALL,
    REJECT_VIEW,
)

__all__ = ["WINDOW", "Interaction", "RequestVerifier", "parse", "parse_ids"]

WINDOW = 300
"""Seconds a signed request stays acceptable (Slack's documented five minutes)."""
_MAX_SEEN = 100_000
_MAX_IDS = 500

Kind = Literal["approve", "reject", "approve_all", "reject_all", "reject_submitted", "allow", "allow_submitted",
               "open", "ignored"]
_BUTTONS: Mapping[str, Kind] = {APPROVE: "approve", REJECT: "reject", APPROVE_ALL: "approve_all",
                                REJECT_ALL: "reject_all", ALLOW: "allow", OPEN: "open"}


@dataclass(frozen=True, kw_only=True)
class Interaction:
    """What a Slack user did: pressed one of our buttons, or submitted the reject or the allow modal."""

    kind: Kind
    user_id: str
    """The Slack user id (``U123``): mapped to a reviewer by ``Gate.find_reviewer(slack_id=...)``."""
    ticket_ids: tuple[str, ...] = ()
    feedback: str = ""
    """The reject modal's text (the reviewer's words to the agent)."""
    condition: str = ""
    """The allow modal's condition (CEL over ``args``; "" for any arguments), as typed."""
    any_agent: bool = False
    """The allow modal's scope: "any agent" chosen (the Gate allows it to the top tier only)."""
    expires: str = ""
    """The allow modal's expiry (``1h``, ``1d``, ``7d``, ``never``), as chosen."""
    trigger_id: str = ""
    """Opens a modal (``views.open``) within 3 seconds of the press."""
    response_url: str | None = None
    """Where to answer the user (ephemeral) or replace the message; valid 30 minutes, 5 uses."""
    message_ref: str | None = None
    """``"<channel id>:<ts>"`` of the message whose button was pressed."""


class RequestVerifier:
    """Accepts a request signed with any of ``signing_secrets`` (one per configured Slack app),
    at most ``window`` seconds old, and not seen before. ``clock``: seconds since the epoch."""

    def __init__(self, signing_secrets: Sequence[str], *, window: int = WINDOW,
                 clock: Callable[[], float] = time.time) -> None:
        if isinstance(signing_secrets, str) or not signing_secrets:
            raise InvalidAction("a list of one or more Slack signing secrets is needed")
        clk = _Clock(clock)
        self._verifiers = [(s, SignatureVerifier(s, clock=clk)) for s in dict.fromkeys(signing_secrets)]
        self._window = window
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    @property
    def window(self) -> int:
        """Seconds a request's timestamp may be off; a signature is remembered twice as long."""
        return self._window

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """The signing secret that signed ``body``; NotAuthorized (with the reason) otherwise."""
        h = {k.lower(): v for k, v in headers.items()}
        ts, sig = h.get("x-slack-request-timestamp"), h.get("x-slack-signature")
        if not ts or not sig:
            raise NotAuthorized("not a signed Slack request: X-Slack-Request-Timestamp and X-Slack-Signature "
                                "are required")
        try:
            age = self._clock() - int(ts)
            text = body.decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotAuthorized("malformed Slack request (timestamp or body)") from exc
        if abs(age) > self._window:
            raise NotAuthorized(f"Slack request timestamp is {int(abs(age))} s off (more than {self._window} s): "
                                "refused as a possible replay; check the server's clock")
        for secret, verifier in self._verifiers:
            if verifier.is_valid(text, ts, sig):
                self._remember(sig)
                return secret
        raise NotAuthorized("Slack request signature does not match any configured signing secret")

    def _remember(self, sig: str) -> None:
        now = self._clock()
        while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) >= _MAX_SEEN):
            self._seen.popitem(last=False)
        if sig in self._seen:
            raise NotAuthorized("this Slack request was already received (a replay): refused")
        self._seen[sig] = now + 2 * self._window  # the window spans both sides of "now"


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def parse(body: bytes) -> Interaction:
    """The interaction in a verified request body (``payload=<JSON>``, form-encoded)."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    raw = fields.get("payload", [""])[0]
    try:
        p = json.loads(raw)
    except ValueError as exc:
        raise InvalidAction("a Slack interaction needs a JSON payload form field") from exc
    if not isinstance(p, dict):
        raise InvalidAction("a Slack interaction payload is a JSON object")
    user = _str(_dict(p.get("user")).get("id"))
    if not user:
        raise InvalidAction("a Slack interaction payload names its user (user.id)")
    if p.get("type") == "block_actions":
        return _block_action(p, user)
    if p.get("type") == "view_submission" and _dict(p.get("view")).get("callback_id") == REJECT_VIEW:
        return _reject_submitted(p, user)
    if p.get("type") == "view_submission" and _dict(p.get("view")).get("callback_id") == ALLOW_VIEW:
        return _allow_submitted(p, user)
    return Interaction(kind="ignored", user_id=user)


def parse_ids(value: str) -> tuple[str, ...]:
    """Ticket ids from a button's value or the modal's metadata: a JSON list of ids, or one plain id."""
    text = value.strip()
    if not text.startswith("["):
        ids: Any = [text] if text else []
    else:
        try:
            ids = json.loads(text)
        except ValueError as exc:
            raise InvalidAction("the button's ticket ids are not a JSON list") from exc
    return _ids(ids)


def _ids(ids: Any) -> tuple[str, ...]:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidAction("the button names no ticket ids")
    if len(ids) > _MAX_IDS:
        raise InvalidAction(f"at most {_MAX_IDS} tickets per button")
    return tuple(dict.fromkeys(ids))


def _block_action(p: dict[str, Any], user: str) -> Interaction:
    actions = p.get("actions")
    action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
    kind = _BUTTONS.get(_str(action.get("action_id")))
    if kind is None:
        return Interaction(kind="ignored", user_id=user)
    ids = () if kind == "open" else parse_ids(_str(action.get("value")))
    container, message, channel = _dict(p.get("container")), _dict(p.get("message")), _dict(p.get("channel"))
    ts = _str(container.get("message_ts")) or _str(message.get("ts"))
    chan = _str(container.get("channel_id")) or _str(channel.get("id"))
    return Interaction(kind=kind, user_id=user, ticket_ids=ids, trigger_id=_str(p.get("trigger_id")),
                       response_url=_str(p.get("response_url")) or None,
                       message_ref=f"{chan}:{ts}" if chan and ts else None)


def _submitted(p: dict[str, Any], dialog: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dialog submission's metadata (ours, round-tripped by Slack) and its input values."""
    view = _dict(p.get("view"))
    try:
        meta = _dict(json.loads(_str(view.get("private_metadata")) or "{}"))
    except ValueError as exc:
        raise InvalidAction(f"the {dialog} dialog's metadata is not JSON") from exc
    return meta, _dict(_dict(view.get("state")).get("values"))


def _reject_submitted(p: dict[str, Any], user: str) -> Interaction:
    meta, values = _submitted(p, "reject")
    ids = _ids(meta.get("tickets"))
    feedback = _str(_dict(_dict(values.get(FEEDBACK_BLOCK)).get(FEEDBACK_ACTION)).get("value"))
    return Interaction(kind="reject_submitted", user_id=user, ticket_ids=ids, feedback=feedback.strip(),
                       response_url=_str(meta.get("response_url")) or None)


def _allow_submitted(p: dict[str, Any], user: str) -> Interaction:
    meta, values = _submitted(p, "allow")
    ids = _ids([meta.get("ticket")])

    def field(block: str) -> dict[str, Any]:
        return _dict(_dict(values.get(block)).get(block))

    scope = _str(_dict(field(SCOPE_BLOCK).get("selected_option")).get("value")) or "agent"
    return Interaction(kind="allow_submitted", user_id=user, ticket_ids=ids,
                       condition=_str(field(CONDITION_BLOCK).get("value")).strip(), any_agent=scope == "any",
                       expires=_str(_dict(field(EXPIRES_BLOCK).get("selected_option")).get("value")),
                       response_url=_str(meta.get("response_url")) or None,
                       message_ref=_str(meta.get("message")) or None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
