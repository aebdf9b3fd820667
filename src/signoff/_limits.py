"""Bounds on what an agent may send, and safe views of values stored before the bounds existed.

An agent's arguments reach every reviewer's screen and every serializer on the way there.
A value nested 600 levels deep used to be stored and then break the inbox for everyone
(Python's recursion limit; orjson writes at most 255 levels), and an integer beyond 64
bits became a float, so a reviewer approved a number the agent never sent. So:

- ``check_action_fields`` runs where an ``Action`` is made (``Action.__post_init__``): every door
  (a local Gate, the HTTP API, the adapters, the CLI) refuses the same values with a
  ``UserError`` (HTTP 422) naming the field and the limit, before anything is stored.
- ``bounded`` is for what is already stored: too-deep parts become a placeholder and
  out-of-range integers their exact digits as text, so a renderer or serializer never fails.

The walks here never recurse deeper than the limit they enforce, whatever the input.
The limits are constants, not settings: the server, its clients and the stores must agree
on them, and orjson (the API's JSON) caps nesting at 255 levels anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signoff._errors_root import UserError

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_NAME",
    "MAX_SIZE",
    "MAX_STATE_DEPTH",
    "MAX_TEXT",
    "bounded",
    "check_action_fields",
    "check_value",
    "placeholder",
]

MAX_DEPTH = 32
"""Containers nested in ``args`` or ``context``, counting the mapping itself: ``{"a": [1]}`` is 2."""
MAX_SIZE = 4_000_000
"""About this many characters of JSON for ``args`` and ``context`` together."""
MAX_NAME = 200
"""Characters in ``name``, ``agent`` and each tag."""
MAX_TEXT = 100_000
"""Characters in ``reasoning`` and in each alternative."""
MAX_ITEMS = 100
"""Tags, and alternatives."""
MAX_STATE_DEPTH = 128
"""Nesting of a JSON state saved with a ticket (the agent gets it back through orjson)."""
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""Integers must fit in 64 bits (signed): larger ones would be rounded by JSON parsers and CEL."""

_Containers = (Mapping, list, tuple)


def placeholder(depth: int) -> str:
    return f"<nested deeper than {depth} levels>"


def _path(node: tuple[Any, ...] | None) -> str:
    """``args['a'][0]`` from the walk's linked (parent, key) nodes."""
    parts: list[str] = []
    while node is not None:
        node, key = node
        if node is None:  # the root: the field's own name
            parts.append(str(key))
        elif isinstance(key, int) and not isinstance(key, bool):
            parts.append(f"[{key}]")
        else:
            text = repr(key) if len(repr(key)) <= 42 else repr(key)[:40] + "…'"
            parts.append(f"[{text}]")
    return "".join(reversed(parts))


def _bad_text(text: str) -> bool:
    """A lone surrogate: not Unicode, so no JSON encoder or database can carry it."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_value(value: Any, field: str, *, max_depth: int = MAX_DEPTH, max_size: int | None = MAX_SIZE,
                owner: str = "Action.") -> int:
    """Refuse ``value`` (the field ``field`` of ``owner``) if it is too deep or too large, holds an integer
    beyond 64 bits or a string that is not Unicode; returns its size (about, in JSON characters)."""
    size = 0
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, (None, field))]
    while stack:
        item, depth, node = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
            if _bad_text(item):
                raise UserError(f"{owner}{_path(node)} is not valid Unicode text (it holds a lone surrogate)",
                                field=_path(node))
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += 8
            if not INT_MIN <= item <= INT_MAX:
                raise UserError(
                    f"{owner}{_path(node)} is the integer {item}, beyond 64 bits ({INT_MIN} to {INT_MAX}); "
                    "signoff refuses it rather than round it: send it as a string", field=_path(node),
                    limit="64-bit integers")
        elif isinstance(item, _Containers):
            if depth > max_depth:
                top = node
                while top[0] is not None and top[0][0] is not None:  # name the field's own entry
                    top = top[0]
                raise UserError(
                    f"{owner}{_path(top)} is nested more than {max_depth} levels deep (the limit is {max_depth}); "
                    "flatten it or send it as a string", field=_path(top), limit=max_depth)
            size += 2
            if isinstance(item, Mapping):
                for k, v in item.items():
                    if isinstance(k, str):
                        size += len(k) + 3
                        if _bad_text(k):
                            raise UserError(f"{owner}{_path(node)} has a key that is not valid Unicode text",
                                            field=_path(node))
                    else:
                        size += 8
                    stack.append((v, depth + 1, (node, k)))
            else:
                for i, v in enumerate(item):
                    stack.append((v, depth + 1, (node, i)))
        else:
            size += 8
        if max_size is not None and size > max_size:
            raise UserError(f"{owner}{field} is too large: more than {max_size:,} characters of JSON "
                            f"(the limit is {max_size:,})", field=field, limit=max_size)
    return size


def _check_text(text: str, field: str, limit: int) -> None:
    if len(text) > limit:
        raise UserError(f"Action.{field} is {len(text):,} characters long; the limit is {limit:,}",
                        field=field, limit=limit)
    if _bad_text(text):
        raise UserError(f"Action.{field} is not valid Unicode text (it holds a lone surrogate)", field=field)


def check_action_fields(*, name: str, agent: str, reasoning: str, alternatives: tuple[str, ...],
                        tags: frozenset[str], args: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """Every bound an Action's fields must keep (see the module docstring); raises ``UserError``."""
    _check_text(name, "name", MAX_NAME)
    _check_text(agent, "agent", MAX_NAME)
    _check_text(reasoning, "reasoning", MAX_TEXT)
    for label, items, limit in (("tags", sorted(tags, key=str), MAX_NAME), ("alternatives", alternatives, MAX_TEXT)):
        if len(items) > MAX_ITEMS:
            raise UserError(f"Action.{label} has {len(items)} entries; the limit is {MAX_ITEMS}",
                            field=label, limit=MAX_ITEMS)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise UserError(f"Action.{label}[{i}] must be a string, got {type(item).__name__}",
                                field=f"{label}[{i}]")
            _check_text(item, f"{label}[{i}]", limit)
    used = check_value(args, "args")
    check_value(context, "context", max_size=MAX_SIZE - used)


def bounded(value: Any, max_depth: int = MAX_DEPTH, _depth: int = 1) -> Any:
    """``value`` made safe to show and serialize: parts deeper than ``max_depth`` become a placeholder,
    integers beyond 64 bits their digits as a string, lone surrogates ``\\udXXX`` text. Unchanged
    values are returned as they are (no copy); the recursion stops at ``max_depth``."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if _bad_text(value) else value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if INT_MIN <= value <= INT_MAX else str(value)
    if isinstance(value, Mapping):
        if _depth > max_depth:
            return placeholder(max_depth)
        items = [(bounded(k, max_depth, _depth) if isinstance(k, str) else k, bounded(v, max_depth, _depth + 1))
                 for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, (list, tuple)):
        if _depth > max_depth:
            return placeholder(max_depth)
        out = [bounded(v, max_depth, _depth + 1) for v in value]
        if all(a is b for a, b in zip(out, value, strict=True)):
            return value
        return out
    return value
