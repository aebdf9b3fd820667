"""``POST /integrations/slack/interactions``: Approve / Reject pressed in Slack, decided by the Gate.

The flow: verify the request (signing secret, 5-minute window, no replays) -> map the Slack
user to a reviewer (``--slack-id``, else the email Slack has for them, ``--email``) ->
decide through the Gate's own methods as that reviewer, so tiers, four eyes and "not your
own" hold exactly as in the inbox -> replace the message with the outcome. A refusal is
told to the one who pressed (an ephemeral message, or an error in the reject dialog), never
a 500. "Approve and always allow…" opens its own dialog (``server._slack_allow``).
Reject (and Reject all) opens a dialog (``views.open``) for the feedback; the
rejection happens when it is submitted.

Slack wants an answer within 3 seconds. The decision is made before the answer (a store
write, milliseconds) so a refusal can be shown in the dialog; the message is replaced
through the interaction's ``response_url`` after the answer (a background task).

The Slack apps accepted are the server's Slack channels (their signing secrets), found in
the app's notifications when the first interaction arrives; ``app.state.slack_interactions``
may hold a ``SlackInteractions`` made otherwise. ``slack_sdk`` (the ``notify`` extra) is
imported only when a Slack channel is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse, Response

from signoff._errors import InvalidAction, NotAuthorized, SignoffError, public_message
from signoff._model import utcnow
from signoff._via import decided_via
from signoff.notify._base import Channel, Links
from signoff.notify._slack_blocks import reject_modal, render
from signoff.server._context import get_context
from signoff.server._slack_reply import ERROR_CHARS, log, refuse, respond, why_not

if TYPE_CHECKING:
    from signoff._records import Reviewer
    from signoff.gate import Gate
    from signoff.notify.slack import SlackChannel
    from signoff.notify.slack_interactions import Interaction, RequestVerifier

__all__ = ["PATH", "SLACK_ROUTER", "SlackInteractions"]

PATH = "/integrations/slack/interactions"
SLACK_ROUTER = APIRouter()
_LOOKUP_SECONDS = 1.5
"""How long a user's email may take to come from Slack (``users.info``) before they count as unlinked."""


