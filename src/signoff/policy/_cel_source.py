"""The CEL subset as Python source, inlined into a policy's generated decision functions.

``_cel_fast`` compiles a condition to a tree of closures: one Python call per node, a dozen
per condition. A policy with a dozen conditions per decision then spends most of its time in
calls. This module emits the same tree (``_cel_parse``) as ONE Python expression instead, which
``_decide`` pastes into the function it generates for a set of rules, so a condition like
``args.amount > 200`` costs a dict lookup, a type check and a comparison.

The expression keeps the closures' contract exactly: it evaluates to the library's value
on the happy path, and raises anywhere else (a missing field, a wrong type, an error that
``&&``/``||`` might absorb), so that the caller asks the library instead. It assumes every
variable it reads holds a plain value (``_cel_fast.is_plain``): the caller checks that first.
Every operation the expression does not inline calls the helper the closures use
(``_cel_fast.member``, ``arith``...), so both share one definition of each check. A
comprehension (which the closures compile) and a whole ``action`` give ``None``: the caller
then calls the condition's closure. tests/unit/test_cel_fast.py compares the expressions with the
library as it does the closures.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from signoff.policy import _cel_fast as F
from signoff.policy import _cel_parse as T
from signoff.policy._cel_fast import _EXACT_FLOAT, Fallback
from signoff.policy._cel_parse import RELATIONS, Unsupported, parse

_SLOW_NAME = {"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}


def _fb() -> Any:
    raise Fallback


HELPERS: dict[str, Any] = {
    "_fb": _fb, "_neg": F.negate, "_member": F.member, "_arith": F.arith, "_index": F.index,
    "_field": F.field, "_has": F.has, "_size": F.size, "Fallback": Fallback,
    **{name: F._COMPARE_SLOW[op] for op, name in _SLOW_NAME.items()},
}
"""The names an emitted expression may call; the generated function's globals hold them."""


