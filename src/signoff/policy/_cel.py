"""CEL conditions: compiled once, run with only the variables they reference.

Most of a CEL call's cost is converting Python values into CEL, so a condition that
reads only ``args`` is never handed ``action`` or ``context``; and a condition in the
common subset runs as a Python closure first (``_cel_fast``), which hands anything but
a plain true/false back to the library, so values, errors and messages stay the library's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cel

from signoff.policy._cel_fast import compile_fast, is_plain

VARIABLES = ("action", "args", "context")
_LOC = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_EXPECTING = re.compile(r"\s+expecting \{[^}]*\}")
# A macro's own loop variable (``args.items.exists(i, i > 3)``): the library lists it among the
# program's variables, but it is bound by the macro, not read from the activation.
_BOUND = re.compile(r"\.\s*(?:exists|all|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")


class ConditionSyntaxError(ValueError):
    """A condition that does not compile; ``line``/``column`` are within the expression."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    run: Callable[[dict[str, Any]], Any]
    variables: tuple[str, ...]
    library: Callable[[dict[str, Any]], Any]
    """The CEL library's program: the reference, and what answers whenever ``fast`` cannot."""
    fast: Callable[[dict[str, Any]], Any] | None = None
    """The compiled closure (``_cel_fast``), or None outside the subset. Its true or false is the
    library's answer when every variable read is ``is_plain``; if it raises or gives anything
    else, ask ``library``. ``run`` does all that itself."""


def compile_condition(source: str) -> Condition:
    """Compile ``source``; raise ConditionSyntaxError with a position on failure."""
    if not source.strip():
        raise ConditionSyntaxError("empty condition")
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        m = _LOC.search(text)
        if m:
            detail = m.group(3).splitlines()[0].strip()
            # The parser lists every token it would have accepted; that list helps nobody.
            detail = _EXPECTING.sub("", detail)
            detail = re.sub(r"(?:mismatched|extraneous) input '<EOF>'", "unexpected end of condition", detail)
            detail = re.sub(r"(?:mismatched|extraneous) input ('[^']*')", r"unexpected \1", detail)
            detail = detail.replace("'<EOF>'", "the end")
            raise ConditionSyntaxError(
                f"invalid CEL condition: {detail}", int(m.group(1)), int(m.group(2))
            ) from None
        raise ConditionSyntaxError(f"invalid CEL condition: {text.splitlines()[0]}") from None
    bound = set(_BOUND.findall(source)) - set(VARIABLES)
    names = tuple(n for n in program.variables() if n not in bound)
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        pos = source.find(unknown[0])
        raise ConditionSyntaxError(
            f"unknown variable {unknown[0]!r} in condition: use action, args or context",
            1, pos + 1 if pos >= 0 else 1,
        )
    fast = compile_fast(source)
    if fast is None:
        return Condition(source=source, run=program.execute, variables=names, library=program.execute)
    return Condition(source=source, run=_checked(fast, program.execute, names), variables=names,
                     library=program.execute, fast=fast)


def _with_fallback(fast: Callable[[dict[str, Any]], Any],
                   library: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """The closure's answer when it is a plain true/false; otherwise the library's value or error.

    Only for an activation of plain values (``is_plain``): the library converts every value a
    variable holds, used or not, and fails on some (a set, an object) where a closure would answer.
    """
    def run(ctx: dict[str, Any]) -> Any:
        try:
            result = fast(ctx)
        except Exception:  # off the happy path: a missing field, a wrong type, an overflow...
            return library(ctx)
        if result is True or result is False:
            return result
        return library(ctx)
    return run


def _checked(fast: Callable[[dict[str, Any]], Any], library: Callable[[dict[str, Any]], Any],
             names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    answer = _with_fallback(fast, library)

    def run(ctx: dict[str, Any]) -> Any:
        for name in names:
            if not is_plain(ctx.get(name)):
                return library(ctx)
        return answer(ctx)
    return run


def describe_failure(exc: Exception) -> str:
    """A short, readable reason why a condition could not be evaluated."""
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    text = str(exc).split(". ")[0].strip()
    if isinstance(exc, TypeError) and "No such overload" in text:
        return "wrong type of value (no such operation for these operand types)"
    return text or type(exc).__name__
