"""One generated Python function per set of candidate rules: which of them match an action.

``CompiledPolicy`` finds the rules whose name matcher accepts an action's name once per name
(a dict lookup after the first time). What is left per decision is the rest of each rule:
its tags, agent and external checks, then its condition. Walking rule objects and calling a
closure tree per condition costs several times a hand-written loop, so for each distinct
set of candidate rules this module writes the loop out as source, with the cheap checks
first and each condition inlined as a Python expression (``_cel_source``), and compiles it
once. The function allocates nothing per call but the int it returns.

The int says, per rule, whether it matched, missed only on its condition (a near miss), or
was not reached; ``Decider.marks`` say which bit is which, so that the rule walk in
``_compiled`` builds the Outcome from it without checking or running anything again.
``-1`` means "not the happy path" (a condition that raised, a value the CEL library might
convert differently, a condition that did not give true or false): the caller then runs
the full walk, which asks the library and says why, so errors and
explanations are exactly as before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signoff._model import Action
from signoff.policy._cel_fast import is_plain
from signoff.policy._cel_parse import INT_MAX, INT_MIN
from signoff.policy._cel_source import HELPERS, Emitter

if TYPE_CHECKING:
    from signoff.policy._crule import _CRule

ID_BITS = 14
"""The low bits of an answer: which decider gave it."""
RunCondition = Callable[[Any, Action], Any]
"""``(condition, action) -> value or exception``: the full path for one condition."""

_ATTRS = ("name", "confidence", "reasoning", "alternatives", "tags", "external", "agent")
ACTION_FIELDS = {
    "name": "_a_name",
    "confidence": "_a_confidence",
    "has_confidence": "(_a_confidence is not None)",
    "reasoning": "_a_reasoning",
    "alternatives": "list(_a_alternatives)",
    "tags": "sorted(_a_tags)",
    "external": "_a_external",
    "agent": "_a_agent",
}
"""The ``action`` variable of a condition, field by field, read from the Action itself (into
locals ``_a_<attribute>``); the same fields and values as the dict ``_compiled._variable``
builds for the library."""
_ACTION_SETS = {"tags": "_a_tags", "alternatives": "_a_alternatives"}


def action_plain(action: Action, as_dict: Callable[[Action], dict[str, Any]]) -> bool:
    """Whether the ``action`` variable is plain (``is_plain``) without building it, in the common case."""
    if action.name.isascii() and action.reasoning.isascii() and action.agent.isascii():
        for t in action.tags:
            if type(t) is not str or not t.isascii():
                break
        else:
            for t in action.alternatives:
                if type(t) is not str or not t.isascii():
                    break
            else:
                return True
    try:
        return is_plain(as_dict(action))
    except Exception:  # tags that do not sort: the full path raises as it always did
        return False


# A dict variable is checked plain once per decision; JSON-like flat values are checked here
# inline, anything nested or non-ASCII by is_plain itself.
_PLAIN_CHECK = """\
        {var} = action.{attr}
        for _k, _x in {var}.items():
            _t = type(_x)
            if type(_k) is not str or not _k.isascii() or (
                    not _x.isascii() if _t is str
                    else (_x < {lo} or _x > {hi}) if _t is int
                    else (_t is not float and _t is not bool and _x is not None)):
                if not _is_plain({var}):
                    return -1
                break
