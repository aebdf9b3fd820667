"""signoff._text: agent-written text shown to people with nothing hidden and no terminal control."""

from __future__ import annotations

import pytest

from signoff._text import has_hidden, reveal, reveal_value


class TestReveal:
    @pytest.mark.parametrize(("text", "shown"), [
        ("plain words", "plain words"),
        ("naïve café 日本", "naïve café 日本"),
        ("\x1b[2Jcleared", "<U+001B>[2Jcleared"),
        ("\x1b]8;;http://evil\x1b\\link", "<U+001B>]8;;http://evil<U+001B>\\link"),
        ("\x9b31m", "<U+009B>31m"),
        ("abc\u202edcba", "abc<U+202E>dcba"),
        ("\u2066iso\u2069", "<U+2066>iso<U+2069>"),
        ("zero\u200bwidth\u200c\u200d", "zero<U+200B>width<U+200C><U+200D>"),
        ("\ufeffbom", "<U+FEFF>bom"),
        ("tag\U000e0041\U000e0042", "tag<U+E0041><U+E0042>"),
        ("bell\x07 del\x7f", "bell<U+0007> del<U+007F>"),
        ("line\u2028sep", "line<U+2028>sep"),
    ])
    def test_hidden_and_control_characters_become_visible(self, text: str, shown: str) -> None:
        """Every control, bidi, zero-width and tag character is shown as <U+XXXX>; other text is untouched."""
        assert shown == reveal(text)

    def test_newlines_kept_or_escaped(self) -> None:
        """Newlines and tabs stay in multi-line text and are escaped for one-line cells; CR is always shown."""
        assert ("a\nb\tc\\r", "a\\nb\\tc\\r") == (reveal("a\nb\tc\r"), reveal("a\nb\tc\r", one_line=True))

    def test_max_len_never_cuts_a_marker(self) -> None:
        """Shortening keeps whole markers and ends with an ellipsis."""
        assert "ab…" == reveal("ab\u202ecdef", max_len=5)

    def test_has_hidden(self) -> None:
        """has_hidden ignores newlines and tabs but not bidi overrides."""
        assert (False, True) == (has_hidden("a\nb\tc"), has_hidden("a\u202eb"))

    def test_values_as_json(self) -> None:
        """Non-string values are shown as JSON with their strings revealed."""
        assert '{"x": "a<U+202E>b"}' == reveal_value({"x": "a\u202eb"})
