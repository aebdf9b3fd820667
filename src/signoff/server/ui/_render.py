"""Turning agent-written values into safe, complete HTML: escaped, hidden characters marked, long values folded.

Everything here returns ``Markup`` built from escaped pieces only, so a template can
insert it as is. Nothing is ever cut silently: a long string, list or object shows its
beginning and a visible "… 1,234 more characters [show]" marker that opens the rest
(a checkbox and its label, so it works without JavaScript).
"""

from __future__ import annotations

import difflib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from signoff import _limits
from signoff._limits import bounded
from signoff.server.ui._hidden import Hidden, find_hidden

__all__ = [
    "ago",
    "args_diff",
    "args_preview",
    "audit_details",
    "count_hidden",
    "duration",
    "hidden_counts",
    "json_html",
    "pretty_json",
    "text_html",
    "until",
]

FOLD_CHARS = 400
"""A string longer than this is folded..."""
FOLD_KEEP = 300
"""...after its first FOLD_KEEP characters."""
FOLD_ITEMS = 100
"""A list or object with more entries than this is folded..."""
FOLD_ITEMS_KEEP = 50
"""...after its first FOLD_ITEMS_KEEP entries."""
_fold_ids = itertools.count(1)
MAX_DEPTH = _limits.MAX_DEPTH
"""Containers nested deeper than this (the limit agents are held to) show as a placeholder: only
a ticket stored before the limit existed has them, and no renderer may fail on it."""


def _marked(text: str, *, allow_newlines: bool = False) -> Markup:
    """Escape ``text``; replace each hidden character with a visible, explained marker."""
    hidden = find_hidden(text, allow_newlines=allow_newlines)
    if not hidden:
        return escape(text)
    out: list[Markup] = []
    last = 0
    for h in hidden:
        out.append(escape(text[last:h.index]))
        out.append(_marker(h))
        last = h.index + 1
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _marker(h: Hidden) -> Markup:
    return Markup('<mark class="hidden-char" title="{title}">{marker}</mark>').format(
        title=f"hidden character {h.code} {h.name} ({h.kind})", marker=h.marker)


def text_html(text: str, *, allow_newlines: bool = True) -> Markup:
    """Agent-written free text (a reasoning): escaped, hidden characters marked, long text folded."""
    if len(text) <= FOLD_CHARS * 5:
        return _marked(text, allow_newlines=allow_newlines)
    keep = FOLD_KEEP * 5
    head, rest = text[:keep], text[keep:]
    return _marked(head, allow_newlines=allow_newlines) + _fold(
        f"{len(rest):,} more characters", _marked(rest, allow_newlines=allow_newlines),
        len(find_hidden(rest, allow_newlines=allow_newlines)))


def _fold(what: str, body: Markup, hidden: int) -> Markup:
    """The rest of a long value behind a visible marker; a checkbox and a label open it (no script needed).

    Not ``<details>``: Chrome lays a closed ``<details>`` out as a block even when styled inline,
    which would break the JSON's lines around the marker.
    """
    warn = Markup("")
    if hidden:
        warn = Markup(' <span class="warn-badge">⚠ {n} hidden character{s} inside</span>').format(
            n=hidden, s="" if hidden == 1 else "s")
    fid = f"fold-{next(_fold_ids)}"
    return Markup(
        '<span class="fold"><input type="checkbox" class="fold-toggle" id="{fid}">'
        '<label for="{fid}" class="fold-label"><span class="fold-closed">… {what} [show]</span>'
        '<span class="fold-open">[fold]</span>{warn}</label><span class="fold-rest">{body}</span></span>'
    ).format(fid=fid, what=what, warn=warn, body=body)


def _json_string(value: str) -> Markup:
    def enc(s: str) -> Markup:
        return _marked(json.dumps(s, ensure_ascii=False)[1:-1])

    if len(value) <= FOLD_CHARS:
        return Markup('<span class="s">"{}"</span>').format(enc(value))
    head, rest = value[:FOLD_KEEP], value[FOLD_KEEP:]
    return Markup('<span class="s">"{head}{fold}"</span>').format(
        head=enc(head), fold=_fold(f"{len(rest):,} more characters", enc(rest), len(find_hidden(rest))))


def _scalar(value: Any) -> Markup:
    if isinstance(value, str):
        return _json_string(value)
    if value is None or isinstance(value, bool):
        return Markup('<span class="b">{}</span>').format(json.dumps(value))
    if isinstance(value, (int, float)):
        return Markup('<span class="n">{}</span>').format(json.dumps(value))
    return _json_string(str(value))


def _render(value: Any, indent: int, depth: int) -> Markup:
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if depth >= MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return Markup('<span class="warn-badge deep">{}</span>').format(_limits.placeholder(MAX_DEPTH))
    if isinstance(value, Mapping):
        if not value:
            return Markup("{}")
        items = list(value.items())
        lines = [Markup("{pad}{key}: {val}").format(pad=inner, key=_json_key(k),
                                                    val=_render(v, indent + 1, depth + 1))
                 for k, v in items[:FOLD_ITEMS_KEEP if len(items) > FOLD_ITEMS else len(items)]]
        return _container("{", "}", lines, items, pad, inner, indent, depth, keyed=True)
    if isinstance(value, (list, tuple)):
        if not value:
            return Markup("[]")
        seq = list(value)
        lines = [Markup("{pad}{val}").format(pad=inner, val=_render(v, indent + 1, depth + 1))
                 for v in seq[:FOLD_ITEMS_KEEP if len(seq) > FOLD_ITEMS else len(seq)]]
        return _container("[", "]", lines, seq, pad, inner, indent, depth, keyed=False)
    return _scalar(value)


