"""The CEL subset as Python source, inlined into a policy's generated decision functions.

``_cel_fast`` compiles a condition to a tree of closures: one Python call per node, a dozen
per condition. A policy with a dozen conditions per decision then spends most of its time in
calls. This module emits the same subset as ONE Python expression instead, which
``_decide`` pastes into the function it generates for a set of rules, so a condition like
``args.amount > 200`` costs a dict lookup, a type check and a comparison.

The expression keeps the closures' contract exactly: it evaluates to the library's value
on the happy path, and raises anywhere else (a missing field, a wrong type, an error that
``&&``/``||`` might absorb), so that the caller asks the library instead. It assumes every
variable it reads holds a plain value (``_cel_fast.is_plain``): the caller checks that first.
Every operation the expression does not inline calls the helper the closures use
(``_cel_fast.member``, ``arith``...), so both share one definition of each check. Sources
outside the subset (comprehensions, macros, other functions) give ``None``: the caller then
calls the condition's closure. tests/unit/test_cel_fast.py compares the expressions with the
library as it does the closures.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from signoff.policy import _cel_fast as F
from signoff.policy._cel_fast import _EXACT_FLOAT, _RESERVED, Fallback, Unsupported, _literal, _Parser

_OPS = ("==", "!=", "<", "<=", ">", ">=")
_WHOLE_ACTION = "<the action variable>"
_SLOW_NAME = {"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}


def _fb() -> Any:
    raise Fallback


def _neg(v: Any) -> Any:
    if type(v) is float:
        return -v
    if F._int(v):
        return F._checked(-v)
    raise Fallback


HELPERS: dict[str, Any] = {
    "_fb": _fb, "_neg": _neg, "_member": F.member, "_arith": F.arith, "_index": F.index,
    "_field": F.field, "_has": F.has, "_size": F.size, "Fallback": Fallback,
    **{name: F._COMPARE_SLOW[op] for op, name in _SLOW_NAME.items()},
}
"""The names an emitted expression may call; the generated function's globals hold them."""


@dataclass(slots=True)
class _Node:
    src: str
    boolean: bool = False
    """Always True or False when it does not raise (a comparison, ``has``...)."""
    const: tuple[Any] | None = None
    root: str | None = None
    """A bare variable (``args``)."""
    sel: tuple[_Node, str] | None = None
    """A field selection ``owner.name``, for ``has()``."""
    action_set: str | None = None
    """``action.tags`` / ``action.alternatives`` read straight from the Action (see Emitter)."""
    items: list[Any] | None = None
    """A list literal of literals: its values."""


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
            p = _SourceParser(self, source)
            node = p.expr()
            if p.peek()[0] != "end":
                raise Unsupported("trailing input")
        except (Unsupported, ValueError, IndexError, RecursionError):
            return None
        src = self.boolean(node) if condition else node.src
        if _WHOLE_ACTION in src:
            return None
        try:  # belt and braces: an expression this emitter got wrong runs as a closure, never breaks a decider
            compile(src, "<cel condition>", "eval")
        except SyntaxError:
            return None
        return src

    def consts_now(self) -> dict[str, Any]:
        """A copy of ``consts`` (another thread may be adding to it)."""
        with self._lock:
            return dict(self.consts)

    # ------------------------------------------------------------------ helpers for the parser

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

    def boolean(self, node: _Node) -> str:
        """``node`` as a bool, raising for anything else (CEL has no truthiness)."""
        if node.boolean:
            return node.src
        v = self.tmp()
        return f"(({v} := {node.src}) is True or ({v} is not False and _fb()))"

    def compare(self, op: str, left: _Node, right: _Node) -> _Node:
        const = right.const
        if op == "in":
            if left.const is not None and type(left.const[0]) is str and right.action_set is not None:
                return _Node(f"({left.const[0]!r} in {right.action_set})", boolean=True)
            items = _str_list(right)
            if items is not None:
                v = self.tmp()
                return _Node(f"({v} in {self.const_name(frozenset(items))} if type({v} := {left.src}) is str "
                             f"else _member({v}, {right.src}))", boolean=True)
            return _Node(f"_member({left.src}, {right.src})", boolean=True)
        slow = _SLOW_NAME[op]
        if const is not None and type(const[0]) in (str, int, float) and not (
                type(const[0]) is float and const[0] != const[0]):
            c = const[0]
            v, t = self.tmp(), self.tmp()
            if type(c) is str:
                test = f"type({v} := {left.src}) is str"
            elif type(c) is int:
                test = (f"({t} := type({v} := {left.src})) is int or {t} is float and {v} == {v}"
                        if -_EXACT_FLOAT <= c <= _EXACT_FLOAT else f"type({v} := {left.src}) is int")
            else:
                test = (f"({t} := type({v} := {left.src})) is float and {v} == {v} "
                        f"or {t} is int and {-_EXACT_FLOAT} <= {v} <= {_EXACT_FLOAT}")
            return _Node(f"({v} {op} {self.lit(c)} if {test} else {slow}({v}, {self.lit(c)}))", boolean=True)
        return _Node(f"{slow}({left.src}, {right.src})", boolean=True)

    def select(self, owner: _Node, name: str) -> _Node:
        if owner.root == "action" and self.action is not None:
            if name not in self.action:
                raise Unsupported(f"action.{name}")  # the closure and the library say it is missing
            return _Node(self.action[name], sel=(owner, name), action_set=self.action_sets.get(name))
        if owner.root is not None:
            return _Node(f"{owner.src}[{name!r}]", sel=(owner, name))
        return _Node(f"_field({owner.src}, {name!r})", sel=(owner, name))

    def has(self, node: _Node) -> _Node:
        if node.sel is None:
            raise Unsupported("has() needs a field selection")
        owner, name = node.sel
        if owner.root == "action" and self.action is not None:
            return _Node(repr(name in self.action), boolean=True)
        if owner.root is not None:
            return _Node(f"({name!r} in {owner.src})", boolean=True)
        return _Node(f"_has({owner.src}, {name!r})", boolean=True)


