"""The app side of a paused Google ADK run: which confirmations wait on signoff, and their answers.

When :class:`~signoff.integrations.google_adk.SignoffPlugin` pauses a call, ADK emits an
``adk_request_confirmation`` function call whose ``toolConfirmation.payload`` carries the
signoff ticket. The app answers it with a ``FunctionResponse`` of the same name and id. This
module finds the unanswered ones in a session's events and writes those answers from the
tickets' decisions, so the app never builds confirmation payloads by hand.

The answer is a convenience, not the authority: on resume the plugin reads the ticket again
and runs the call only when the ticket says approved (a forged ``confirmed: true`` does not
run anything).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from signoff._model import Decision
from signoff.integrations._common import missing_extra, refusal_text

try:
    from google.adk.events.event import Event
    from google.adk.tools.tool_confirmation import ToolConfirmation
    from google.genai import types
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("google_adk", "google-adk", _exc) from _exc

__all__ = ["CONFIRMATION_CALL", "PAYLOAD_KEY", "SignoffRequest", "confirmation_part", "open_requests"]

CONFIRMATION_CALL = "adk_request_confirmation"
"""The name ADK gives the function call that asks the app for a confirmation (and its answer)."""

PAYLOAD_KEY = "signoff"
"""Where a paused call's ``ToolConfirmation.payload`` keeps signoff's part (ticket id, level, reasons)."""


@dataclass(frozen=True)
class SignoffRequest:
    """One ``adk_request_confirmation`` that waits on a signoff ticket."""

    confirmation_id: str
    """The id of ADK's ``adk_request_confirmation`` call: the answer must carry it."""
    ticket_id: str
    """The signoff ticket a reviewer decides."""
    call: types.FunctionCall
    """The tool call that paused (name, id, the model's arguments)."""


def _ticket_id(args: Mapping[str, Any]) -> str | None:
    confirmation = args.get("toolConfirmation")
    if not isinstance(confirmation, Mapping):
        return None
    payload = confirmation.get("payload")
    if not isinstance(payload, Mapping):
        return None
    ours = payload.get(PAYLOAD_KEY)
    if not isinstance(ours, Mapping) or not isinstance(ours.get("ticket_id"), str):
        return None
    return str(ours["ticket_id"])


def open_requests(events: Iterable[Event]) -> list[SignoffRequest]:
    """The signoff confirmations in ``events`` (a run's events, or ``session.events``) not answered yet."""
    asked: list[SignoffRequest] = []
    answered: set[str] = set()
    for event in events:
        if event.author == "user":
            answered.update(r.id for r in event.get_function_responses() if r.name == CONFIRMATION_CALL and r.id)
            continue
        for fc in event.get_function_calls():
            if fc.name != CONFIRMATION_CALL or not fc.id:
                continue
            args = dict(fc.args or {})
            ticket_id = _ticket_id(args)
            original = args.get("originalFunctionCall")
            if ticket_id is None or not isinstance(original, Mapping):
                continue  # a confirmation some other tool asked for: not ours to answer
            asked.append(SignoffRequest(confirmation_id=fc.id, ticket_id=ticket_id,
                                        call=types.FunctionCall.model_validate(dict(original))))
    return [r for r in asked if r.confirmation_id not in answered]


def confirmation_part(request: SignoffRequest, decision: Decision) -> types.Part:
    """The ``adk_request_confirmation`` answer for one decided ticket (``confirmed`` = approved)."""
    info: dict[str, Any] = {"ticket_id": request.ticket_id, "status": decision.status}
    if decision.approved and decision.edited:
        info["args"] = dict(decision.args)
    if not decision.approved:
        info["message"] = refusal_text(decision)
    confirmation = ToolConfirmation(confirmed=decision.approved, payload={PAYLOAD_KEY: info})
    return types.Part(function_response=types.FunctionResponse(
        id=request.confirmation_id, name=CONFIRMATION_CALL,
        response=confirmation.model_dump(by_alias=True, exclude_none=True)))
