"""Group keys split requests that differ in kind; a group's summary shows how its members differ."""

from __future__ import annotations

from typing import Any

import pytest

from signoff.review._grouping import group_key, magnitude, spread


def key(**args: Any) -> str:
    return group_key("issue_refund", ["refunds"], args)


class TestGroupKey:
    def test_same_shape_same_magnitude_one_group(self) -> None:
        """Refunds of 250 and 420 with the same keys share a group."""
        assert key(order="A-1", amount=250) == key(order="B-7", amount=420)

    def test_an_order_of_magnitude_more_is_another_group(self) -> None:
        """A refund of 250,000 never joins the group of refunds of 250."""
        assert key(order="A-1", amount=250) != key(order="A-2", amount=250_000)

    def test_nested_numbers_split_too(self) -> None:
        """A number inside an object argument is bucketed like a top-level one."""
        assert key(payment={"amount": 25.0}) != key(payment={"amount": 2500.0})

    def test_sign_and_zero_are_their_own_kinds(self) -> None:
        """A refund of -250 or of 0 is not grouped with refunds of 250."""
        assert len({key(amount=250), key(amount=-250), key(amount=0)}) == 3

    def test_booleans_are_not_numbers(self) -> None:
        """True and False share a group (a bool has no magnitude)."""
        assert key(flag=True) == key(flag=False)

    @pytest.mark.parametrize(("value", "bucket"), [
        (1, "1e0"), (9, "1e0"), (10, "1e1"), (99, "1e1"), (100, "1e2"), (999, "1e2"), (250_000, "1e5"),
        (0.5, "1e-1"), (0.05, "1e-2"), (999.9999999999999, "1e2"), (1000.0, "1e3"), (-250, "-1e2"), (0, "0"),
        (0.0, "0"), (float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"), (10**40, "1e40"),
    ])
    def test_magnitude_buckets(self, value: float, bucket: str) -> None:
        """The bucket is the power of ten of the leading digit, exactly (no float rounding at 1000)."""
        assert bucket == magnitude(value)


class TestSpread:
    def test_numbers_show_their_range(self) -> None:
        """A numeric argument that varies is summarised as min – max."""
        s = {x.path: x for x in spread([{"amount": 250}, {"amount": 999}, {"amount": 420}])}
        assert (True, "250 – 999") == (s['"amount"'].varies, s['"amount"'].text)

    def test_large_numbers_are_easy_to_read(self) -> None:
        """Thousands are separated so 25,000 and 250,000 are not confused."""
        (s,) = spread([{"amount": 25_000}, {"amount": 99_000.5}])
        assert "25,000 – 99,000.5" == s.text

    def test_short_strings_show_their_distinct_values(self) -> None:
        """A few short strings are listed, JSON-quoted, in order of first appearance."""
        (s,) = spread([{"cur": "EUR"}, {"cur": "USD"}, {"cur": "EUR"}])
        assert (True, '"EUR", "USD"') == (s.varies, s.text)

    def test_many_or_long_strings_are_counted(self) -> None:
        """More than a few distinct strings, or long ones, are summarised as a count."""
        many = spread([{"order": f"A-{i}"} for i in range(6)])
        long = spread([{"note": "x" * 80}, {"note": "y" * 80}])
        assert ["6 distinct values", "2 distinct values"] == [many[0].text, long[0].text]

    def test_constant_arguments_are_marked_same(self) -> None:
        """An argument with one value across the group says so, with the value."""
        s = {x.path: x for x in spread([{"amount": 250, "cur": "EUR"}, {"amount": 250, "cur": "EUR"}])}
        assert [(False, "250"), (False, '"EUR"')] == [(s[p].varies, s[p].text) for p in ('"amount"', '"cur"')]

    def test_nested_objects_are_flattened_with_quoted_keys(self) -> None:
        """Each leaf of an object argument is its own line, its path made of JSON-quoted keys."""
        s = spread([{"to": {"iban": "DE1", "amount": 5}}, {"to": {"iban": "DE2", "amount": 7}}])
        assert [('"to"."iban"', '"DE1", "DE2"'), ('"to"."amount"', "5 – 7")] == [(x.path, x.text) for x in s]

    def test_keys_cannot_fake_fields(self) -> None:
        """A key with quotes and commas stays one quoted key."""
        (s,) = spread([{'a", "b': 1}, {'a", "b': 2}])
        assert '"a\\", \\"b"' == s.path

    def test_hidden_characters_are_revealed_and_flagged(self) -> None:
        """A right-to-left override in a key or value shows as a marker and the entry is flagged."""
        (s,) = spread([{"file\u202e": "gpj.exe"}, {"file\u202e": "txt\u200b"}])
        assert ('"file<U+202E>"', '"gpj.exe", "txt<U+200B>"', True) == (s.path, s.text, s.hidden)

    def test_escape_sequences_never_pass_through(self) -> None:
        """A terminal escape in a value is revealed, not kept (the summary is also safe for a terminal)."""
        (s,) = spread([{"x": "\x1b[2J"}, {"x": "ok"}])
        assert "\x1b" not in s.text and s.hidden

    def test_lists_are_compared_whole(self) -> None:
        """A list argument is one value: equal lists are the same, different ones counted."""
        same = spread([{"ids": [1, 2]}, {"ids": [1, 2]}])
        diff = spread([{"ids": [1, 2]}, {"ids": [3]}])
        assert [(False, "[1, 2]"), (True, "2 distinct values")] == [(same[0].varies, same[0].text),
                                                                    (diff[0].varies, diff[0].text)]

    def test_a_missing_argument_counts_as_a_difference(self) -> None:
        """Members of one group share their keys, but a summary never hides one that lacks a key."""
        (a, b) = spread([{"x": 1, "y": 1}, {"x": 1}])
        assert (False, True, "1, (missing)") == (a.varies, b.varies, b.text)
