"""What a newcomer meets first in the CLI: a mistyped ``--db`` or a missing folder refused by name,
listings and "none" lines that say why, options that say what they do, and the agent's words marked
in ``tickets show``. In-process (CliRunner) on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from signoff import Action, Gate
from signoff.cli import main

POLICY = {"version": 1, "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"NO_COLOR": "1"})


def history(db: str, approved: int) -> list[str]:
    """``approved`` approved deploys by alice; the ticket ids."""
    with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
        gate.add_reviewer("alice")
        ids = []
        for i in range(approved):
            t = gate.submit_sync(Action(agent="ci", name="deploy", args={"n": i}, reasoning="tests pass",
                                        alternatives=["wait for Monday"], confidence=0.8, context={"run": "7"}))
            gate.approve_sync(t.id, reviewer="alice")
            ids.append(t.id)
        return ids


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/live.db"


class TestMistypedDb:
    @pytest.mark.parametrize("command", [
        ["audit", "verify"], ["audit", "list"], ["insights"], ["allowances", "list"],
        ["allowances", "revoke", "al_0123456789abcdef"], ["db", "archive", "--older-than", "1d", "--dry-run"],
    ])
    def test_read_commands_refuse_a_missing_sqlite_file(self, command: list[str], tmp_path: Path) -> None:
        """A command that only reads a store refuses a SQLite file that does not exist (exit 2, naming it)
        instead of creating an empty one and answering about it ("ok: 0 entries")."""
        typo = tmp_path / "sigoff.db"
        r = cli(*command, "--db", f"sqlite:///{typo}")
        assert (2, True, False) == (r.exit_code, f"{typo}: no such database file" in r.output, typo.exists())

    def test_policy_diff_refuses_a_missing_sqlite_file(self, tmp_path: Path) -> None:
        """``policy diff`` replays history: a store that is not there is refused, not replayed as empty."""
        policy = tmp_path / "policy.yaml"
        policy.write_text("version: 1\n")
        r = cli("policy", "diff", str(policy), str(policy), "--db", f"sqlite:///{tmp_path}/nope.db")
        assert (2, True) == (r.exit_code, "no such database file" in r.output)

    def test_an_existing_store_still_verifies(self, db: str) -> None:
        """The check only refuses what is missing: a real store verifies as before."""
        history(db, approved=1)
        r = cli("audit", "verify", "--db", db)
        assert (0, True) == (r.exit_code, r.output.startswith("ok: "))


class TestMissingFolder:
    def test_backup_into_a_missing_folder_says_to_create_it(self, db: str, tmp_path: Path) -> None:
        """``db backup`` into a folder that does not exist says which folder and how to make it."""
        history(db, approved=1)
        r = cli("db", "backup", "--db", db, str(tmp_path / "backups" / "b.db"))
        assert (2, True) == (r.exit_code, f"the folder {tmp_path / 'backups'} does not exist" in r.output)
        assert "mkdir -p" in r.output

    def test_archive_into_a_missing_folder_says_so_and_deletes_nothing(self, db: str, tmp_path: Path) -> None:
        """``db archive --to`` a missing folder is refused before anything is read or deleted."""
        history(db, approved=2)
        r = cli("db", "archive", "--db", db, "--older-than", "1s", "--to", str(tmp_path / "archive" / "a.jsonl"))
        assert (2, True) == (r.exit_code, "does not exist (create it first" in r.output)
        with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
            assert 2 == len(gate.list_tickets_sync(status="approved"))


class TestArchiveHeldBack:
    def test_a_ticket_that_stays_is_named_as_where_the_log_stops(self, db: str) -> None:
        """An open suggestion made before approved ones holds the audit log back: the dry run names its
        entry and ticket (a feed item made before it goes with the approved tickets)."""
        policy = {"version": 1, "rules": [
            {"name": "deploys", "match": {"action": "deploy"}, "level": "approve"},
            {"name": "scaling", "match": {"action": "scale"}, "level": "notify"},
            {"name": "grants", "match": {"action": "grant"}, "level": "suggest"}]}
        with Gate.open(policy=policy, store=db, sweep=False) as gate:
            gate.add_reviewer("alice")
            gate.submit_sync(Action(agent="ci", name="scale", args={"n": 1}))
            held = gate.submit_sync(Action(agent="ci", name="grant", args={"n": 1}))
            for i in range(2):
                gate.approve_sync(gate.submit_sync(Action(agent="ci", name="deploy", args={"n": i})).id,
                                  reviewer="alice")
        r = cli("db", "archive", "--db", db, "--older-than", "1ms", "--dry-run")
        assert (0, "would archive 3 tickets") == (r.exit_code, r.output.splitlines()[0][:23])
        assert f"is about ticket {held.id} (suggested), which stays" in r.output

    def test_nothing_staying_means_no_hint(self, db: str) -> None:
        """When every ticket can go, the dry run says only what it would take."""
        history(db, approved=2)
        r = cli("db", "archive", "--db", db, "--older-than", "1ms", "--dry-run")
        assert (0, 1) == (r.exit_code, len(r.output.splitlines()))


class TestAllowancesList:
    def test_an_ended_allowance_has_no_time_left_and_the_empty_list_points_at_all(self, db: str) -> None:
        """A revoked allowance reads LEFT '-' under --all (not the days its expiry had left); the standing
        list, now empty, says --all shows the ended ones."""
        with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
            gate.add_reviewer("alice")
            t = gate.submit_sync(Action(agent="ci", name="deploy", args={"n": 1}))
            made = gate.allow_sync(t.id, reviewer="alice", expires="7d")
            gate.revoke_allowance_sync(made.id, reviewer="alice")
        standing = cli("allowances", "list", "--db", db)
        assert (0, "no allowances standing (--all lists revoked and expired ones)\n") == (
            standing.exit_code, standing.output)
        header, row = cli("allowances", "list", "--db", db, "--all").output.splitlines()
        left = row[header.index("LEFT"):].split()[0]
        assert ("revoked", "-") == (row.split()[1], left)


    def test_a_pending_four_eyes_allowance_says_what_makes_it_stand(self, db: str, tmp_path: Path) -> None:
        """``allowances allow`` on a ticket needing two reviewers says the allowance lets nothing through
        until one more gives it, and how; the second reviewer's allow makes it active, with no such line."""
        policy = tmp_path / "four-eyes.yaml"
        policy.write_text("version: 1\nrules:\n  - {name: deploys, match: {action: deploy}, level: approve, "
                          "reviewers: {count: 2}}\n")
        with Gate.open(policy=str(policy), store=db, sweep=False) as gate:
            gate.add_reviewer("alice")
            gate.add_reviewer("bob")
            tid = gate.submit_sync(Action(agent="ci", name="deploy", args={"n": 1})).id
        first = cli("allowances", "allow", "--db", db, "--policy", str(policy), "--as", "alice", tid)
        assert (0, True) == (first.exit_code, " pending: " in first.output)
        assert (f"lets nothing through until 1 more reviewer gives it: `signoff allowances allow {tid}`"
                in first.output)
        second = cli("allowances", "allow", "--db", db, "--policy", str(policy), "--as", "bob", tid)
        assert (0, True, False) == (second.exit_code, " active: " in second.output, "until 1 more" in second.output)


