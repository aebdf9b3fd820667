"""The one parser of the compiled CEL subset (signoff.policy._cel_parse) and the two back ends it feeds.

The back ends' values are checked against the CEL library in test_cel_fast.py; here: the tree
itself (precedence, literals), that the closures and the generated source are compiled from
the same tree, and that what the parser refuses names where.
"""

from __future__ import annotations

from typing import Any

import cel
import pytest

from signoff.policy._cel_fast import compile_fast
from signoff.policy._cel_parse import (
    Binary,
    Call,
    Comprehension,
    Const,
    Has,
    Ident,
    Index,
    ListLit,
    MapLit,
    Select,
    Ternary,
    Unary,
    Unsupported,
    parse,
)
from signoff.policy._cel_source import compile_source
from signoff.policy._decide import new_emitter


def args(name: str) -> Select:
    return Select(Ident("args"), name)


class TestTree:
    @pytest.mark.parametrize("source,tree", [
        ("args.amount > 200", Binary(">", args("amount"), Const(200))),
        ("a || b && c", Binary("||", Ident("a"), Binary("&&", Ident("b"), Ident("c")))),
        ("1 + 2 * 3 - 4", Binary("-", Binary("+", Const(1), Binary("*", Const(2), Const(3))), Const(4))),
        ("a ? b : c ? d : e", Ternary(Ident("a"), Ident("b"), Ternary(Ident("c"), Ident("d"), Ident("e")))),
        ("-5 < -args.x", Binary("<", Const(-5), Unary("-", args("x")))),
        ("-1.5 == -(1.5)", Binary("==", Const(-1.5), Unary("-", Const(1.5)))),
        ("!has(args.m.k)", Unary("!", Has(args("m"), "k"))),
        ("'pii' in action.tags", Binary("in", Const("pii"), Select(Ident("action"), "tags"))),
        ("size(args.s) == args.s.size()", Binary("==", Call("size", (args("s"),)), Call("size", (args("s"),)))),
        ("args.s.startsWith('a\\n')", Call("startsWith", (args("s"), Const("a\n")))),
        ("args.l[0] == [null, true]", Binary("==", Index(args("l"), Const(0)), ListLit((Const(None), Const(True))))),
        ("{'k': 1}.k", Select(MapLit((("k", Const(1)),)), "k")),
        ("args.l.exists(x, x > 1)", Comprehension("exists", args("l"), "x", Binary(">", Ident("x"), Const(1)))),
    ])
    def test_the_tree_of_a_condition(self, source: str, tree: Any) -> None:
        """Precedence and associativity are CEL's; a negative number literal is one constant."""
        assert tree == parse(source)

    def test_a_tree_is_immutable(self) -> None:
        """Trees are shared (cached): nobody may change one."""
        with pytest.raises(AttributeError):
            parse("args.x > 1").op = "<"  # type: ignore[misc, union-attr]


class TestOneTreeTwoBackEnds:
    def test_the_closure_and_the_generated_source_compile_the_same_tree(self) -> None:
        """The source is parsed once: the second back end takes the cached tree."""
        source = "args.amount * 3 > 599 && 'pii' in action.tags"
        parse.cache_clear()
        assert compile_fast(source) is not None
        assert new_emitter().emit(source, condition=True) is not None
        info = parse.cache_info()
        assert (1, 1) == (info.misses, info.hits)

    def test_each_back_end_refuses_what_it_does_not_compile(self) -> None:
        """A comprehension parses and runs as a closure; the source back end leaves it to the closure."""
        source = "args.l.exists(x, x > 1)"
        assert isinstance(parse(source), Comprehension)
        fast = compile_fast(source)
        assert fast is not None and fast({"args": {"l": [0, 2]}}) is True
        assert compile_source(source) is None

    def test_has_of_a_parenthesized_selection_stays_with_the_library(self) -> None:
        """``has((a.b))`` is left to the library, as before; ``has((a).b)`` is a field selection."""
        with pytest.raises(Unsupported, match="has\\(\\) needs a field selection at line 1, column 1"):
            parse("has((args.k))")
        assert compile_fast("has((args.k))") is None
        assert parse("has((args).k)") == Has(Ident("args"), "k")

    def test_the_smallest_int64_is_a_literal_on_either_side(self) -> None:
        """``-9223372036854775808`` compiles as a right operand too, and agrees with the library."""
        for source in ("args.x > -9223372036854775808", "-9223372036854775808 < args.x"):
            fast = compile_fast(source)
            generated = compile_source(source, condition=True)
            assert fast is not None and generated is not None
            for x in (-(2**63), 0):
                want = cel.compile(source).execute({"args": {"x": x}})
                assert want is fast({"args": {"x": x}}) is generated({"args": {"x": x}})


class TestRefusals:
    @pytest.mark.parametrize("source,message", [
        ("args.amount > #", "unexpected '#' at line 1, column 15"),
        ("args.x.matches('^a')", "method matches() outside the subset at line 1, column 8"),
        ("args.a &&\n  int(args.b) > 1", "function int() outside the subset at line 2, column 3"),
        ("args.n == 1u", "trailing input at line 1, column 12"),
        ("args.a >", "unexpected end at line 1, column 9"),
        ("{1: 2}", "map keys other than string literals at line 1, column 2"),
        ("9223372036854775808 > 1", "an int above 2**63 - 1 at line 1, column 1"),
        ("args.x == '\\x41'", "escape \\x at line 1, column 11"),
        ("args.l.map(x, x)", "method map() outside the subset at line 1, column 8"),
        ("{'k': 1, 'k': 2}", "duplicate map keys at line 1, column 1"),
    ])
    def test_a_refusal_says_what_and_where(self, source: str, message: str) -> None:
        """Outside the subset, Unsupported names the construct and its line and column."""
        with pytest.raises(Unsupported) as refused:
            parse(source)
        assert message == str(refused.value)
        assert compile_fast(source) is None and compile_source(source) is None