def _json_key(key: Any) -> Markup:
    return Markup('<span class="k">"{}"</span>').format(_marked(json.dumps(str(key), ensure_ascii=False)[1:-1]))


def _container(open_: str, close: str, lines: list[Markup], items: Sequence[Any], pad: str, inner: str,
               indent: int, depth: int, *, keyed: bool) -> Markup:
    body = Markup(",\n").join(lines)
    if len(items) > len(lines):
        rest_items = items[len(lines):]
        if keyed:
            rest = [Markup("{pad}{key}: {val}").format(pad=inner, key=_json_key(k),
                                                       val=_render(v, indent + 1, depth + 1))
                    for k, v in rest_items]
        else:
            rest = [Markup("{pad}{val}").format(pad=inner, val=_render(v, indent + 1, depth + 1))
                    for v in rest_items]
        hidden = sum(count_hidden(x) for x in rest_items)
        what = f"{len(rest_items):,} more {'entries' if keyed else 'items'}"
        body = body + Markup(",\n") + _fold(what, Markup("\n") + Markup(",\n").join(rest), hidden)
    return Markup("{o}\n{body}\n{pad}{c}").format(o=open_, body=body, pad=pad, c=close)


def json_html(value: Any) -> Markup:
    """Pretty JSON for a ``<pre>``: every key and value shown, long ones folded with a visible marker."""
    return _render(value, 0, 0)


def count_hidden(value: Any, _depth: int = 0) -> int:
    """How many hidden characters ``value`` holds, in keys and strings, as deep as ``json_html`` shows."""
    if isinstance(value, str):
        # As displayed: JSON-escaped, so newlines and other C0 controls already show as \n, \u0007...
        return len(find_hidden(json.dumps(value, ensure_ascii=False)[1:-1]))
    if _depth >= MAX_DEPTH:  # shown as a placeholder, and never recursed into
        return 0
    if isinstance(value, Mapping):
        return sum(count_hidden(str(k)) + count_hidden(v, _depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(count_hidden(v, _depth + 1) for v in value)
    return 0


def hidden_counts(ticket: Any) -> dict[str, int]:
    """Hidden characters per part of what the agent sent (the ticket page's banner, the inbox badge).

    Every agent-written part counts, tags and context included: a banner that leaves one out
    tells the reviewer the text is clean when it is not.
    """
    a = ticket.action
    return {
        "name": len(find_hidden(a.name)), "agent": len(find_hidden(a.agent)),
        "args": count_hidden(dict(a.args)),
        "reasoning": len(find_hidden(a.reasoning, allow_newlines=True)),
        "alternatives": sum(len(find_hidden(x, allow_newlines=True)) for x in a.alternatives),
        "tags": sum(len(find_hidden(str(x))) for x in a.tags),
        "context": count_hidden(dict(a.context)),
        "edited": count_hidden(dict(ticket.edited_args)) if ticket.edited_args is not None else 0,
    }


def pretty_json(value: Any) -> str:
    """The text a reviewer edits: indented, keys in the agent's order, non-ASCII kept."""
    return json.dumps(bounded(value), indent=2, ensure_ascii=False, default=str)


def _compact(value: Any) -> str:
    return json.dumps(bounded(value), ensure_ascii=False, default=str, separators=(",", ":"))


def _key(key: Any) -> str:
    """A key quoted like a string value, so ``a=1, b`` as one key cannot pass for two fields."""
    return json.dumps(str(key), ensure_ascii=False)


def args_preview(args: Mapping[str, Any], width: int = 80, per_value: int = 36) -> Markup:
    """One line for the inbox row: ``"key"=value, ...``; each shortened part ends in a visible ``…``.

    Keys are quoted as string values are. Only a preview: the ticket page shows every argument in full.
    """
    parts: list[str] = []
    for k, v in args.items():
        text = _compact(v)
        if len(text) > per_value:
            text = text[: per_value - 1] + "…"
        key = _key(k)
        if len(key) > per_value:
            key = key[: per_value - 1] + "…"
        parts.append(f"{key}={text}")
    line = ", ".join(parts)
    if len(line) > width:
        line = line[: width - 1] + "…"
    return _marked(line)


def args_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Markup, int]:
    """A full unified diff of the pretty JSON of ``old`` and ``new``; returns (HTML lines, changed lines)."""
    a = json.dumps(bounded(old), indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    b = json.dumps(bounded(new), indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    out: list[Markup] = []
    changed = 0
    for line in difflib.ndiff(a, b):
        tag, body = line[:1], line[2:]
        if tag == "?":
            continue
        cls = {"-": "del", "+": "add"}.get(tag, "ctx")
        changed += tag in "+-"
        sign = {"-": "−", "+": "+"}.get(tag, " ")
        out.append(Markup('<span class="d-{cls}">{sign} {body}</span>').format(
            cls=cls, sign=sign, body=_marked(body)))
    return Markup("\n").join(out), changed


def audit_details(data: Mapping[str, Any]) -> str:
    """An audit entry's data on one line, ``"key"=value · ...``: keys and string values quoted (JSON),
    so neither can fake another field; the caller marks hidden characters."""
    return " · ".join(f"{_key(k)}={_compact(v)}" for k, v in data.items())


def duration(seconds: float) -> str:
    """``2h 05m``, ``4m 10s``, ``12s``: short and exact enough for a glance."""
    s = int(abs(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h:02d}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    return duration((now - when).total_seconds()) + " ago"


def until(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "no deadline"
    secs = (when - now).total_seconds()
    return "overdue" if secs <= 0 else "in " + duration(secs)


def join_words(items: Iterable[str]) -> str:
    xs = list(items)
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]
