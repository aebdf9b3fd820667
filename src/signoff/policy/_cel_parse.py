"""The one parser of the CEL subset: source text to a small tree that both back ends compile.

``_cel_fast`` turns the tree into closures, ``_cel_source`` into the Python source a policy's
generated deciders inline; each back end may refuse a node it does not compile (the source
back end refuses comprehensions). The grammar and precedence are CEL's, cut down to the
subset: literals, variables, field and index access, ``!``/``-``, ``* / %``, ``+ -``, the
comparisons and ``in``, ``&&``, ``||``, the ternary, ``has()``, ``size``,
``startsWith``/``endsWith``/``contains``, list and map literals, ``exists``/``all``. Anything
else raises ``Unsupported`` naming what and where, and the caller runs the CEL library.
Only parse a source the library has compiled: the parser is lenient about what it rejects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
STRING_METHODS = ("startsWith", "endsWith", "contains")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_TOKEN = re.compile(r"""\s*(?:
    (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>!+\-*/%?:.\[\](),{}])
)""", re.VERBOSE)
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let",
             "loop", "package", "namespace", "return", "var", "void", "while"}
_Item = TypeVar("_Item")


class Unsupported(Exception):
    """The source uses something outside the compiled subset: run it on the library."""


@dataclass(frozen=True, slots=True)
class Const:
    value: Any
    """str, int (int64), float, bool or None; a negative number literal is one constant."""


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Select:
    target: Node
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    key: Node


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    """``!`` or ``-``."""
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    """``&&``, ``||``, a relation (``RELATIONS``) or ``+ - * / %``."""
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Ternary:
    cond: Node
    yes: Node
    no: Node


@dataclass(frozen=True, slots=True)
class Has:
    target: Node
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    """``size`` (one argument, ``size(x)`` or ``x.size()``) or a ``STRING_METHODS`` (target, argument)."""
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Comprehension:
    kind: str
    """``exists`` or ``all``."""
    target: Node
    var: str
    pred: Node


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    entries: tuple[tuple[str, Node], ...]


Node: TypeAlias = (Const | Ident | Select | Index | Unary | Binary | Ternary | Has | Call | Comprehension
                  | ListLit | MapLit)


@lru_cache(maxsize=1024)
def parse(source: str) -> Node:
    """The tree of ``source``; raise Unsupported (with the line and column) outside the subset.

    Cached: the closure and the source back end compile a condition from the same tree.
    """
    p = _Parser(source)
    node = p.expr()
    if p.peek()[0] != "end":
        raise p.unsupported("trailing input")
    return node


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[tuple[str, str]] = []
        self.starts: list[int] = []
        pos, end = 0, len(source.rstrip())
        while pos < end:
            m = _TOKEN.match(source, pos, end)
            if m is None or m.end() == pos:
                at = pos + len(source[pos:end]) - len(source[pos:end].lstrip())
                raise Unsupported(f"unexpected {source[at]!r} at {self._where(at)}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            self.starts.append(m.start(kind))
            pos = m.end()
        self.i = 0

    def _where(self, offset: int) -> str:
        line = self.source.count("\n", 0, offset) + 1
        column = offset - self.source.rfind("\n", 0, offset)
        return f"line {line}, column {column}"

    def unsupported(self, what: str, at: int | None = None) -> Unsupported:
        """``what`` at token ``at``, by default the current one (the end of the source when there is none)."""
        at = self.i if at is None else at
        offset = self.starts[at] if at < len(self.starts) else len(self.source.rstrip())
        return Unsupported(f"{what} at {self._where(offset)}")

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (text is not None and (tok[1] != text or tok[0] == "str")):
            raise self.unsupported("unexpected end" if tok[0] == "end" else f"expected {text!r}")
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        kind, value = self.peek()
        if kind in ("op", "ident") and value == text:
            self.i += 1
            return True
        return False

    def name(self) -> str:
        kind, text = self.peek()
        if kind != "ident" or text in _RESERVED:
            raise self.unsupported(f"{text!r} is not a name")
        self.i += 1
        return text

    def sequence(self, close: str, item: Callable[[], _Item]) -> list[_Item]:
        """``item, item, ... close`` (possibly empty)."""
        out: list[_Item] = []
        if self.accept(close):
            return out
        while True:
            out.append(item())
            if self.accept(close):
                return out
            self.take(",")

    def expr(self) -> Node:
        cond = self.or_()
        if self.accept("?"):
            yes = self.or_()
            self.take(":")
            return Ternary(cond, yes, self.expr())
        return cond

    def _chain(self, ops: frozenset[str], operand: Callable[[], Node]) -> Node:
        """Left-associative ``operand (op operand)*`` (a str token's text has quotes: never an op)."""
        node = operand()
        while (op := self.peek()[1]) in ops:
            self.i += 1
            node = Binary(op, node, operand())
        return node

    def or_(self) -> Node:
        return self._chain(frozenset({"||"}), self.and_)

    def and_(self) -> Node:
        return self._chain(frozenset({"&&"}), self.rel)

    def rel(self) -> Node:
        return self._chain(RELATIONS, self.add)

    def add(self) -> Node:
        return self._chain(frozenset({"+", "-"}), self.mul)

    def mul(self) -> Node:
        return self._chain(frozenset({"*", "/", "%"}), self.unary)

    def unary(self) -> Node:
        if self.accept("!"):
            return Unary("!", self.unary())
        if self.accept("-"):
            kind, text = self.peek()
            if kind in ("int", "float") and self.peek(1) not in (("op", "."), ("op", "[")):
                value = -int(text) if kind == "int" else -float(text)
                if type(value) is int and value < INT_MIN:
                    raise self.unsupported("an int below -2**63")
                self.i += 1
                return Const(value)
            return Unary("-", self.unary())
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                name = self.name()
                node = self.method(node, name) if self.accept("(") else Select(node, name)
            elif self.accept("["):
                key = self.expr()
                self.take("]")
                node = Index(node, key)
            else:
                return node

    def method(self, target: Node, name: str) -> Node:
        at = self.i - 2  # the name, before its "("
        if name in ("exists", "all"):
            var = self.name()
            if var in ("true", "false", "null"):
                raise self.unsupported(f"{var!r} as a loop variable")
            self.take(",")
            pred = self.expr()
            self.take(")")
            return Comprehension(name, target, var, pred)
        args = self.sequence(")", self.expr)
        if name in STRING_METHODS and len(args) == 1:
            return Call(name, (target, args[0]))
        if name == "size" and not args:
            return Call("size", (target,))
        raise self.unsupported(f"method {name}() outside the subset", at)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind in ("int", "float", "str"):
            return Const(self.literal(kind, text))
        if kind == "ident":
            if text in ("true", "false"):
                return Const(text == "true")
            if text == "null":
                return Const(None)
            if text in _RESERVED:
                raise self.unsupported(f"reserved word {text!r}")
            return self.function(text) if self.accept("(") else Ident(text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            return ListLit(tuple(self.sequence("]", self.expr)))
        if text == "{":
            at, entries = self.i - 1, self.sequence("}", self.entry)
            if len({k for k, _ in entries}) != len(entries):
                raise self.unsupported("duplicate map keys", at)
            return MapLit(tuple(entries))
        self.i -= 1
        raise self.unsupported(f"unexpected {text!r}")

    def entry(self) -> tuple[str, Node]:
        kind, key = self.take()
        if kind != "str":
            self.i -= 1
            raise self.unsupported("map keys other than string literals")
        self.take(":")
        return self.literal(kind, key), self.expr()

    def function(self, name: str) -> Node:
        at = self.i - 2  # the name, before its "("
        if name == "has":
            node = self.member()
            self.take(")")
            # the operand is a field selection as written (``has((a.b))`` is not: the library decides)
            if not isinstance(node, Select) or self.tokens[self.i - 2][0] != "ident":
                raise self.unsupported("has() needs a field selection", at)
            return Has(node.target, node.name)
        args = self.sequence(")", self.expr)
        if name == "size" and len(args) == 1:
            return Call("size", (args[0],))
        raise self.unsupported(f"function {name}() outside the subset", at)

    def literal(self, kind: str, text: str) -> Any:
        """The value of the literal token just taken."""
        if kind == "int":
            value = int(text)
            if value > INT_MAX:
                self.i -= 1
                raise self.unsupported("an int above 2**63 - 1")
            return value
        if kind == "float":
            return float(text)
        body, out, i = text[1:-1], [], 0
        while i < len(body):
            c = body[i]
            if c == "\\":
                nxt = body[i + 1] if i + 1 < len(body) else ""
                if nxt not in _ESCAPES:
                    self.i -= 1
                    raise self.unsupported(f"escape \\{nxt}")
                out.append(_ESCAPES[nxt])
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)