class SlackInteractions:
    """The Slack apps whose interactions a server accepts: its Slack channels and their signing secrets."""

    def __init__(self, channels: Mapping[str, Channel], *, window: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self.channels: list[SlackChannel] = []
        self.verifier: RequestVerifier | None = None
        if any(c.kind == "slack" for c in channels.values()):  # slack_sdk is installed: a channel uses it
            from signoff.notify.slack import SlackChannel
            from signoff.notify.slack_interactions import RequestVerifier

            self.channels = [c for c in channels.values() if isinstance(c, SlackChannel)]
            self.verifier = RequestVerifier([c.signing_secret for c in self.channels], window=window, clock=clock)

    def channel_for(self, signing_secret: str) -> SlackChannel:
        """The first channel of the app that signed a request (its bot token opens dialogs)."""
        return next(c for c in self.channels if c.signing_secret == signing_secret)


def _interactions(request: Request) -> SlackInteractions:
    si = getattr(request.app.state, "slack_interactions", None)
    if not isinstance(si, SlackInteractions):
        ctx = get_context(request)
        channels = ctx.notifications.channels if ctx.notifications is not None else {}
        si = SlackInteractions(channels)
        request.app.state.slack_interactions = si
    return si


@SLACK_ROUTER.post(PATH, include_in_schema=False)
async def interactions(request: Request) -> Response:
    si = _interactions(request)
    if si.verifier is None:
        return PlainTextResponse("no Slack channel is configured on this server", status_code=404)
    from signoff.notify.slack_interactions import parse

    body = await request.body()
    try:
        secret = si.verifier.verify(body, request.headers)
        it = parse(body)
    except NotAuthorized as exc:
        log.warning("slack interaction refused: %s", exc)
        return PlainTextResponse(str(exc), status_code=401)
    except InvalidAction as exc:
        return PlainTextResponse(str(exc), status_code=400)
    if it.kind in ("ignored", "open"):
        return Response(status_code=200)
    ctx = get_context(request)
    if await _seen_elsewhere(ctx.gate, request.headers.get("x-slack-signature", ""), si.verifier.window):
        log.warning("slack interaction refused: already received by another server (a replay)")
        return PlainTextResponse("this Slack request was already received (a replay): refused", status_code=401)
    channel = si.channel_for(secret)
    links = ctx.notifications.links if ctx.notifications is not None else None
    reviewer = await _reviewer(ctx.gate, channel, it.user_id)
    if isinstance(reviewer, str):  # why nobody may decide here
        return refuse(it, reviewer)
    if it.kind in ("allow", "allow_submitted"):  # "Approve and always allow…"
        from signoff.server._slack_allow import allow_pressed, allow_submitted

        if it.kind == "allow":
            return await allow_pressed(ctx.gate, channel, it, reviewer)
        return await allow_submitted(ctx.gate, channel, it, reviewer, links)
    if it.kind in ("reject", "reject_all"):
        refusal = await why_not(ctx.gate, it.ticket_ids, reviewer)
        if refusal:  # no dialog to fill in for nothing
            return refuse(it, f"You cannot reject {refusal}")
        try:
            await channel.open_view(it.trigger_id, reject_modal(it.ticket_ids, response_url=it.response_url))
        except SignoffError as exc:
            log.warning("slack: could not open the reject dialog: %s", exc)
            return refuse(it, "Could not open the reject dialog; reject in the inbox instead.")
        return Response(status_code=200)
    try:
        failed = await _decide(ctx.gate, it, reviewer.name)
    except SignoffError as exc:
        return refuse(it, f"Nothing was decided: {public_message(exc)}")
    if failed and len(failed) == len(it.ticket_ids):
        return refuse(it, "Nothing was decided: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    replace = _replace_message(ctx.gate, it, links, failed)
    return Response(status_code=200, background=BackgroundTask(replace))


async def _reviewer(gate: Gate, channel: SlackChannel, user_id: str) -> Reviewer | str:
    """The reviewer this Slack user is, or the words telling them why they cannot decide."""
    reviewer = await gate.find_reviewer(slack_id=user_id)
    if reviewer is None:
        email = None
        with contextlib.suppress(TimeoutError):  # Slack waits 3 s for the answer
            async with asyncio.timeout(_LOOKUP_SECONDS):
                email = await channel.user_email(user_id)
        reviewer = await gate.find_reviewer(email=email) if email else None
    if reviewer is None:
        return (f"Your Slack account ({user_id}) is not linked to a signoff reviewer, so nothing was decided. "
                f"Ask an admin: signoff reviewer add NAME --slack-id {user_id}")
    if reviewer.disabled:
        return f"The signoff reviewer {reviewer.name} is disabled, so nothing was decided."
    return reviewer


async def _seen_elsewhere(gate: Gate, signature: str, window: int) -> bool:
    """True when another server sharing this store already took this signed request: the verifier's
    own memory is per process, the store's list of used one-time keys (email links use it too) is not."""
    key = "slack-request:" + hashlib.sha256(signature.encode()).hexdigest()
    if await gate.session_revoked(key):
        return True
    await gate.revoke_session(key, expires_at=utcnow() + timedelta(seconds=2 * window))
    return False


async def _decide(gate: Gate, it: Interaction, reviewer: str) -> dict[str, str]:
    """Decide as ``reviewer``; the tickets that could not be decided, with why (one ticket raises)."""
    with decided_via("slack"):
        return await _decide_here(gate, it, reviewer)


async def _decide_here(gate: Gate, it: Interaction, reviewer: str) -> dict[str, str]:
    if it.kind == "approve" and len(it.ticket_ids) == 1:
        await gate.approve(it.ticket_ids[0], reviewer=reviewer)
        return {}
    if it.kind == "reject_submitted" and len(it.ticket_ids) == 1:
        await gate.reject(it.ticket_ids[0], reviewer=reviewer, feedback=it.feedback)
        return {}
    result = await gate.decide_many(it.ticket_ids, reviewer=reviewer, approve=it.kind != "reject_submitted",
                                    feedback=it.feedback)
    return dict(result.failed)


def _replace_message(gate: Gate, it: Interaction, links: Links | None,
                     failed: dict[str, str]) -> Callable[[], Any]:
    async def run() -> None:
        if not it.response_url or links is None:
            return
        try:
            tickets = tuple([await gate.get_ticket(t) for t in it.ticket_ids])
        except SignoffError as exc:
            log.warning("slack: could not read the tickets to update the message: %s", exc)
            return
        type_ = "ticket.decided" if all(t.status != "pending" for t in tickets) else "ticket.created"
        text, blocks = render(type_, tickets, links)
        await respond(it.response_url, {"replace_original": True, "text": text, "blocks": blocks})
        if failed:
            note = "Some were not decided: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
            await respond(it.response_url, {"response_type": "ephemeral", "replace_original": False,
                                             "text": note[:ERROR_CHARS]})
    return run
