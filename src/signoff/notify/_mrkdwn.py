"""Agent-written text made safe for Slack's mrkdwn: no mentions, no disguised links, no fake labels.

Slack parses ``<...>`` as control sequences (``<!channel>``, ``<@U123>``, ``<https://evil|safe>``)
and its documentation asks senders to escape exactly ``&``, ``<`` and ``>`` as ``&amp;``,
``&lt;`` and ``&gt;``; that alone neutralises every mention and disguised link. On top:

- ``@channel``, ``@here`` and ``@everyone`` typed bare get a full-width at sign (``＠here``),
  so no client setting (``link_names``) can turn them into a broadcast;
- formatting (``*bold*``, ``_italic_``, ``~strike~``, ``> quote``) cannot be escaped in mrkdwn,
  so agent text that could imitate our own labels is shown in code (``inline_code``,
  ``code_block``), where Slack formats nothing; a backtick in it shows as ``ˋ`` (U+02CB), so the
  agent cannot close the code span or the ``````` fence and write outside it;
- hidden and control characters are revealed as ``<U+XXXX>`` (``signoff._text.reveal``) before
  escaping, so they too arrive as visible text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from signoff._text import reveal

__all__ = ["BACKTICK", "code_block", "escape", "inline_code", "plain"]

BACKTICK = "\u02cb"
"""What a backtick in agent text shows as inside code: it looks alike and closes nothing."""

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def escape(text: str, *, one_line: bool = False) -> str:
    """``text`` for a mrkdwn field: revealed, ``& < >`` escaped, bare broadcasts disarmed.

    Formatting characters stay (use ``inline_code``/``code_block`` for agent text that must
    not look like our labels).
    """
    out = reveal(text, one_line=one_line)
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("\uff20", out)


def inline_code(text: str) -> str:
    """``text`` as one line of inline code (`` `deploy` ``): nothing in it is formatted or linked."""
    body = escape(text, one_line=True).replace("`", BACKTICK)
    return f"`{body}`" if body.strip() else "` `"


def code_block(lines: Iterable[str]) -> str:
    """The lines in a ``````` fence that agent text cannot close; empty lines kept."""
    body = "\n".join(escape(line).replace("`", BACKTICK) for line in lines)
    return f"```\n{body or ' '}\n```"


def plain(text: str, limit: int) -> str:
    """``text`` for a ``plain_text`` object (headers, buttons: Slack parses nothing there), one line,
    revealed, at most ``limit`` characters with a visible ``…``."""
    out = reveal(text, one_line=True)
    return out if len(out) <= limit else out[: limit - 1] + "…"