class TestInsightsNone:
    def test_too_few_decisions_says_how_many_are_needed(self, db: str) -> None:
        """Below --min-volume, "none yet" names the bar and the option that sets it."""
        history(db, approved=3)
        r = cli("insights", "--db", db)
        assert "none yet (a rule needs 20 decisions" in r.output and "--min-volume" in r.output

    def test_enough_decisions_but_nothing_to_change_does_not_blame_volume(self, db: str) -> None:
        """A rule past the bar that meets no criterion is not told it needs more decisions."""
        with Gate.open(policy=POLICY, store=db, sweep=False) as gate:
            gate.add_reviewer("alice")
            for i in range(4):
                t = gate.submit_sync(Action(agent="ci", name="deploy", args={"n": i}))
                (gate.approve_sync if i % 2 else gate.reject_sync)(t.id, reviewer="alice")
        r = cli("insights", "--db", db, "--min-volume", "4")
        assert ("none: no rule with 4 decisions or more" in r.output, "a rule needs" in r.output) == (True, False)


    def test_the_time_column_says_what_it_times(self, db: str) -> None:
        """The per rule and per action tables head their median time to decision TO DECIDE, not a bare MEDIAN."""
        history(db, approved=1)
        headers = [line.split("  ") for line in cli("insights", "--db", db).output.splitlines()
                   if line.startswith("NAME ")]
        assert [True, True] == ["TO DECIDE" in [h.strip() for h in row] for row in headers]


