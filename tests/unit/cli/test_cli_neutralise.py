"""Every CLI output of agent text is neutralised: no escape sequence reaches the terminal, keys are quoted.

A hostile agent names its action ``ESC[2J ESC]0;... BEL APPROVED-SAFE``: printed raw it clears the
reviewer's screen, sets the window title and shows a fake verdict. Each command that prints
agent-written text (tickets list/show, audit list, insights, explain) must show such characters
as ``<U+001B>`` instead, like ``tickets list`` always did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from signoff import Action, Gate
from signoff.cli import main

POLICY = """\
version: 1
defaults: {level: auto, timeout: 30m, on_timeout: escalate}
rules:
  - name: everything
    match: {action: "*"}
    level: approve
"""
EVIL_NAME = "\x1b[2J\x1b]0;owned\x07\x1b[32mAPPROVED-SAFE\x1b[0m\u009b31m"
FAKE_KEY = 'amount=10.0, currency="USD", reason'
ESCAPES = ("\x1b", "\x07", "\u009b")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{tmp_path}/q.db"
    with Gate.open(policy=policy, store=db, sweep=False) as gate:
        gate.add_reviewer("alice")
        ticket = gate.submit_sync(Action(
            name=EVIL_NAME, agent="bot\x1b[8m", args={FAKE_KEY: "x\x1b[2J"}, reasoning="fine\x1b[2J",
            tags={"t\x1b[2J"}, context={"c\x1b": "v\x1b[2J"}, alternatives=["a\x1b[2J"]))
        gate.approve_sync(ticket.id, reviewer="alice")
    return str(policy), db, ticket.id


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def assert_neutral(out: str) -> None:
    found = [ch for ch in ESCAPES if ch in out]
    assert [] == found, out
    assert "<U+001B>" in out


class TestNoEscapeReachesTheTerminal:
    def test_tickets_show(self, setup: tuple[str, str, str]) -> None:
        """The group key (which holds the action name), tags and context included."""
        _, db, tid = setup
        out = cli("tickets", "show", tid, "--db", db)
        assert_neutral(out)
        group_line = next(line for line in out.splitlines() if line.startswith("group:"))
        assert "<U+001B>[2J" in group_line
        assert "t<U+001B>[2J" in out and "v<U+001B>[2J" in out

    def test_tickets_show_quotes_argument_names(self, setup: tuple[str, str, str]) -> None:
        _, db, tid = setup
        out = cli("tickets", "show", tid, "--db", db)
        assert '  "amount=10.0, currency=\\"USD\\", reason" = ' in out

    @pytest.mark.parametrize("args", [("tickets", "list", "--status", "all"),
                                      ("tickets", "list", "--status", "all", "--json"),
                                      ("audit", "list"), ("audit", "list", "--json")])
    def test_lists(self, setup: tuple[str, str, str], args: tuple[str, ...]) -> None:
        _, db, tid = setup
        out = cli(*args, "--db", db)
        assert [] == [ch for ch in ESCAPES if ch in out], out
        assert tid in out

    def test_tickets_json_is_the_same_value(self, setup: tuple[str, str, str]) -> None:
        """ASCII-escaped, but a script still reads exactly what the agent sent."""
        _, db, tid = setup
        [line] = cli("tickets", "show", tid, "--db", db, "--json").splitlines()
        assert line.isascii() and EVIL_NAME == json.loads(line)["action"]["name"]

    def test_insights(self, setup: tuple[str, str, str]) -> None:
        _, db, _ = setup
        out = cli("insights", "--db", db, "--min-volume", "1")
        assert_neutral(out)

    @pytest.mark.parametrize("as_json", [False, True])
    def test_explain(self, setup: tuple[str, str, str], as_json: bool) -> None:
        policy, _, _ = setup
        action: dict[str, Any] = {"name": EVIL_NAME, "agent": "bot\x1b[8m", "tags": ["t\x1b[2J"],
                                  "args": {FAKE_KEY: "x\x1b[2J"}}
        out = cli("explain", "--policy", policy, *(["--json"] if as_json else []), json.dumps(action))
        assert [] == [ch for ch in ESCAPES if ch in out], out
        if not as_json:
            assert '"amount=10.0, currency=\\"USD\\", reason"' in out


class TestDemoAgentLog:
    def test_outside_text_is_revealed_and_only_the_level_is_coloured(self) -> None:
        """The demo's agent log reveals escapes in what came from outside (feedback, edits), and keeps
        its own colour on the level (it printed ``<U+001B>[36m`` before)."""
        import random

        from signoff import Level
        from signoff._demo_agent import _Agent

        lines: list[str] = []
        agent = _Agent("bot", None, url="http://x", log=lines.append, pace=0, rng=random.Random(1))
        agent.log("deploy(x=\x1b[2J) -> ", level=Level.APPROVE, after="feedback \x1b]0;owned\x07")
        [line] = lines
        assert ("\x1b[2J" in line, "<U+001B>[2J" in line, "\x1b[33m" in line, "<U+001B>]0;owned<U+0007>" in line) \
            == (False, True, True, True)
