"""The CEL subset people write, compiled to Python closures; the CEL library stays the reference.

A CEL call costs ~10 µs, most of it converting Python values into CEL; a policy with a
dozen conditions per decision spends almost all its time there. ``compile_fast`` turns
the tree ``_cel_parse`` gives for the common subset (literals, field and index access, comparisons, arithmetic, ``&&``
``||`` ``!``, the ternary, ``in``, ``has()``, ``size``, ``startsWith``/``endsWith``/
``contains``, list and map literals, ``exists``/``all``) into plain closures.

A closure only ever answers on the happy path, where its value is certain to be the
library's: every operation checks the exact Python types of its operands (``bool`` is
not ``int``, ints stay within int64, an int is compared with a double only below 2**53,
NaN is not ordered, strings are sized only when ASCII because the library counts bytes).
Anything else - a missing field, a wrong type, an overflow, a division by zero, an error
that ``&&``/``||``/``exists`` might absorb, a non-bool result - raises, and the caller
runs the library on the same activation instead. So errors, their messages and the
fail-closed behaviour are the library's by construction; the property test in
tests/unit/test_cel_fast.py checks the values. A source outside the subset compiles to
``None`` and always runs on the library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from signoff.policy import _cel_parse as T
from signoff.policy._cel_parse import INT_MAX as _INT_MAX
from signoff.policy._cel_parse import INT_MIN as _INT_MIN
from signoff.policy._cel_parse import Unsupported, parse

Fn = Callable[[dict[str, Any]], Any]

_EXACT_FLOAT = 2**53
_NONE = type(None)


class Fallback(Exception):
    """Not the happy path at run time: the library decides (value or error)."""


# ------------------------------------------------------------------ value checks

def _int(v: Any) -> bool:
    return type(v) is int and _INT_MIN <= v <= _INT_MAX


def _numbers(a: Any, b: Any) -> bool:
    """Both CEL numbers of the kinds modelled here, compared exactly as the library does."""
    ta, tb = type(a), type(b)
    if ta is int:
        if not _INT_MIN <= a <= _INT_MAX:
            return False
        if tb is int:
            return bool(_INT_MIN <= b <= _INT_MAX)
        return tb is float and -_EXACT_FLOAT <= a <= _EXACT_FLOAT and bool(b == b)
    if ta is float and a == a:
        if tb is float:
            return bool(b == b)
        return tb is int and bool(-_EXACT_FLOAT <= b <= _EXACT_FLOAT)
    return False


def _eq(a: Any, b: Any) -> bool:
    ta = type(a)
    if ta is type(b) and (ta is str or ta is bool or ta is _NONE):
        return bool(a == b)
    if _numbers(a, b):
        return bool(a == b)
    raise Fallback


def _ordered(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return True
    if _numbers(a, b):
        return True
    raise Fallback


def _checked(v: int) -> int:
    if _INT_MIN <= v <= _INT_MAX:
        return v
    raise Fallback


# ------------------------------------------------------------------ operators

def _logic(stop: bool, left: Fn, right: Fn) -> Fn:
    """``&&`` (``stop`` False: a false left side decides) or ``||`` (``stop`` True)."""
    go_on = not stop

    def run(env: dict[str, Any]) -> Any:
        a = left(env)
        if a is stop:
            return stop
        if a is not go_on:
            raise Fallback
        b = right(env)
        if type(b) is not bool:
            raise Fallback
        return b
    return run


def _not(inner: Fn) -> Fn:
    def run(env: dict[str, Any]) -> Any:
        v = inner(env)
        if v is True:
            return False
        if v is False:
            return True
        raise Fallback
    return run


def _neg(inner: Fn) -> Fn:
    return lambda env: negate(inner(env))


def negate(v: Any) -> Any:
    """CEL ``-v`` on the happy path (raises Fallback otherwise); shared with ``_cel_source``."""
    if type(v) is float:
        return -v
    if _int(v):
        return _checked(-v)
    raise Fallback


def _ternary(cond: Fn, yes: Fn, no: Fn) -> Fn:
    def run(env: dict[str, Any]) -> Any:
        c = cond(env)
        if c is True:
            return yes(env)
        if c is False:
            return no(env)
        raise Fallback
    return run


def _compare(op: str, left: Fn, right: Fn) -> Fn:
    slow = _COMPARE_SLOW[op]
    return lambda env: slow(left(env), right(env))


_COMPARE_SLOW: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq, "!=": lambda a, b: not _eq(a, b),
    "<": lambda a, b: _ordered(a, b) and a < b, "<=": lambda a, b: _ordered(a, b) and a <= b,
    ">": lambda a, b: _ordered(a, b) and a > b, ">=": lambda a, b: _ordered(a, b) and a >= b,
}


def _in(left: T.Node, right: T.Node) -> Fn:
    x, coll = _build(left), _build(right)

    def general(env: dict[str, Any]) -> Any:
        return member(x(env), coll(env))
    if not (isinstance(left, T.Const) and type(left.value) is str
            and isinstance(right, T.Select) and isinstance(right.target, T.Ident)):
        return general
    var, name, text = right.target.name, right.name, left.value

    def literal_in_field(env: dict[str, Any]) -> Any:
        """``'pii' in action.tags``: a string literal in a list of strings."""
        o = env[var]
        if type(o) is dict:
            coll = o[name]
            if type(coll) is list:
                for e in coll:
                    if type(e) is not str:
                        raise Fallback
                return text in coll
        return general(env)
    return literal_in_field


def member(x: Any, coll: Any) -> bool:
    """CEL ``x in coll`` on the happy path (raises Fallback otherwise); shared with ``_cel_source``."""
    tc = type(coll)
    if tc is list:
        if type(x) is str:
            for e in coll:
                if type(e) is not str:
                    raise Fallback
            return x in coll
        return any(_eq(x, e) for e in coll)
    if tc is dict and type(x) is str:
        if x in coll:
            return True
        for k in coll:
            if type(k) is not str:
                raise Fallback
        return False
    raise Fallback


def _arith(op: str, left: Fn, right: Fn) -> Fn:
    return lambda env: arith(op, left(env), right(env))


def arith(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for ``+ - * / %`` on the happy path (raises Fallback otherwise); shared with ``_cel_source``."""
    ta, tb = type(a), type(b)
    if ta is int and tb is int and _INT_MIN <= a <= _INT_MAX and _INT_MIN <= b <= _INT_MAX:
        if op == "+":
            return _checked(a + b)
        if op == "-":
            return _checked(a - b)
        if op == "*":
            return _checked(a * b)
        if b == 0:
            raise Fallback
        q, r = abs(a) // abs(b), abs(a) % abs(b)
        if op == "/":
            return _checked(q if (a < 0) == (b < 0) else -q)
        return r if a >= 0 else -r
    if ta is float and tb is float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/" and b != 0.0:
            return a / b
        raise Fallback
    if op == "+" and ta is tb and (ta is str or ta is list):
        return a + b
    raise Fallback