def _str_list(node: _Node) -> list[str] | None:
    items = node.items
    return items if items is not None and all(type(i) is str for i in items) else None


class _SourceParser:
    """The grammar of ``_cel_fast._Parser`` (same precedence, same subset), emitting source."""

    def __init__(self, em: Emitter, source: str) -> None:
        self.em = em
        self.tokens = _Parser(source).tokens
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (text is not None and (tok[1] != text or tok[0] == "str")):
            raise Unsupported(f"expected {text!r}")
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        kind, value = self.peek()
        if kind in ("op", "ident") and value == text:
            self.i += 1
            return True
        return False

    def expr(self) -> _Node:
        cond = self.or_()
        if self.accept("?"):
            yes = self.or_()
            self.take(":")
            no = self.expr()
            return _Node(f"({yes.src} if {self.em.boolean(cond)} else {no.src})",
                         boolean=yes.boolean and no.boolean)
        return cond

    def or_(self) -> _Node:
        node = self.and_()
        while self.accept("||"):
            right = self.and_()
            node = _Node(f"({self.em.boolean(node)} or {self.em.boolean(right)})", boolean=True)
        return node

    def and_(self) -> _Node:
        node = self.rel()
        while self.accept("&&"):
            right = self.rel()
            node = _Node(f"({self.em.boolean(node)} and {self.em.boolean(right)})", boolean=True)
        return node

    def rel(self) -> _Node:
        node = self.add()
        while True:
            kind, op = self.peek()
            if not ((kind == "op" and op in _OPS) or (kind == "ident" and op == "in")):
                return node
            self.i += 1
            node = self.em.compare(op, node, self.add())

    def add(self) -> _Node:
        node = self.mul()
        while True:
            kind, op = self.peek()
            if kind != "op" or op not in ("+", "-"):
                return node
            self.i += 1
            node = _Node(f"_arith({op!r}, {node.src}, {self.mul().src})")

    def mul(self) -> _Node:
        node = self.unary()
        while True:
            kind, op = self.peek()
            if kind != "op" or op not in ("*", "/", "%"):
                return node
            self.i += 1
            node = _Node(f"_arith({op!r}, {node.src}, {self.unary().src})")

    def unary(self) -> _Node:
        if self.accept("!"):
            return _Node(f"(not {self.em.boolean(self.unary())})", boolean=True)
        if self.accept("-"):
            kind, text = self.peek()
            nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else ("end", "")
            if kind in ("int", "float") and not (nxt[0] == "op" and nxt[1] in (".", "[")):
                self.i += 1
                value = -int(text) if kind == "int" else -float(text)
                if type(value) is int and not F._int(value):
                    raise Unsupported(text)
                return _Node(f"({self.em.lit(value)})", const=(value,))
            return _Node(f"_neg({self.unary().src})")
        return self.member()

    def member(self) -> _Node:
        node = self.primary()
        while True:
            if self.accept("."):
                k, name = self.take()
                if k != "ident" or name in _RESERVED:
                    raise Unsupported(name)
                node = self.method(node, name) if self.accept("(") else self.em.select(node, name)
            elif self.accept("["):
                key = self.expr()
                self.take("]")
                node = _Node(f"_index({node.src}, {key.src})")
            else:
                return node

    def method(self, target: _Node, name: str) -> _Node:
        if name in ("exists", "all", "exists_one", "map", "filter"):
            raise Unsupported(name)  # a comprehension: the closure runs it
        args = self.arguments()
        if name in F.STRING_METHODS and len(args) == 1:
            s, a = self.em.tmp(), self.em.tmp()
            if args[0].const is not None and type(args[0].const[0]) is str:
                c = repr(args[0].const[0])
                call = {"startsWith": f"{s}.startswith({c})", "endsWith": f"{s}.endswith({c})",
                        "contains": f"{c} in {s}"}[name]
                return _Node(f"({call} if type({s} := {target.src}) is str else _fb())", boolean=True)
            call = {"startsWith": f"{s}.startswith({a})", "endsWith": f"{s}.endswith({a})",
                    "contains": f"{a} in {s}"}[name]
            return _Node(f"({call} if type({s} := {target.src}) is str and type({a} := {args[0].src}) is str "
                         f"else _fb())", boolean=True)
        if name == "size" and not args:
            return _Node(f"_size({target.src})")
        raise Unsupported(name)

    def arguments(self) -> list[_Node]:
        args: list[_Node] = []
        if self.accept(")"):
            return args
        while True:
            args.append(self.expr())
            if self.accept(")"):
                return args
            self.take(",")

    def primary(self) -> _Node:
        kind, text = self.take()
        if kind in ("int", "float", "str"):
            value = _literal((kind, text))
            return _Node(self.em.lit(value), const=(value,))
        if kind == "ident":
            if text in ("true", "false"):
                return _Node(repr(text == "true"), boolean=True, const=(text == "true",))
            if text == "null":
                return _Node("None", const=(None,))
            if text in _RESERVED:
                raise Unsupported(text)
            if self.accept("("):
                return self.function(text)
            if text == "action" and self.em.action is not None:
                # Only its fields are read (select, has); used whole, it would need the dict the
                # library gets: the marker makes ``emit`` give up and the closure run it.
                return _Node(_WHOLE_ACTION, root="action")
            if text not in self.em.roots:
                raise Unsupported(text)
            return _Node(self.em.roots[text], root=text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items: list[_Node] = []
            if not self.accept("]"):
                while True:
                    items.append(self.expr())
                    if self.accept("]"):
                        break
                    self.take(",")
            node = _Node("[" + ", ".join(i.src for i in items) + "]")
            if all(i.const is not None for i in items):
                node.items = [i.const[0] for i in items if i.const is not None]
            return node
        if text == "{":
            entries: list[tuple[str, _Node]] = []
            if not self.accept("}"):
                while True:
                    k, key = self.take()
                    if k != "str":
                        raise Unsupported("map keys other than string literals")
                    self.take(":")
                    entries.append((_literal((k, key)), self.expr()))
                    if self.accept("}"):
                        break
                    self.take(",")
            if len({k for k, _ in entries}) != len(entries):
                raise Unsupported("duplicate map keys")
            return _Node("{" + ", ".join(f"{k!r}: {v.src}" for k, v in entries) + "}")
        raise Unsupported(text)

    def function(self, name: str) -> _Node:
        if name == "has":
            node = self.member()
            self.take(")")
            return self.em.has(node)
        args = self.arguments()
        if name == "size" and len(args) == 1:
            return _Node(f"_size({args[0].src})")
        raise Unsupported(name)


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
