"""Tickets as a Slack Block Kit message, and the reject modal: layout only, no network.

Used by the channel (posting and updating) and by the interaction route (the message
after a decision made in Slack), so both show the same thing. Content comes from
``_summary``; agent words are escaped by ``_mrkdwn`` and sit in code, under a label that
says they are unverified. Block Kit's limits hold: a text object at most 3,000
characters, 50 blocks, a header 150, a button's text 75 and its value 2,000; what does not
fit is cut with a visible marker that points to the inbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from signoff._allowances import Allowance
from signoff._model import Ticket
from signoff.notify._base import Links
from signoff.notify._mrkdwn import code_block, escape, inline_code, plain
from signoff.notify._slack_allow import ALLOW, allowable, allowed_line
from signoff.notify._summary import AGENT_WORDS, Summary, event_title, summarize, via_text

__all__ = [
    "ALLOW", "APPROVE", "APPROVE_ALL", "MAX_LISTED", "OPEN", "REJECT", "REJECT_ALL", "REJECT_VIEW",
    "TEXT_LIMIT", "VALUE_LIMIT", "ids_value", "reject_modal", "render",
]

APPROVE, REJECT, APPROVE_ALL, REJECT_ALL, OPEN = (
    "signoff_approve", "signoff_reject", "signoff_approve_all", "signoff_reject_all", "signoff_open")
"""The buttons' ``action_id``s (what ``slack_interactions`` recognises)."""
REJECT_VIEW = "signoff_reject"
"""The reject modal's ``callback_id``."""
FEEDBACK_BLOCK = FEEDBACK_ACTION = "feedback"

TEXT_LIMIT = 3000
VALUE_LIMIT = 2000
MAX_BLOCKS = 50
MAX_LISTED = 10
"""A coalesced message lists this many tickets (two blocks each); the rest are counted."""
_HEADER_LIMIT = 150
_BATCH_ARG_LINES = 8
_BATCH_REASONING = 280


def render(type_: str, tickets: Sequence[Ticket], links: Links, extra: Mapping[str, str] | None = None,
           *, now: datetime | None = None, allowance: Allowance | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The fallback ``text`` (notifications, screen readers) and the ``blocks`` for these tickets;
    ``allowance``: one just made on the (single) ticket, said in the title and a line."""
    summaries = [summarize(t, now=now) for t in tickets]
    title = event_title(type_, summaries, extra)
    if allowance is not None and len(summaries) == 1 and summaries[0].status == "approved":
        until = f"{allowance.expires_at:%Y-%m-%d %H:%M} UTC" if allowance.expires_at else "revoked"
        title = f"approved and allowed by {', '.join(allowance.reviewers)}" + (
            f" {via_text(extra)}" if via_text(extra) else "") + f", until {until}: {summaries[0].headline}"
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text",
                                                                "text": plain(title, _HEADER_LIMIT)}}]
    if extra and extra.get("escalated_to"):
        blocks.append(_context(f"Escalated: now for the {escape(extra['escalated_to'], one_line=True)} tier."))
    if len(summaries) > 1 and via_text(extra):  # one ticket's title says it already
        blocks.append(_context(f"Last decided {escape(via_text(extra), one_line=True)}."))
    if allowance is not None and len(summaries) == 1:
        blocks.append(_context(allowed_line(allowance, via_text(extra) or "")))
    if len(summaries) == 1:
        blocks.extend(_one(summaries[0], links, allow=allowable(tickets[0])))
    else:
        blocks.extend(_many(summaries, links))
    return escape(f"signoff: {title}", one_line=True), blocks[:MAX_BLOCKS]


def ids_value(ticket_ids: Sequence[str]) -> str:
    """A button's value for these tickets: a JSON list (``slack_interactions.parse_ids`` reads it)."""
    return json.dumps(list(ticket_ids), separators=(",", ":"))


def reject_modal(ticket_ids: Sequence[str], *, response_url: str | None = None) -> dict[str, Any]:
    """The modal a Reject button opens: the feedback for the agent; ticket ids in ``private_metadata``."""
    meta: dict[str, Any] = {"tickets": list(ticket_ids)}
    if response_url and len(json.dumps({**meta, "response_url": response_url})) <= TEXT_LIMIT:
        meta["response_url"] = response_url  # where the message is replaced once rejected
    n = len(ticket_ids)
    what = "this request" if n == 1 else f"these {n} requests"
    return {
        "type": "modal", "callback_id": REJECT_VIEW, "private_metadata": json.dumps(meta, separators=(",", ":")),
        "title": {"type": "plain_text", "text": "Reject" if n == 1 else f"Reject {n}"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": FEEDBACK_BLOCK,
                    "label": {"type": "plain_text", "text": f"Why reject {what}? The agent receives your words."},
                    "element": {"type": "plain_text_input", "action_id": FEEDBACK_ACTION, "multiline": True,
                                "max_length": 2000}}],
    }


# -- one ticket ---------------------------------------------------------------------------------