"""


def _agent_guard(patterns: Sequence[str], n: int, namespace: dict[str, Any]) -> str:
    """``fnmatch`` of the agent against ``patterns``, pre-split: exact names in a set, ``prefix*``
    and ``*suffix`` as str methods, only the other globs as one regex."""
    exact, prefixes, suffixes, other = [], [], [], []
    for p in patterns:
        if not any(c in p for c in "*?["):
            exact.append(p)
        elif p == "*":
            return "True"
        elif p.endswith("*") and not any(c in p[:-1] for c in "*?["):
            prefixes.append(p[:-1])
        elif p.startswith("*") and not any(c in p[1:] for c in "*?["):
            suffixes.append(p[1:])
        else:
            other.append(p)
    parts = []
    if exact:
        namespace[f"_AE{n}"] = frozenset(exact)
        parts.append(f"_a_agent in _AE{n}")
    if prefixes:
        parts.append(f"_a_agent.startswith({tuple(prefixes)!r})")
    if suffixes:
        parts.append(f"_a_agent.endswith({tuple(suffixes)!r})")
    if other:
        namespace[f"_AG{n}"] = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in other)).match
        parts.append(f"_AG{n}(_a_agent) is not None")
    return "(" + " or ".join(parts) + ")"


@dataclass(slots=True)
class Decider:
    """The generated function for one set of candidate rules, and how to read its answer."""

    rules: tuple[_CRule, ...]
    decide: Callable[[Action], int]
    marks: tuple[tuple[int, int], ...]
    """Per rule: (matched bit, near-miss bit) in an answer; a matched bit of 0 means it always
    matches, a near-miss bit of 0 that it has no condition."""
    source: str


def new_emitter() -> Emitter:
    """The emitter the deciders of one policy share (each condition is emitted once)."""
    return Emitter({"args": "A", "context": "C"}, ACTION_FIELDS, _ACTION_SETS)


def _rule_lines(rules: Sequence[_CRule], em: Emitter, namespace: dict[str, Any], bit: int,
                indent0: str) -> tuple[list[str], list[tuple[int, int]], set[str], int]:
    """The source lines checking ``rules``, their marks, the variables they read, the next free bit."""
    body: list[str] = []
    reads: set[str] = set()
    marks: list[tuple[int, int]] = []
    for rule in rules:
        n = rule.index
        guards: list[str] = []
        if rule.tags:
            if len(rule.tags) == 1:
                guards.append(f"{next(iter(rule.tags))!r} in _a_tags")
            else:
                namespace[f"_T{n}"] = rule.tags
                guards.append(f"_a_tags >= _T{n}")
        if rule.agents:
            guards.append(_agent_guard(rule.agents, n, namespace))
        if rule.external is not None:
            guards.append(f"_a_external is {rule.external!r}")
        cond = rule.cond
        if cond is None and not guards:
            marks.append((0, 0))  # always matches once its name does
            continue
        body.append(f"{indent0}# rule {rule.name!r}")
        indent = indent0
        if guards:
            body.append(f"{indent}if {' and '.join(guards)}:")
            indent += "    "
        if cond is None:
            body.append(f"{indent}k |= {bit}")
            marks.append((bit, 0))
            bit <<= 1
            continue
        m, miss = bit, bit << 1
        bit <<= 2
        marks.append((m, miss))
        # Only what the closures compile (``cond.fast``) is inlined: the emitter's subset is narrower.
        expr = em.emit(cond.source, condition=True) if cond.fast is not None else None
        if expr is not None:
            reads.update(cond.variables)
            body.append(f"{indent}k |= {m} if {expr} else {miss}")
        else:  # outside what the source emitter inlines: the condition's own path, closure first
            namespace[f"_COND{n}"] = cond
            body.append(f"{indent}_r = _run(_COND{n}, action)")
            body.append(f"{indent}if _r is True:")
            body.append(f"{indent}    k |= {m}")
            body.append(f"{indent}elif _r is False:")
            body.append(f"{indent}    k |= {miss}")
            body.append(f"{indent}else:")
            body.append(f"{indent}    return -1")
    return body, marks, reads, bit


def _locals(body: list[str], indent: str) -> list[str]:
    text = "\n".join(body)
    return [f"{indent}_a_{attr} = action.{attr}" for attr in _ATTRS if f"_a_{attr}" in text]


@dataclass(slots=True)
class Shared:
    """The rules with no action matcher: every name's candidates include them, so their checks
    are generated once per table, into a function each decider calls, and not compiled again
    into every decider."""

    marks: dict[int, tuple[int, int]]
    """By rule index."""
    reads: frozenset[str]
    next_bit: int
    call: Callable[[Action, Any, Any], int] | None
    """``(action, args, context) -> bits or -1``, the variables already checked plain; None when
    there is nothing to check."""
    source: str


def build_shared(rules: Sequence[_CRule], run_condition: RunCondition, em: Emitter) -> Shared:
    namespace: dict[str, Any] = {**HELPERS, "_run": run_condition}
    body, marks, reads, bit = _rule_lines(rules, em, namespace, 1 << ID_BITS, "    ")
    by_index = {r.index: m for r, m in zip(rules, marks, strict=True)}
    if not body:
        return Shared(marks=by_index, reads=frozenset(reads), next_bit=bit, call=None, source="")
    namespace.update(em.consts_now())
    source = "\n".join(["def shared(action, A, C):", "    k = 0", *_locals(body, "    "), *body,
                        "    return k", ""])
    exec(compile(source, "<signoff rules for every action>", "exec"), namespace)
    return Shared(marks=by_index, reads=frozenset(reads), next_bit=bit, call=namespace["shared"], source=source)


def build(rules: Sequence[_CRule], run_condition: RunCondition,
          as_dict: Callable[[Action], dict[str, Any]], number: int, em: Emitter,
          shared: Shared | None = None) -> Decider:
    """Generate, compile and return the decider for ``rules`` (policy order).

    ``number`` (below ``2**ID_BITS``) is in the low bits of every answer, so that one memo
    keyed by answers serves all the deciders of a table. The rules in ``shared`` are checked by
    calling its function.
    """
    if not 0 <= number < 1 << ID_BITS:
        raise ValueError(f"decider number {number} out of range")
    namespace: dict[str, Any] = {**HELPERS, "_is_plain": is_plain, "_action_plain": action_plain,
                                 "_as_dict": as_dict, "_run": run_condition}
    own = [r for r in rules if shared is None or r.index not in shared.marks]
    body, own_marks, reads, _ = _rule_lines(own, em, namespace, shared.next_bit if shared else 1 << ID_BITS,
                                            "        ")
    by_index = dict(shared.marks) if shared else {}
    by_index.update({r.index: m for r, m in zip(own, own_marks, strict=True)})
    marks = [by_index[r.index] for r in rules]
    if shared is not None:
        reads |= shared.reads
    namespace.update(em.consts_now())
    head = ["def decide(action):", "    try:", f"        k = {number}", *_locals(body, "        ")]
    if "args" in reads:
        head.append(_PLAIN_CHECK.format(var="A", attr="args", lo=INT_MIN, hi=INT_MAX).rstrip("\n"))
    if "context" in reads:
        head.append(_PLAIN_CHECK.format(var="C", attr="context", lo=INT_MIN, hi=INT_MAX).rstrip("\n"))
    if "action" in reads:
        head.append("        if not _action_plain(action, _as_dict):\n            return -1")
    if shared is not None and shared.call is not None:
        namespace["_W"] = shared.call
        head.append(f"        _w = _W(action, {'A' if 'args' in reads else 'None'}, "
                    f"{'C' if 'context' in reads else 'None'})")
        head.append("        if _w < 0:\n            return -1\n        k |= _w")
    tail = ["        return k", "    except Exception:  # off the happy path: the full walk decides and says why",
            "        return -1", ""]
    source = "\n".join(head + body + tail)
    names = ", ".join(r.name for r in own[:3]) + (", ..." if len(own) > 3 else "")
    exec(compile(source, f"<signoff rules: {names}>", "exec"), namespace)
    return Decider(rules=tuple(rules), decide=namespace["decide"], marks=tuple(marks), source=source)