def _field(target: Fn, name: str) -> Fn:
    return lambda env: field(target(env), name)


def _var_field(var: str, name: str) -> Fn:
    def run(env: dict[str, Any]) -> Any:
        o = env[var]
        if type(o) is dict:
            return o[name]
        raise Fallback
    return run


# ``x OP literal``, the form most conditions take, as one function with the operator inlined
# and the literal's checks done once; READ is ``x``: inline when it is ``variable.field``.
_LEAF_NUMBER = """
def leaf(env):
READ
    t = type(v)
    if t is int:
        if LO <= v <= HI:
            return v OP C
    elif t is float:
        if v == v and FLOAT_OK:
            return v OP C
    return slow(v, C)
"""
_LEAF_STRING = """
def leaf(env):
READ
    if type(v) is str:
        return v OP C
    return slow(v, C)
"""
_READ_FIELD = """    o = env[VAR]
    if type(o) is not dict:
        raise Fallback
    v = o[NAME]"""


def _leaf(left: T.Node, op: str, const: Any) -> Fn | None:
    if type(const) is str:
        src, bounds, float_ok = _LEAF_STRING, (0, 0), False
    elif type(const) is int and _int(const):
        # an int against an int literal is exact at any int64 magnitude; a double only below 2**53
        src = _LEAF_NUMBER
        bounds = (_INT_MIN, _INT_MAX)
        float_ok = -_EXACT_FLOAT <= const <= _EXACT_FLOAT
    elif type(const) is float and const == const:
        src = _LEAF_NUMBER
        bounds = (-_EXACT_FLOAT, _EXACT_FLOAT)
        float_ok = True
    else:
        return None
    namespace: dict[str, Any] = {"C": const, "slow": _COMPARE_SLOW[op], "Fallback": Fallback,
                                 "LO": bounds[0], "HI": bounds[1], "FLOAT_OK": float_ok}
    if isinstance(left, T.Select) and isinstance(left.target, T.Ident):
        read = _READ_FIELD
        namespace.update(VAR=left.target.name, NAME=left.name)
    else:
        read, namespace["LEFT"] = "    v = LEFT(env)", _build(left)
    # op is one of the six comparisons, nothing else; the file name shows in tracebacks and profiles
    exec(compile(src.replace("OP", op).replace("READ", read), f"{__file__}:leaf", "exec"), namespace)
    leaf: Fn = namespace["leaf"]
    return leaf


def _index(target: Fn, key: Fn) -> Fn:
    return lambda env: index(target(env), key(env))


def index(o: Any, k: Any) -> Any:
    """``o[k]`` on the happy path; the functions below too are shared with ``_cel_source``."""
    if type(o) is list and type(k) is int and 0 <= k < len(o):
        return o[k]
    if type(o) is dict and type(k) is str:
        return o[k]
    raise Fallback


def field(o: Any, name: str) -> Any:
    if type(o) is dict:
        return o[name]  # KeyError: missing field, the library says which
    raise Fallback


def has(o: Any, name: str) -> bool:
    if type(o) is dict:
        return name in o
    raise Fallback


def size(o: Any) -> int:
    t = type(o)
    if t is list or t is dict or (t is str and o.isascii()):
        return len(o)
    raise Fallback


def _has(target: Fn, name: str) -> Fn:
    return lambda env: has(target(env), name)


