"""The console channel: each message as one readable block in the server's log.

For development and demos (``make run``): no account, no network, and the reviewer sees
in the terminal that a ticket waits and where to open it. Everything the agent wrote has
been through ``signoff._text.reveal`` (in ``_summary``), so a block never carries a
terminal escape, and the reasoning and alternatives are labelled as the agent's words.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TextIO

from signoff.notify._base import Message, Sent
from signoff.notify._summary import AGENT_WORDS, Summary, event_title, summarize

__all__ = ["ConsoleChannel", "render_block"]


class ConsoleChannel:
    """Writes each message to ``stream`` (default: standard error, where ``signoff serve`` logs),
    or logs it at INFO on a ``logging.Logger``. Never fails permanently: there is nothing to reach."""

    kind = "console"

    def __init__(self, name: str, *, stream: TextIO | logging.Logger | None = None) -> None:
        self.name = name
        self._out = stream

    async def send(self, message: Message) -> Sent:
        block = render_block(message)
        out = self._out
        if isinstance(out, logging.Logger):
            out.info("%s", block)
        else:
            stream = out if out is not None else sys.stderr
            # A blocked terminal or pipe must not stall the event loop.
            await asyncio.to_thread(_write, stream, block)
        return Sent(detail="written to the server log")

    async def aclose(self) -> None:
        return None


def _write(stream: TextIO, block: str) -> None:
    stream.write(block + "\n")
    stream.flush()


def render_block(message: Message) -> str:
    """The text written for ``message``: a title line, then each ticket indented."""
    summaries = [summarize(t) for t in message.tickets]
    lines = [f"[signoff] {event_title(message.type, summaries, message.extra)}"
             f"  ({message.type}, channel {message.channel})"]
    for s in summaries:
        lines.extend(_ticket_lines(s, message))
    return "\n".join(lines)


def _ticket_lines(s: Summary, message: Message) -> list[str]:
    def row(label: str, value: str) -> str:
        return f"    {label + ':':<13}{value}"

    out = [f"  ticket {s.ticket_id} ({s.status})", row("action", s.action), row("agent", s.agent or "-")]
    if s.why:
        out.append(row("why", s.why))
    if s.approvals:
        out.append(row("reviewers", f"{s.tier}, {s.approvals} approvals"))
    if s.time_left:
        out.append(row("deadline", f"{s.time_left}, then {s.on_timeout}"))
    if s.decided:
        out.append(row("decided", s.decided))
    if s.feedback:
        out.append(row("feedback", s.feedback))
    out.append(f"    arguments{' (edited by a reviewer)' if s.edited else ''}:")
    out.extend("      " + line for line in s.args)
    if s.reasoning:
        out.append(f"    reasoning ({AGENT_WORDS}):")
        out.extend("      | " + line for line in s.reasoning.splitlines())
    if s.alternatives:
        out.append(f"    alternatives ({AGENT_WORDS}):")
        out.extend("      | - " + " ".join(x.splitlines()) for x in s.alternatives)
    if s.hidden:
        out.append("    warning: the agent's text holds hidden or control characters, shown as <U+XXXX>")
    out.append(row("open", message.links.ticket(s.ticket_id)))
    return out
