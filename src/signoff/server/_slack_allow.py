""""Approve and always allow…" pressed in Slack: the modal, and its submission decided by ``Gate.allow``.

Pressing the button asks the Gate's own rule first (``may_decide``, as Reject does) and whether the
ticket can be allowed at all (``_slack_allow.allowable``), then opens the modal for this reviewer
("any agent" offered to the top tier only). Its submission goes to ``Gate.allow`` as the mapped
reviewer, under ``decided_via("slack")``: tiers, four eyes, "not your own" and who may allow any agent
are the Gate's checks, never only this door's. A refusal or a bad condition comes back as the modal's
field error (``response_action: errors``), so the reviewer keeps what they typed; on success the
dialog closes and the message is replaced through the button's ``response_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from signoff._allowances import EXPIRIES, Allowance, check_condition
from signoff._errors import NotAuthorized, SignoffError, UserError, public_message
from signoff._via import decided_via
from signoff.notify._slack_allow import (
    CONDITION_BLOCK,
    EXPIRES_BLOCK,
    SCOPE_BLOCK,
    allow_modal,
    allowable,
    allowed_line,
)
from signoff.notify._slack_blocks import render
from signoff.server._slack_reply import ERROR_CHARS, log, refuse, respond, why_not

if TYPE_CHECKING:
    from signoff._records import Reviewer
    from signoff.gate import Gate
    from signoff.notify._base import Links
    from signoff.notify.slack import SlackChannel
    from signoff.notify.slack_interactions import Interaction

__all__ = ["allow_pressed", "allow_submitted"]


def _top_tier(gate: Gate, reviewer: Reviewer) -> bool:
    """May this reviewer offer "any agent" (the inbox's rule; the Gate checks it again on submission)."""
    tiers = gate.policy.tiers
    return not tiers or reviewer.tier == tiers[-1]


async def allow_pressed(gate: Gate, channel: SlackChannel, it: Interaction, reviewer: Reviewer) -> Response:
    """Open the modal, or tell the reviewer (only them) why they cannot allow this ticket."""
    refusal = await why_not(gate, it.ticket_ids, reviewer)
    if refusal:
        return refuse(it, f"You cannot allow {refusal}")
    ticket = await gate.get_ticket(it.ticket_ids[0])
    if not allowable(ticket):
        return refuse(it, f"{ticket.id} cannot be allowed standing: only a request for approval raised by a "
                           "rule can (not a suggestion, nor one a mode raised). Approve or reject it instead.")
    try:
        await channel.open_view(it.trigger_id, allow_modal(ticket, any_agent=_top_tier(gate, reviewer),
                                                           response_url=it.response_url, message_ref=it.message_ref))
    except SignoffError as exc:
        log.warning("slack: could not open the allow dialog: %s", exc)
        return refuse(it, "Could not open the allow dialog; allow it in the inbox instead.")
    return Response(status_code=200)


async def allow_submitted(gate: Gate, channel: SlackChannel, it: Interaction, reviewer: Reviewer,
                          links: Links | None) -> Response:
    """``Gate.allow`` with what the modal holds; a field error in the modal when it cannot be done."""
    if it.expires not in EXPIRIES:
        return _errors(EXPIRES_BLOCK, f"Unknown expiry {it.expires!r}: choose one of {', '.join(EXPIRIES)}.")
    try:
        check_condition(it.condition)  # the Gate checks it again; here to name the field
    except UserError as exc:
        return _errors(CONDITION_BLOCK, f"{exc} (the condition is CEL over args, e.g. args.env == \"staging\").")
    try:
        ticket = await gate.get_ticket(it.ticket_ids[0])
        if ticket.status == "pending" and not allowable(ticket):
            return _errors(CONDITION_BLOCK, f"{ticket.id} cannot be allowed standing: a mode raised it, or it "
                                            "is not a request for approval.")
        with decided_via("slack"):
            made = await gate.allow(ticket.id, reviewer=reviewer.name, condition=it.condition or None,
                                    expires=it.expires, any_agent=it.any_agent)
    except NotAuthorized as exc:
        field = SCOPE_BLOCK if it.any_agent and "any agent" in str(exc) else CONDITION_BLOCK
        return _errors(field, f"Nothing was allowed: {public_message(exc)}")
    except SignoffError as exc:
        return _errors(CONDITION_BLOCK, f"Nothing was allowed: {public_message(exc)}")
    return Response(status_code=200, background=BackgroundTask(_replace, gate, channel, it, links, made))


def _errors(block: str, text: str) -> JSONResponse:
    return JSONResponse({"response_action": "errors", "errors": {block: text[:ERROR_CHARS]}})


async def _replace(gate: Gate, channel: SlackChannel, it: Interaction, links: Links | None,
                   made: Allowance) -> None:
    """The message, replaced in place: the ticket as it stands and the allowance made on it; and a note in
    its thread, which stays when the deliverer later updates the message for the decision."""
    if it.message_ref:
        try:
            await channel.reply(it.message_ref, allowed_line(made, "in Slack"))
        except SignoffError as exc:
            log.warning("slack: could not note the allowance in the thread: %s", exc)
    if not it.response_url or links is None:
        return
    try:
        ticket = await gate.get_ticket(it.ticket_ids[0])
    except SignoffError as exc:
        log.warning("slack: could not read the ticket to update the message: %s", exc)
        return
    type_ = "ticket.decided" if ticket.status != "pending" else "ticket.created"
    text, blocks = render(type_, (ticket,), links, {"decided_via": "slack"}, allowance=made)
    body: dict[str, Any] = {"replace_original": True, "text": text, "blocks": blocks}
    await respond(it.response_url, body)
