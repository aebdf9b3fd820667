"""Composing a notification email: one message per recipient, a text part and an HTML part.

Each recipient gets their own message because the one-click links in it are bound to them
(``Links.decide(ticket_ids, their_address, verdict)``): a forwarded email decides as the
person it was sent to, and only if they may. Without a link (no reviewer with that address,
or one who may not decide) the message points to the inbox.

The templates live in ``notify/templates``; HTML is autoescaped, so the agent's text (which
may hold ``<script>`` or a disguised ``<a href>``) arrives as text. In both parts the agent's
words are set apart and labelled unverified, and the text part quotes them with ``| `` so a
line the agent wrote cannot pass for one of ours (a fake "Approve: https://..." line).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path

import jinja2

from signoff.notify._base import Message
from signoff.notify._summary import AGENT_WORDS, Summary, event_title, summarize

__all__ = ["compose"]

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_MAX = 180
_ASKS = ("ticket.created", "ticket.escalated", "ticket.expiring")
"""Events about tickets that still wait for a decision: their emails carry decision links."""


@dataclass(frozen=True)
class _Item:
    """One ticket as the templates see it."""

    s: Summary
    url: str
    approve: str | None
    reject: str | None


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


async def compose(message: Message, *, sender: str, to: str) -> EmailMessage:
    """The email for recipient ``to``: subject, text and HTML, with links bound to ``to``."""
    summaries = [summarize(t) for t in message.tickets]
    asks = message.type in _ASKS
    items: list[_Item] = []
    for t, s in zip(message.tickets, summaries, strict=True):
        pending = asks and t.status == "pending" and t.kind == "approval"
        items.append(_Item(s, message.links.ticket(t.id),
                           await message.links.decide([t.id], to, "approve") if pending else None,
                           await message.links.decide([t.id], to, "reject") if pending else None))
    pending_ids = [t.id for t in message.tickets if asks and t.status == "pending" and t.kind == "approval"]
    approve_all = None
    if len(pending_ids) > 1:
        approve_all = await message.links.decide(pending_ids, to, "approve")
    title = event_title(message.type, summaries, message.extra)
    ctx = dict(title=title, items=items, approve_all=approve_all, n_all=len(pending_ids),
               inbox=message.links.inbox(), agent_words=AGENT_WORDS, asks=asks, event=message.type,
               channel=message.channel)
    env = _env()
    mail = EmailMessage()
    subject = f"[signoff] {title}"
    mail["Subject"] = subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = format_datetime(message.at)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Signoff-Event"] = message.id
    mail.set_content(env.get_template("email.txt").render(**ctx))
    mail.add_alternative(env.get_template("email.html").render(**ctx), subtype="html")
    return mail