class TestTicketsShow:
    def test_the_agents_words_are_marked(self, db: str) -> None:
        """Reasoning, alternatives and context carry "the agent's words, unverified"; confidence says it
        is the agent's own estimate, as in the inbox."""
        [tid] = history(db, approved=1)
        out = cli("tickets", "show", "--db", db, tid).output
        for label in ("reasoning", "alternatives", "context"):
            assert f"{label} (the agent's words, unverified):" in out, label
        assert "0.80 (the agent's own estimate)" in out and "  - wait for Monday" in out


class TestHelp:
    @pytest.mark.parametrize("path", [
        ["insights"], ["allowances", "list"], ["allowances", "allow"], ["allowances", "revoke"],
        ["db", "backup"], ["db", "restore"], ["db", "archive"], ["audit", "verify"], ["policy", "diff"],
    ])
    def test_every_option_says_what_it_does(self, path: list[str]) -> None:
        """Each option of the learning and data commands has a help text, and none shows reST markup."""
        cmd: click.Command = main
        for name in path:
            assert isinstance(cmd, click.Group)
            cmd = cmd.commands[name]
        bare = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.help]
        assert [] == bare
        text = cli(*path, "--help").output
        assert "``" not in text


class TestPolicyFileMissing:
    def test_a_missing_policy_file_is_named_without_a_made_up_position(self, db: str, tmp_path: Path) -> None:
        """``insights --policy`` with a file that is not there says "FILE: no such policy file" (no ":0:0"),
        exit 2; a problem inside a file keeps its line and column."""
        missing = tmp_path / "polcy.yaml"
        r = cli("insights", "--db", db, "--policy", str(missing))
        assert (2, f"error: {missing}: no such policy file\n") == (r.exit_code, r.output)
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 1\nrules:\n  - {name: x, match: {action: a}, level: aprove}\n")
        r = cli("insights", "--db", db, "--policy", str(bad))
        assert (2, True) == (r.exit_code, r.output.startswith(f"error: {bad}:3:"))


class TestExplainTimeout:
    @pytest.mark.parametrize(("tier", "then"), [
        (None, "then escalate to junior"),
        ("junior", "then escalate to senior"),
        ("senior", "then expire (no higher tier to escalate to)"),
    ])
    def test_escalation_names_where_it_goes(self, tmp_path: Path, tier: str | None, then: str) -> None:
        """``explain`` says which tier an escalation reaches, and that at the top tier the request expires."""
        rule = {"name": "deploys", "match": {"action": "deploy"}, "level": "approve", "timeout": "10m",
                "on_timeout": "escalate", **({"reviewers": {"tier": tier}} if tier else {})}
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"version": 1, "tiers": ["junior", "senior"], "rules": [rule]}))
        r = cli("explain", "--policy", str(policy), '{"name": "deploy"}')
        assert (0, f"timeout     10m, {then}") == (r.exit_code, next(ln for ln in r.output.splitlines()
                                                                     if ln.startswith("timeout")))
