"""Showing text an agent wrote to a person, safely: nothing hidden, nothing that drives the terminal.

An agent's reasoning, arguments and names are untrusted: a prompt-injected agent can hide
words from a reviewer with bidi overrides (``U+202E`` turns "exe.txt" into "txt.exe"),
zero-width characters or Unicode tag characters, and can rewrite a terminal with escape
sequences (clear the screen, move the cursor, change the window title, write a hyperlink).
``reveal`` makes every such character visible as ``<U+XXXX>`` instead of removing it, so
the reviewer sees that something was hidden, and the terminal never receives an escape.
The CLI and the web inbox use the same function, so both show the same thing.
"""

from __future__ import annotations

import unicodedata

__all__ = ["has_hidden", "reveal", "reveal_value"]

# Characters that hide or reorder text. All are category Cf (format) except the line and
# paragraph separators; Cf also covers the Unicode tag block (U+E0000..E007F) used to
# smuggle invisible ASCII, soft hyphens and the invisible math operators.
_EXTRA_HIDDEN = {"\u2028", "\u2029", "\u115f", "\u1160", "\u3164", "\uffa0"}  # separators, Hangul fillers


def _is_hidden(ch: str) -> bool:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:  # C0 and C1 controls, DEL: ESC and CSI start escapes
        return True
    if ch in _EXTRA_HIDDEN:
        return True
    if 0xE0100 <= code <= 0xE01EF:  # variation selectors supplement: invisible, used to smuggle bytes
        return True
    cat = unicodedata.category(ch)
    return cat in ("Cf", "Cs", "Co", "Cn") and code > 0x7F


def _marker(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def reveal(text: str, *, one_line: bool = False, max_len: int | None = None) -> str:
    """``text`` with every control, format and invisible character shown as ``<U+XXXX>``.

    Newlines and tabs are kept (they are visible and harmless) unless ``one_line`` is set,
    which turns them into ``\\n`` and ``\\t`` for table cells. ``max_len`` shortens the
    result to that many characters with a trailing ``…`` (after revealing, so a marker is
    never cut in half).
    """
    out: list[str] = []
    for ch in text:
        if ch == "\n":
            out.append("\\n" if one_line else "\n")
        elif ch == "\t":
            out.append("\\t" if one_line else "\t")
        elif ch == "\r":
            out.append("\\r")
        elif _is_hidden(ch):
            out.append(_marker(ch))
        else:
            out.append(ch)
    if max_len is not None and sum(len(p) for p in out) > max_len:
        kept: list[str] = []
        n = 0
        for piece in out:
            if n + len(piece) > max_len - 1:
                break
            kept.append(piece)
            n += len(piece)
        return "".join(kept) + "…"
    return "".join(out)


def has_hidden(text: str) -> bool:
    """True when ``reveal`` would change something other than newlines and tabs."""
    return any(ch == "\r" or (ch not in "\n\t" and _is_hidden(ch)) for ch in text)


def reveal_value(value: object, *, one_line: bool = False, max_len: int | None = None) -> str:
    """``reveal`` for any value: strings as they are, other values as compact JSON-ish text."""
    if isinstance(value, str):
        return reveal(value, one_line=one_line, max_len=max_len)
    import json

    from signoff._limits import bounded

    try:  # bounded: a value stored before the limits may be nested deeper than json.dumps recurses
        text = json.dumps(bounded(value), ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return reveal(text, one_line=one_line, max_len=max_len)