def _size(target: Fn) -> Fn:
    return lambda env: size(target(env))


STRING_METHODS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith, "endsWith": str.endswith, "contains": str.__contains__,
}


def _string_method(name: str, target: Fn, arg: Fn) -> Fn:
    method = STRING_METHODS[name]

    def run(env: dict[str, Any]) -> Any:
        s, a = target(env), arg(env)
        if type(s) is str and type(a) is str:
            return method(s, a)
        raise Fallback
    return run


def _comprehension(kind: str, target: Fn, var: str, pred: Fn) -> Fn:
    def run(env: dict[str, Any]) -> Any:
        coll = target(env)
        if type(coll) is dict:
            items = list(coll)
            if any(type(k) is not str for k in items):
                raise Fallback
        elif type(coll) is list:
            items = coll
        else:
            raise Fallback
        inner = dict(env)
        for item in items:
            inner[var] = item
            r = pred(inner)
            if type(r) is not bool:
                raise Fallback  # an error exists/all might absorb: the library decides
            if r is (kind == "exists"):
                return r
        return kind != "exists"
    return run


def _list(items: list[Fn]) -> Fn:
    return lambda env: [f(env) for f in items]


def _map(entries: list[tuple[str, Fn]]) -> Fn:
    return lambda env: {k: f(env) for k, f in entries}


def _const(value: Any) -> Fn:
    def run(env: dict[str, Any]) -> Any:
        return value
    return run


# ------------------------------------------------------------------ the tree to closures

def _build(node: T.Node) -> Fn:
    """The closure for one node of ``_cel_parse``'s tree."""
    match node:
        case T.Const(value):
            return _const(value)
        case T.Ident(name):
            return lambda env: env[name]
        case T.Select(T.Ident(var), name):
            return _var_field(var, name)
        case T.Select(target, name):
            return _field(_build(target), name)
        case T.Index(target, key):
            return _index(_build(target), _build(key))
        case T.Unary("!", operand):
            return _not(_build(operand))
        case T.Unary(_, operand):
            return _neg(_build(operand))
        case T.Binary("&&" | "||" as op, left, right):
            return _logic(op == "||", _build(left), _build(right))
        case T.Binary("in", left, right):
            return _in(left, right)
        case T.Binary(op, left, right) if op in _COMPARE_SLOW:
            return _relation(op, left, right)
        case T.Binary(op, left, right):
            return _arith(op, _build(left), _build(right))
        case T.Ternary(cond, yes, no):
            return _ternary(_build(cond), _build(yes), _build(no))
        case T.Has(target, name):
            return _has(_build(target), name)
        case T.Call("size", (target,)):
            return _size(_build(target))
        case T.Call(name, (target, arg)):
            return _string_method(name, _build(target), _build(arg))
        case T.Comprehension(kind, target, var, pred):
            return _comprehension(kind, _build(target), var, _build(pred))
        case T.ListLit(items):
            return _list([_build(i) for i in items])
        case T.MapLit(entries):
            return _map([(k, _build(v)) for k, v in entries])
    raise Unsupported(repr(node))


def _relation(op: str, left: T.Node, right: T.Node) -> Fn:
    """A comparison; against a literal, one generated function (``args.x > 200``)."""
    leaf = _leaf(left, op, right.value) if isinstance(right, T.Const) else None
    return leaf or _compare(op, _build(left), _build(right))


_SURROGATE = re.compile("[\ud800-\udfff]")


def is_plain(value: Any, depth: int = 0) -> bool:
    """JSON-like (str, int64, float, bool, None, lists, str-keyed dicts): the library converts it surely."""
    t = type(value)
    if t is dict:
        if depth > 64:
            return False
        for k, v in value.items():
            if type(k) is not str or (not k.isascii() and _SURROGATE.search(k) is not None):
                return False
            tv = type(v)
            if tv is str:
                if not v.isascii() and _SURROGATE.search(v) is not None:
                    return False
            elif tv is int:
                if not _INT_MIN <= v <= _INT_MAX:
                    return False
            elif tv is not float and tv is not bool and v is not None and not is_plain(v, depth + 1):
                return False
        return True
    if t is list:
        if depth > 64:
            return False
        for v in value:
            tv = type(v)
            if tv is str:
                if not v.isascii() and _SURROGATE.search(v) is not None:
                    return False
            elif tv is int:
                if not _INT_MIN <= v <= _INT_MAX:
                    return False
            elif tv is not float and tv is not bool and v is not None and not is_plain(v, depth + 1):
                return False
        return True
    if t is str:
        return bool(value.isascii() or _SURROGATE.search(value) is None)
    if t is int:
        return bool(_INT_MIN <= value <= _INT_MAX)
    return t is float or t is bool or value is None


def compile_fast(source: str) -> Fn | None:
    """A closure computing ``source`` on the happy path (raising otherwise), or None when unsupported.

    Only call this for a source the CEL library has already compiled: the parser
    (``_cel_parse``) is lenient about what the library rejects.
    """
    try:
        return _build(parse(source))
    except (Unsupported, ValueError, IndexError, RecursionError):
        return None
