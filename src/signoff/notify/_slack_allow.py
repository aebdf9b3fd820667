""""Approve and always allow…" in Slack: when the button shows, the modal it opens, and the line the
message gets once an allowance is made. Layout only, no network; the Gate decides (``Gate.allow``).

The button shows on a single pending request for approval that a rule raised: never on a
suggestion, never where a mode raised the level (an allowance never lowers a mode's ``approve``,
``_allowances.covers``), the same tickets the inbox offers its form on. The modal proposes the
condition from the arguments that would run (``propose_condition``), editable; offers "any agent"
only to a reviewer of the policy's top tier (the Gate refuses it to anyone else anyway); and the
inbox's expiries. Agent text in it (the action, the agent, values in the proposed condition) is
revealed or escaped and labelled as the agent's; a proposal that would copy hidden characters is
not made (the reviewer writes the condition, as the inbox warns).
"""

from __future__ import annotations

import json
from typing import Any

from signoff._allowances import EXPIRIES, Allowance, allowable, propose_condition
from signoff._model import Ticket
from signoff._text import has_hidden
from signoff.notify._mrkdwn import escape, inline_code, plain
from signoff.notify._summary import AGENT_WORDS

__all__ = ["ALLOW", "ALLOW_VIEW", "CONDITION_BLOCK", "EXPIRES_BLOCK", "EXPIRY_LABELS", "SCOPE_BLOCK",
           "allow_modal", "allowable", "allowed_line"]

ALLOW = "signoff_allow"
"""The button's ``action_id``."""
ALLOW_VIEW = "signoff_allow"
"""The modal's ``callback_id``."""
CONDITION_BLOCK = "condition"
SCOPE_BLOCK = "scope"
EXPIRES_BLOCK = "expires"
"""The modal's input blocks; each block's element has the same ``action_id`` (errors name the block)."""
EXPIRY_LABELS = {"1h": "1 hour", "1d": "1 day", "7d": "7 days", "never": "until revoked"}
_INPUT_LIMIT = 3000
_OPTION_LIMIT = 75
_TEXT_LIMIT = 3000
_NAME_LIMIT = 200
"""An action's or agent's name in the dialog's text, at most (cut with a visible …)."""


def allow_modal(ticket: Ticket, *, any_agent: bool, response_url: str | None = None,
                message_ref: str | None = None) -> dict[str, Any]:
    """The modal the button opens for one reviewer; ``any_agent``: offer the "any agent" scope (top tier);
    ``message_ref``: the message whose thread hears of the allowance."""
    a = ticket.executable_action
    meta: dict[str, Any] = {"ticket": ticket.id}
    if message_ref:
        meta["message"] = message_ref
    if response_url and len(json.dumps({**meta, "response_url": response_url})) <= _TEXT_LIMIT:
        meta["response_url"] = response_url  # where the message is replaced once allowed
    proposal = propose_condition(a.args)
    warnings = []
    if has_hidden(proposal):
        proposal = ""
        warnings.append("The arguments hold hidden or control characters, so no condition is proposed: "
                        "write it yourself, or approve without allowing.")
    elif len(proposal) > _INPUT_LIMIT:
        proposal = ""
        warnings.append("The proposed condition is too long for this dialog: write it yourself, or use the inbox.")
    who = f"the agent {inline_code(plain(a.agent, _NAME_LIMIT))}" if a.agent else "requests without an agent"
    action = inline_code(plain(a.name, _NAME_LIMIT))
    intro = (f"Approves this request and, from now on, lets {who} run {action} without asking "
             "while the condition holds (shown in the feed, revocable on the Allowances page). "
             f"It never lifts a `deny`. _Action and agent names are {AGENT_WORDS}._")
    cond_element: dict[str, Any] = {"type": "plain_text_input", "action_id": CONDITION_BLOCK,
                                    "multiline": True, "max_length": _INPUT_LIMIT}
    if proposal:
        cond_element["initial_value"] = proposal
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
        {"type": "input", "block_id": CONDITION_BLOCK, "optional": bool(proposal),
         "label": {"type": "plain_text", "text": "Condition on the arguments (CEL over args)"},
         "hint": {"type": "plain_text", "text": (
             "Proposed from the agent's arguments (unverified): check it. Empty: any arguments." if proposal
             else "Nothing is proposed: write the condition (`true` allows any arguments).")},
         "element": cond_element},
    ]
    blocks.extend({"type": "context", "elements": [{"type": "mrkdwn", "text": w}]} for w in warnings)
    this_agent = _option(plain(f"this agent ({a.agent or '—'})", _OPTION_LIMIT), "agent")
    if any_agent:
        blocks.append({"type": "input", "block_id": SCOPE_BLOCK, "label": {"type": "plain_text", "text": "For"},
                       "element": {"type": "static_select", "action_id": SCOPE_BLOCK, "initial_option": this_agent,
                                   "options": [this_agent, _option("any agent", "any")]}})
    default = _option(EXPIRY_LABELS["1d"], "1d")
    blocks.append({"type": "input", "block_id": EXPIRES_BLOCK, "label": {"type": "plain_text", "text": "Expires after"},
                   "element": {"type": "static_select", "action_id": EXPIRES_BLOCK, "initial_option": default,
                               "options": [_option(EXPIRY_LABELS[k], k) for k in EXPIRIES]}})
    if ticket.required_approvals > 1:
        more = ticket.required_approvals - 1
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"This rule needs {ticket.required_approvals} reviewers: the allowance stands once {more} more "
            "give it with the same condition and scope (here or in the inbox).")}]})
    return {"type": "modal", "callback_id": ALLOW_VIEW, "private_metadata": json.dumps(meta, separators=(",", ":")),
            "title": {"type": "plain_text", "text": "Approve and allow"},
            "submit": {"type": "plain_text", "text": "Approve and allow"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def allowed_line(allowance: Allowance, via: str) -> str:
    """The message's mrkdwn line about an allowance just made (``via``: ``in Slack``); agent text in code."""
    who = inline_code(allowance.agent) if allowance.agent is not None else "any agent"
    cond = f" when {inline_code(allowance.condition)}" if allowance.condition else ""
    until = f"until {allowance.expires_at:%Y-%m-%d %H:%M} UTC" if allowance.expires_at else "until revoked"
    by = escape(", ".join(allowance.reviewers), one_line=True) + (f" {via}" if via else "")
    if allowance.status() == "pending":
        left = allowance.required - len(allowance.reviewers)
        return (f"Allowance {inline_code(allowance.id)} given by {by} waits for {left} more reviewer(s): "
                f"then {who} may run {inline_code(allowance.action)}{cond} without asking, {until}.")
    return (f"Allowed from now on by {by}: {who} may run {inline_code(allowance.action)}{cond} without asking, "
            f"{until} ({inline_code(allowance.id)}; revoke it on the Allowances page).")


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}
