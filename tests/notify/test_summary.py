"""The channel-neutral summary: exact arguments, folded with visible markers, agent words revealed."""

from __future__ import annotations

import json

from signoff._model import Action
from signoff.notify._summary import FOLD_CHARS, FOLD_ITEMS, args_lines, event_title, summarize
from tests.notify._tickets import NOW, ticket


class TestSummarize:
    def test_headline_why_and_approvals(self) -> None:
        """A pending ticket says what, by whom, why, which tier and how many approvals so far."""
        s = summarize(ticket(), now=NOW)
        assert "deploy by agent-7" == s.headline
        assert "high_risk_action (deploys): Deploys need a person" == s.why
        assert ("senior", "1 of 2", "in 10m 00s") == (s.tier, s.approvals, s.time_left)
        assert "Tests pass." == s.reasoning
        assert ("wait for Monday",) == s.alternatives
        assert "" == s.decided

    def test_args_are_exact_pretty_json(self) -> None:
        """Short arguments come out as indented JSON that parses back to the same value."""
        args = {"service": "api", "n": [1, 2, {"x": None}], "ok": True}
        assert args == json.loads("\n".join(args_lines(args)))

    def test_edited_args_are_shown(self) -> None:
        """An edited ticket shows the edited arguments and says so."""
        s = summarize(ticket(edited_args={"service": "web"}), now=NOW)
        assert s.edited
        assert {"service": "web"} == json.loads("\n".join(s.args))

    def test_long_string_folded_with_marker(self) -> None:
        """A long string keeps its head and says how much more there is, outside the quotes."""
        lines = args_lines({"body": "x" * (FOLD_CHARS + 1234)})
        assert f'  "body": "{"x" * FOLD_CHARS}" … 1,234 more characters' == lines[1]

    def test_long_list_folded_with_marker(self) -> None:
        """A long list shows its first entries and counts the rest."""
        lines = args_lines({"ids": list(range(FOLD_ITEMS + 5))})
        assert "    … 5 more items" in lines

    def test_hidden_characters_revealed(self) -> None:
        """Bidi overrides and escape sequences in agent text show as <U+XXXX> and are flagged."""
        action = Action(name="send\u202e", agent="a\x1b[2J", args={"to": "x\u200by"}, reasoning="ok\x1b]0;t\x07")
        s = summarize(ticket(action=action), now=NOW)
        assert "send<U+202E>" == s.action
        assert "a<U+001B>[2J" == s.agent
        assert any("x<U+200B>y" in line for line in s.args)
        assert "\x1b" not in s.reasoning and "<U+001B>" in s.reasoning
        assert s.hidden

    def test_decided_ticket(self) -> None:
        """A decided ticket says how and by whom, with the reviewer's feedback."""
        t = ticket(status="rejected", decided_by=("bob",), decided_at=NOW, feedback="not today")
        s = summarize(t, now=NOW)
        assert ("rejected by bob", "not today", "") == (s.decided, s.feedback, s.time_left)


class TestEventTitle:
    def test_one_ticket(self) -> None:
        """One ticket: the event and its headline."""
        assert "needs approval: deploy by agent-7" == event_title("ticket.created", [summarize(ticket(), now=NOW)])

    def test_coalesced(self) -> None:
        """Several tickets: how many, and the actions once each."""
        ss = [summarize(ticket(id=f"tk_{i}"), now=NOW) for i in range(3)]
        assert "3 tickets need approval: deploy" == event_title("ticket.created", ss)

    def test_escalated(self) -> None:
        """An escalation names the tier it went to."""
        title = event_title("ticket.escalated", [summarize(ticket(), now=NOW)], {"escalated_to": "admin"})
        assert "escalated to admin: deploy by agent-7" == title
