"""How the Slack endpoint answers the person who pressed: why they may not decide, a refusal shown
only to them (in the dialog, or as an ephemeral message), and posts to a ``response_url``. Shared by
the decisions (``_slack``) and "Approve and always allow…" (``_slack_allow``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, PlainTextResponse, Response

from signoff._errors import SignoffError, public_message
from signoff.review._transitions import may_decide

if TYPE_CHECKING:
    from signoff._records import Reviewer
    from signoff.gate import Gate
    from signoff.notify.slack_interactions import Interaction

__all__ = ["ERROR_CHARS", "log", "refuse", "respond", "why_not"]

log = logging.getLogger("signoff.slack")
ERROR_CHARS = 1000
"""At most this much of a refusal is shown (Slack truncates long texts on its own, less helpfully)."""


async def why_not(gate: Gate, ticket_ids: tuple[str, ...], reviewer: Reviewer) -> str:
    """Why ``reviewer`` may decide none of these tickets (the gate's own rule), or "" when they may
    decide one. Asked before the reject dialog opens; the gate still decides on its submission."""
    reasons: list[str] = []
    for tid in ticket_ids:
        try:
            t = await gate.get_ticket(tid)
        except SignoffError as exc:
            reasons.append(f"{tid}: {public_message(exc)}")
            continue
        if t.status != "pending":
            reasons.append(f"{t.id}: it is already {t.status}")
            continue
        refusal = may_decide(t, reviewer, gate.policy.tiers)
        if refusal is None:
            return ""
        reasons.append(f"{t.id}: " + {"disabled": "your reviewer account is disabled",
                                      "own_request": "you requested it, so someone else must decide it",
                                      "tier": f"it needs a {t.tier} reviewer"}.get(refusal, refusal))
    return "; ".join(reasons)


def refuse(it: Interaction, text: str) -> Response:
    """Tell the person who pressed, and only them: in the dialog, or as an ephemeral message."""
    text = text[:ERROR_CHARS]
    if it.kind in ("reject_submitted", "allow_submitted"):  # the dialog's first field shows it
        field = "feedback" if it.kind == "reject_submitted" else "condition"
        return JSONResponse({"response_action": "errors", "errors": {field: text}})
    if it.response_url:
        return Response(status_code=200, background=BackgroundTask(
            respond, it.response_url, {"response_type": "ephemeral", "replace_original": False, "text": text}))
    return PlainTextResponse(text)


async def respond(url: str, body: dict[str, Any]) -> None:
    """POST to a ``response_url`` (signed by Slack in the verified payload); failures are logged."""
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            resp = await client.post(url, json=body)
        if resp.status_code >= 300:
            log.warning("slack: response_url answered HTTP %s", resp.status_code)
    except httpx.HTTPError as exc:
        log.warning("slack: response_url failed: %s", exc)
