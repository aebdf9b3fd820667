"""Characters a reviewer cannot see, found and named so the page can show them.

An agent (or whoever wrote the text it read) can hide what an action does behind
characters that render as nothing or reorder what is shown: bidi overrides
(U+202A-202E, U+2066-2069) make ``txt.exe`` look like ``exe.txt``, zero-width
characters split words so that a check by eye passes, and tag characters
(U+E0000-E007F) carry invisible instructions. The inbox escapes everything the
agent wrote and, in addition, replaces each such character with a visible marker
(``<U+202E>``) and a warning badge, so that what the reviewer reads is what runs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from signoff._text import _is_hidden

__all__ = ["Hidden", "find_hidden", "is_hidden"]

# The same characters the CLI reveals (signoff._text decides what is hidden, so the terminal
# and the browser never disagree); this module adds where each one is and what kind it is.
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}
_ZERO_WIDTH = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}
_NAMES = {0x115F: "HANGUL CHOSEONG FILLER", 0x1160: "HANGUL JUNGSEONG FILLER", 0x3164: "HANGUL FILLER",
          0xFFA0: "HALFWIDTH HANGUL FILLER"}


@dataclass(frozen=True)
class Hidden:
    """One hidden character: where it is and what it is."""

    index: int
    char: str
    kind: str
    """``bidi``, ``zero-width``, ``tag``, ``control`` or ``invisible``."""

    @property
    def code(self) -> str:
        return f"U+{ord(self.char):04X}"

    @property
    def name(self) -> str:
        return unicodedata.name(self.char, _NAMES.get(ord(self.char), "control character"))

    @property
    def marker(self) -> str:
        """What the page shows instead of the character: ``<U+202E>``."""
        return f"<{self.code}>"


def _kind(ch: str, *, allow_newlines: bool) -> str | None:
    if allow_newlines and ch in "\n\t":
        return None
    if not _is_hidden(ch):
        return None
    cp = ord(ch)
    if cp in _BIDI:
        return "bidi"
    if cp in _ZERO_WIDTH:
        return "zero-width"
    if 0xE0000 <= cp <= 0xE007F:
        return "tag"
    if cp < 0x20 or 0x7F <= cp <= 0x9F:
        return "control"
    return "invisible"


def is_hidden(ch: str, *, allow_newlines: bool = False) -> bool:
    """True when ``ch`` would be invisible or would change how text around it is displayed."""
    return _kind(ch, allow_newlines=allow_newlines) is not None


def find_hidden(text: str, *, allow_newlines: bool = False) -> list[Hidden]:
    """Every hidden character in ``text``, in order.

    ``allow_newlines`` accepts line feeds and tabs (free text such as a reasoning, shown
    with its line breaks); everywhere else they are flagged too.
    """
    if text.isascii() and text.isprintable():
        return []  # the common case, at C speed
    found: list[Hidden] = []
    for i, ch in enumerate(text):
        kind = _kind(ch, allow_newlines=allow_newlines)
        if kind is not None:
            found.append(Hidden(i, ch, kind))
    return found