def _one(s: Summary, links: Links, *, allow: bool = False) -> list[dict[str, Any]]:
    url = links.ticket(s.ticket_id)
    wants = f"*Action:* {inline_code(s.action)}" + (f"   *Agent:* {inline_code(s.agent)}" if s.agent else "")
    label = "*Arguments (exact" + (", edited by a reviewer" if s.edited else "") + "):*"
    blocks = [_section(_fit_lines(f"{wants}\n{label}", list(s.args), url))]  # what the agent wants, first
    facts = []
    if s.why:
        facts.append(f"*Why a human is asked:* {escape(s.why, one_line=True)}")
    if s.approvals:
        by = f" ({escape(', '.join(s.approved_by), one_line=True)})" if s.approved_by else ""
        facts.append(f"*Who may decide:* {escape(s.tier, one_line=True)} · approvals {s.approvals}{by}")
    if s.deadline is not None and s.status == "pending":
        facts.append(f"*Deadline:* {_date(s.deadline)} ({s.time_left}), then {escape(s.on_timeout)}")
    if s.decided:
        facts.append(f"*Outcome:* {escape(s.decided, one_line=True)}")
    if s.feedback:
        facts.append(f"*Reviewer's feedback:* {inline_code(s.feedback)}")
    if facts:
        blocks.append(_section(_cut("\n".join(facts))))
    if s.reasoning:
        blocks.append(_section(_fit_lines(f"*Reasoning ({AGENT_WORDS}):*", s.reasoning.splitlines(), url)))
    if s.alternatives:
        alts = [f"- {' '.join(x.splitlines())}" for x in s.alternatives]
        blocks.append(_section(_fit_lines(f"*Alternatives ({AGENT_WORDS}):*", alts, url)))
    notes = []
    if s.confidence is not None:
        notes.append(f"The agent's own confidence: {s.confidence:.0%} (unverified).")
    if s.hidden:
        notes.append("Warning: the agent's text holds hidden or control characters, shown as &lt;U+XXXX&gt;.")
    if notes:
        blocks.append(_context(" ".join(notes)))
    buttons = [_button("Open in inbox", OPEN, url=url)]
    if s.status == "pending":
        buttons = [_button("Approve", APPROVE, value=s.ticket_id, style="primary"),
                   _button("Reject", REJECT, value=s.ticket_id, style="danger"), *buttons]
        if allow:  # "Approve and always allow…": opens a modal (_slack_allow)
            buttons.insert(1, _button("Approve and always allow…", ALLOW, value=s.ticket_id))
    blocks.append({"type": "actions", "block_id": "signoff_actions", "elements": buttons})
    return blocks


# -- several tickets, coalesced -------------------------------------------------------------------

def _many(summaries: Sequence[Summary], links: Links) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for i, s in enumerate(summaries[:MAX_LISTED], 1):
        url = links.ticket(s.ticket_id)
        head = f"*{i}.* {inline_code(s.headline)} · <{_url(url)}|open> · {escape(s.decided or s.status)}"
        if s.why:
            head += f"\n*Why:* {escape(s.why, one_line=True)}"
        args = list(s.args[:_BATCH_ARG_LINES])
        if len(s.args) > _BATCH_ARG_LINES:
            args.append(f"… {len(s.args) - _BATCH_ARG_LINES} more lines")
        blocks.append(_section(_fit_lines(head + "\n*Arguments (exact):*", args, url)))
        if s.reasoning:
            words = " ".join(s.reasoning.split())
            if len(words) > _BATCH_REASONING:
                words = words[:_BATCH_REASONING] + f" … {len(words) - _BATCH_REASONING:,} more characters"
            blocks.append(_context(f"_Reasoning ({AGENT_WORDS}):_ {inline_code(words)}"))
    if len(summaries) > MAX_LISTED:
        blocks.append(_context(f"… and {len(summaries) - MAX_LISTED} more tickets: open the inbox to see them."))
    pending = [s.ticket_id for s in summaries if s.status == "pending"]
    inbox = _button("Open in inbox", OPEN, url=links.inbox())
    value = ids_value(pending)
    if len(pending) > 1 and len(value) <= VALUE_LIMIT:
        n = len(pending)
        buttons = [_button(f"Approve all {n}", APPROVE_ALL, value=value, style="primary"),
                   _button(f"Reject all {n}", REJECT_ALL, value=value, style="danger"), inbox]
    else:
        buttons = [inbox]
        if len(pending) > 1:
            blocks.append(_context(f"{len(pending)} pending tickets are too many to decide here at once: "
                                   "open the inbox to decide them."))
        elif pending:
            blocks.append(_context("One ticket is still pending: open it in the inbox to decide it."))
    blocks.append({"type": "actions", "block_id": "signoff_actions", "elements": buttons})
    return blocks


# -- pieces -------------------------------------------------------------------------------------

def _fit_lines(head: str, lines: Sequence[str], url: str) -> str:
    """``head`` then ``lines`` in a code block, dropping lines from the end until it fits in a
    text object, with a visible count of what was left out (outside the fence)."""
    if not lines:
        return _cut(head)
    keep = len(lines)
    while True:
        more = len(lines) - keep
        tail = f"\n… {more:,} more lines not shown here: <{_url(url)}|open in the inbox>" if more else ""
        text = f"{head}\n{code_block(lines[:keep])}{tail}"
        if len(text) <= TEXT_LIMIT or keep == 0:
            return _cut(text)
        keep = max(0, min(keep - 1, keep * TEXT_LIMIT // len(text)))


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 40] + "\n… (cut: open the inbox)"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text)}]}


def _button(text: str, action_id: str, *, value: str | None = None, url: str | None = None,
            style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}
    if value is not None:
        b["value"] = value
    if url is not None:
        b["url"] = url
    if style is not None:
        b["style"] = style
    return b


def _url(url: str) -> str:
    """Our own link inside ``<url|label>``: only the characters that would end it are escaped."""
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def _date(when: datetime) -> str:
    """Slack's date formatting (each reader's time zone), with UTC text as the fallback."""
    ts = int(when.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{when.strftime('%Y-%m-%d %H:%M UTC')}>"
