"""Group keys, and what a group's members have in common and where they differ.

Similar pending tickets are grouped so a reviewer can decide them at once. "Similar" must
never hide a difference in kind: a refund of 250,000 is not one more refund of 250. So the
key covers the action, the rules that matched, the argument shape (keys and value types)
and, for every number, its decimal order of magnitude (``magnitude``): 100 and 999 share a
group, 99 and 100 do not, and within a group no number is ten times another of the same
argument. Within a group, ``spread`` says per argument how the members differ, for the
reviewer to read before deciding them together.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from signoff._errors import UserError
from signoff._text import has_hidden, reveal

__all__ = ["MAX_GROUP_DECISION", "Spread", "group_key", "magnitude", "shown_ids", "spread"]

SHORT_VALUE = 32
"""Values up to this many characters (as JSON) are listed in a group summary; longer ones are counted."""
FEW_VALUES = 4
"""At most this many distinct values are listed; more are counted."""
MAX_PATH_DEPTH = 8
"""Objects nested deeper than this are summarised as whole values."""
MAX_GROUP_DECISION = 1000
"""Most tickets one group decision may name (the inbox shows at most 100 a page)."""
_MISSING = object()


def magnitude(value: float) -> str:
    """The decimal order of magnitude of a number: ``1e2`` for 100..999, ``-1e2`` for -999..-100, ``0``.

    Computed exactly (``Decimal``), so 1000.0 is ``1e3`` and 999.9999999999999 is ``1e2``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    return f"{sign}1e{Decimal(abs(value)).adjusted()}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shape(value: Any, depth: int = 0) -> Any:
    if depth > 200:  # far deeper than any real argument; bounds the recursion whatever is stored
        return "deep"
    if isinstance(value, Mapping):
        return {str(k): _shape(v, depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return ["list"]
    if _is_number(value):
        return f"{type(value).__name__}:{magnitude(value)}"
    return type(value).__name__


def group_key(action_name: str, rules: Sequence[str], args: Mapping[str, Any]) -> str:
    """Readable prefix plus a digest of the rules, the argument shape and each number's magnitude."""
    body = repr((tuple(rules), _shape(args)))
    return f"{action_name}~{hashlib.sha256(body.encode()).hexdigest()[:10]}"


def shown_ids(ticket_ids: Iterable[str]) -> list[str]:
    """The ids a group decision names, checked: a non-empty list of ids, each once, in order.

    A group decision decides what the reviewer was shown, so it must say what that was.
    """
    if isinstance(ticket_ids, (str, bytes)):
        raise UserError("ticket_ids must be a list of ticket ids, not one string")
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise UserError("ticket_ids is empty: name the tickets of the group the reviewer was shown")
    bad = next((t for t in ids if not isinstance(t, str) or not t or len(t) > 200), None)
    if bad is not None:
        raise UserError(f"ticket_ids holds {bad!r}, which is not a ticket id")
    if len(ids) > MAX_GROUP_DECISION:
        raise UserError(f"ticket_ids names {len(ids)} tickets; one group decision takes at most "
                        f"{MAX_GROUP_DECISION}")
    return ids


@dataclass(frozen=True)
class Spread:
    """One argument across a group's members: the same everywhere, or how it varies.

    ``path`` and ``text`` are display text, already revealed (hidden and control characters
    shown as ``<U+XXXX>``), safe for a terminal; a web page still escapes them.
    """

    path: str
    """The argument: its JSON-quoted keys, joined by ``.`` for nested objects (``"to"."iban"``)."""
    varies: bool
    text: str
    """``250`` (the same), ``250 – 999`` (numbers), ``"EUR", "USD"`` (a few short values), ``6 distinct values``."""
    hidden: bool
    """A hidden or control character was revealed in the path or the values."""


def _flatten(args: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for k, v in args.items():
        path = (*prefix, str(k))
        if isinstance(v, Mapping) and v and len(path) < MAX_PATH_DEPTH:
            out.update(_flatten(v, path))
        else:
            out[path] = v
    return out


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        return f"<a value that cannot be shown as JSON ({type(value).__name__})>"


def _number(value: float) -> str:
    if isinstance(value, float) and (not math.isfinite(value) or abs(value) >= 1e16):
        return repr(value)
    return f"{value:,}"


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "(missing)"
    if _is_number(value):
        return _number(value)
    return _json(value)


def _describe(values: list[Any]) -> tuple[bool, str]:
    distinct: dict[str, Any] = {}
    for v in values:
        distinct.setdefault("\0missing" if v is _MISSING else _json(v), v)
    if len(distinct) == 1:
        return False, _shown(values[0])
    if all(_is_number(v) for v in values):
        return True, f"{_number(min(values))} – {_number(max(values))}"
    shown = [_shown(v) for v in distinct.values()]
    scalars = all(v is _MISSING or v is None or isinstance(v, (str, bool, int, float)) for v in values)
    if scalars and len(shown) <= FEW_VALUES and all(len(s) <= SHORT_VALUE for s in shown):
        return True, ", ".join(shown)
    return True, f"{len(distinct)} distinct values"


def spread(members: Sequence[Mapping[str, Any]]) -> list[Spread]:
    """Per argument (nested objects flattened), in the order first seen: the same, or how it varies.

    Numbers that vary show ``min – max``; a few short values are listed; otherwise the
    count of distinct values. An argument some members lack counts as varying.
    """
    flat = [_flatten(m) for m in members]
    paths: dict[tuple[str, ...], None] = {}
    for f in flat:
        paths.update(dict.fromkeys(f))
    out: list[Spread] = []
    for path in paths:
        values = [f.get(path, _MISSING) for f in flat]
        varies, text = _describe(values)
        raw_path = ".".join(json.dumps(k, ensure_ascii=False) for k in path)
        shown_text = text if len(text) <= 4 * SHORT_VALUE else text[: 4 * SHORT_VALUE - 1] + "…"
        out.append(Spread(path=reveal(raw_path, one_line=True, max_len=4 * SHORT_VALUE), varies=varies,
                          text=reveal(shown_text, one_line=True),
                          hidden=has_hidden(raw_path) or has_hidden(shown_text)
                          or any(isinstance(v, str) and has_hidden(v) for v in values)))
    return out