class Emitter:
    """Emit Python expression source for CEL sources of the subset.

    ``roots`` maps each CEL variable to the Python expression of its (plain, dict) value.
    ``action`` instead maps the fields of the ``action`` variable to Python expressions that
    read them from the Action itself (no dict is built per decision); ``action_sets`` maps the
    fields whose ``'literal' in action.<field>`` can test the Action's own collection (every
    element a str, checked by the caller). ``consts`` collects the values the expressions refer
    to by name (frozensets for ``in`` a literal list).
    """

    def __init__(self, roots: Mapping[str, str], action: Mapping[str, str] | None = None,
                 action_sets: Mapping[str, str] | None = None) -> None:
        self.roots = dict(roots)
        self.action = dict(action) if action is not None else None
        self.action_sets = dict(action_sets or {})
        self.consts: dict[str, Any] = {}
        self._n = 0
        self._emitted: dict[tuple[str, bool], str | None] = {}
        self._lock = threading.Lock()  # deciders are built lazily, from whichever thread evaluates

    def emit(self, source: str, *, condition: bool = False) -> str | None:
        """The expression for ``source``, or None outside the subset (or for a source the library rejects).

        ``condition``: the expression is True or False or raises (a condition that gives
        another value fails closed, and the library says what it gave).
        """
        key = (source, condition)
        with self._lock:
            if key not in self._emitted:  # temporaries and constants are unique per emitter: pasted as is
                self._emitted[key] = self._emit(source, condition)
            return self._emitted[key]

    def _emit(self, source: str, condition: bool) -> str | None:
        try:
            src, boolean = self._source(parse(source))
        except (Unsupported, ValueError, IndexError, RecursionError):
            return None
        if condition and not boolean:
            src = self._boolean(src)
        try:  # belt and braces: an expression this emitter got wrong runs as a closure, never breaks a decider
            compile(src, "<cel condition>", "eval")
        except SyntaxError:
            return None
        return src

    def consts_now(self) -> dict[str, Any]:
        """A copy of ``consts`` (another thread may be adding to it)."""
        with self._lock:
            return dict(self.consts)

    # ------------------------------------------------------------------ the tree to source

    def tmp(self) -> str:
        self._n += 1
        return f"_v{self._n}"

    def lit(self, value: Any) -> str:
        """Source for a literal value (a non-finite double has no literal in Python)."""
        if type(value) is float and (value != value or value in (float("inf"), float("-inf"))):
            return self.const_name(value)
        return repr(value)

    def const_name(self, value: Any) -> str:
        name = f"_K{len(self.consts)}"
        self.consts[name] = value
        return name

    def _source(self, node: T.Node) -> tuple[str, bool]:
        """Python source for ``node``, and whether it is always True or False when it does not raise."""
        match node:
            case T.Const(value):
                src = self.lit(value)
                return (f"({src})" if src.startswith("-") else src), type(value) is bool
            case T.Ident(name):
                if name not in self.roots or (name == "action" and self.action is not None):
                    # used whole, ``action`` would need the dict the library gets: the closure runs it
                    raise Unsupported(name)
                return self.roots[name], False
            case T.Select(T.Ident("action"), name) if self.action is not None:
                if name not in self.action:
                    raise Unsupported(f"action.{name}")  # the closure and the library say it is missing
                return self.action[name], False
            case T.Select(T.Ident(root), name) if root in self.roots:
                return f"{self.roots[root]}[{name!r}]", False
            case T.Select(target, name):
                return f"_field({self._src(target)}, {name!r})", False
            case T.Index(target, key):
                return f"_index({self._src(target)}, {self._src(key)})", False
            case T.Unary("!", operand):
                return f"(not {self._bool(operand)})", True
            case T.Unary(_, operand):
                return f"_neg({self._src(operand)})", False
            case T.Binary("&&" | "||" as op, left, right):
                return f"({self._bool(left)} {'and' if op == '&&' else 'or'} {self._bool(right)})", True
            case T.Binary(op, left, right) if op in RELATIONS:
                return self._compare(op, left, right), True
            case T.Binary(op, left, right):
                return f"_arith({op!r}, {self._src(left)}, {self._src(right)})", False
            case T.Ternary(cond, yes, no):
                (y, y_bool), (n, n_bool) = self._source(yes), self._source(no)
                return f"({y} if {self._bool(cond)} else {n})", y_bool and n_bool
            case T.Has(T.Ident("action"), name) if self.action is not None:
                if name not in self.action:
                    raise Unsupported(f"action.{name}")  # as a selection of it: the closure answers
                return "True", True
            case T.Has(T.Ident(root), name) if root in self.roots:
                return f"({name!r} in {self.roots[root]})", True
            case T.Has(target, name):
                return f"_has({self._src(target)}, {name!r})", True
            case T.Call("size", (target,)):
                return f"_size({self._src(target)})", False
            case T.Call(name, (target, arg)):
                return self._string_method(name, target, arg), True
            case T.ListLit(items):
                return "[" + ", ".join(self._src(i) for i in items) + "]", False
            case T.MapLit(entries):
                return "{" + ", ".join(f"{k!r}: {self._src(v)}" for k, v in entries) + "}", False
        raise Unsupported(type(node).__name__)  # a comprehension: the closure runs it

    def _src(self, node: T.Node) -> str:
        return self._source(node)[0]

    def _bool(self, node: T.Node) -> str:
        """``node`` as a bool, raising for anything else (CEL has no truthiness)."""
        src, boolean = self._source(node)
        return src if boolean else self._boolean(src)

    def _boolean(self, src: str) -> str:
        v = self.tmp()
        return f"(({v} := {src}) is True or ({v} is not False and _fb()))"

    def _compare(self, op: str, left: T.Node, right: T.Node) -> str:
        if op == "in":
            match left, right:
                case T.Const(str() as text), T.Select(T.Ident("action"), name) if (
                        self.action is not None and name in self.action_sets):
                    return f"({text!r} in {self.action_sets[name]})"
            x, coll = self._src(left), self._src(right)
            items = right.items if isinstance(right, T.ListLit) else None
            texts = [i.value for i in items or () if isinstance(i, T.Const) and type(i.value) is str]
            if items is not None and len(texts) == len(items):
                v = self.tmp()
                return (f"({v} in {self.const_name(frozenset(texts))} if type({v} := {x}) is str "
                        f"else _member({v}, {coll}))")
            return f"_member({x}, {coll})"
        slow = _SLOW_NAME[op]
        if isinstance(right, T.Const) and type(right.value) in (str, int, float) and right.value == right.value:
            c, c_src, x = right.value, self.lit(right.value), self._src(left)
            v, t = self.tmp(), self.tmp()
            if type(c) is str:
                test = f"type({v} := {x}) is str"
            elif type(c) is int:
                test = (f"({t} := type({v} := {x})) is int or {t} is float and {v} == {v}"
                        if -_EXACT_FLOAT <= c <= _EXACT_FLOAT else f"type({v} := {x}) is int")
            else:
                test = (f"({t} := type({v} := {x})) is float and {v} == {v} "
                        f"or {t} is int and {-_EXACT_FLOAT} <= {v} <= {_EXACT_FLOAT}")
            return f"({v} {op} {c_src} if {test} else {slow}({v}, {c_src}))"
        return f"{slow}({self._src(left)}, {self._src(right)})"

    def _string_method(self, name: str, target: T.Node, arg: T.Node) -> str:
        s, a, t = self.tmp(), self.tmp(), self._src(target)
        if isinstance(arg, T.Const) and type(arg.value) is str:
            c = repr(arg.value)
            call = {"startsWith": f"{s}.startswith({c})", "endsWith": f"{s}.endswith({c})", "contains": f"{c} in {s}"}
            return f"({call[name]} if type({s} := {t}) is str else _fb())"
        call = {"startsWith": f"{s}.startswith({a})", "endsWith": f"{s}.endswith({a})", "contains": f"{a} in {s}"}
        return f"({call[name]} if type({s} := {t}) is str and type({a} := {self._src(arg)}) is str else _fb())"


def compile_source(source: str, *, condition: bool = False) -> F.Fn | None:
    """``source`` as a function of an activation, built from its emitted expression (for tests).

    Like a closure from ``compile_fast``: the library's value on the happy path, an exception
    elsewhere; only for activations of plain values.
    """
    em = Emitter({"args": "A", "context": "C", "action": "X"})
    expr = em.emit(source, condition=condition)
    if expr is None:
        return None
    text = (
        "def cond(env):\n"
        "    A, C, X = (v if type(v := env.get(n)) is dict else None for n in ('args', 'context', 'action'))\n"
        f"    return {expr}\n"
    )
    namespace: dict[str, Any] = {**HELPERS, **em.consts}
    exec(compile(text, "<cel condition>", "exec"), namespace)
    fn: F.Fn = namespace["cond"]
    return fn
