"""``signoff tickets``, ``reviewer``, ``token``, ``mode``, ``audit`` and ``insights``, run as real
subprocesses against a real SQLite file, as a reviewer at a terminal or a cron job runs them."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from signoff import Action, Gate

POLICY = """\
version: 1
defaults: {level: auto, timeout: 30m, on_timeout: escalate}
tiers: [junior, senior]
rules:
  - name: deploys
    match: {action: deploy_production}
    level: approve
  - name: payments
    match: {action: send_payment}
    level: approve
    reviewers: {tier: senior}
  - name: no-huge-payments
    match: {action: send_payment}
    when: "args.amount > 100000"
    level: deny
modes:
  incident: {confidence_threshold: 0.9}
"""


def _signoff() -> str:
    here = Path(sys.executable).parent / "signoff"
    found = str(here) if here.exists() else shutil.which("signoff")
    if found is None:
        pytest.skip("the signoff console script is not installed")
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """SIGNOFF_DB and SIGNOFF_POLICY pointing at a fresh database and the policy above."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    e = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    e.update(NO_COLOR="1", SIGNOFF_DB=f"sqlite:///{tmp_path}/q.db", SIGNOFF_POLICY=str(policy))
    return e


def run(env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_signoff(), *args], capture_output=True, text=True, env={**env, **(extra or {})},
                          stdin=subprocess.DEVNULL, timeout=60)


def gate(env: dict[str, str]) -> Gate:
    return Gate.open(policy=env["SIGNOFF_POLICY"], store=env["SIGNOFF_DB"], sweep=False)


@pytest.fixture
def queue(env: dict[str, str]) -> list[str]:
    """Reviewers alice (junior) and bob (senior), and three pending tickets: a deploy, a payment,
    and a deploy whose agent hid characters and escape sequences in its words."""
    with gate(env) as g:
        g.add_reviewer("alice", tier="junior")
        g.add_reviewer("bob", tier="senior")
        ts = [
            g.submit_sync(Action(name="deploy_production", args={"service": "billing", "version": "2.4.1"},
                                 agent="deploy-bot", reasoning="release train 42")),
            g.submit_sync(Action(name="send_payment", args={"to": "ACME", "amount": 4200.0}, agent="billing-bot",
                                 reasoning="invoice due")),
            g.submit_sync(Action(name="deploy_production", args={"service": "auth\u202etxt.exe", "version": "1"},
                                 agent="sneaky\u200bbot",
                                 reasoning="safe\x1b[2J\x1b]0;owned\x07 change\u2066 \ufeffplease")),
        ]
    return [t.id for t in ts]


class TestTicketsList:
    def test_empty_queue(self, env: dict[str, str]) -> None:
        """An empty queue says so and exits 0."""
        Gate.open(policy={"version": 1}, store=env["SIGNOFF_DB"], sweep=False).close()  # the store, empty
        r = run(env, "tickets", "list")
        assert (0, "no pending tickets\n") == (r.returncode, r.stdout)

    @pytest.mark.parametrize("command", [("tickets", "list"), ("tickets", "show", "tk_0123456789abcdef"),
                                         ("reviewer", "list"), ("notifications", "list")])
    def test_a_store_that_is_not_there_is_named_not_created(self, env: dict[str, str], tmp_path: Path,
                                                           command: tuple[str, ...]) -> None:
        """A mistyped --db is refused by name (exit 2) instead of answering from a new, empty store."""
        r = run(env, *command, "--db", f"sqlite:///{tmp_path}/typo.db")
        assert (2, True) == (r.returncode, f"{tmp_path}/typo.db: no such database file" in r.stderr)
        assert not (tmp_path / "typo.db").exists()

    def test_aligned_table(self, env: dict[str, str], queue: list[str]) -> None:
        """Pending tickets are listed oldest first, one per line, in aligned columns."""
        r = run(env, "tickets", "list")
        lines = r.stdout.splitlines()
        header = lines[0]
        assert ["ID", "STATUS", "ACTION", "AGENT", "TIER", "OK", "AGE", "DUE", "WHY"] == header.split()
        assert queue == [line.split()[0] for line in lines[1:]]
        col = header.index("ACTION")
        assert ["deploy_production", "send_payment", "deploy_production"] == [
            line[col:].split()[0] for line in lines[1:]]

    def test_hidden_characters_are_shown(self, env: dict[str, str], queue: list[str]) -> None:
        """The agent's zero-width character is shown as <U+200B>, and the row is marked."""
        r = run(env, "tickets", "list")
        row = next(line for line in r.stdout.splitlines() if line.startswith(queue[2]))
        assert ("sneaky<U+200B>bot" in row, "[hidden chars]" in row) == (True, True)

    def test_filters_and_json(self, env: dict[str, str], queue: list[str]) -> None:
        """--action filters; --json prints one JSON ticket per line."""
        import json

        r = run(env, "tickets", "list", "--action", "send_payment", "--json")
        assert [queue[1]] == [json.loads(line)["id"] for line in r.stdout.splitlines()]

    def test_db_flag_overrides_env(self, env: dict[str, str], queue: list[str], tmp_path: Path) -> None:
        """--db wins over SIGNOFF_DB."""
        Gate.open(policy={"version": 1}, store=f"sqlite:///{tmp_path}/other.db", sweep=False).close()
        r = run(env, "tickets", "list", "--db", f"sqlite:///{tmp_path}/other.db")
        assert "no pending tickets\n" == r.stdout


class TestTicketsShow:
    def test_escape_sequences_are_neutralised(self, env: dict[str, str], queue: list[str]) -> None:
        """No escape character reaches the terminal; bidi and BOM characters are visible; a warning says so."""
        r = run(env, "tickets", "show", queue[2])
        assert 0 == r.returncode
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
        assert "safe<U+001B>[2J<U+001B>]0;owned<U+0007> change<U+2066> <U+FEFF>please" in r.stdout
        assert "\"service\" = auth<U+202E>txt.exe" in r.stdout
        assert "warning: the agent's text contains hidden or control characters" in r.stdout

    def test_details_and_history(self, env: dict[str, str], queue: list[str]) -> None:
        """show gives the action, arguments, reasoning, reviewers needed and the audit history."""
        run(env, "tickets", "approve", queue[0], "--as", "alice")
        r = run(env, "tickets", "show", queue[0])
        for expected in ("deploy_production", "\"version\" = 2.4.1", "release train 42", "decided:",
                         "by alice", "submitted  deploy-bot", "approved   alice"):
            assert expected in r.stdout, expected

    def test_unknown_ticket(self, env: dict[str, str], queue: list[str]) -> None:
        """An unknown id exits 2 with one line naming it."""
        r = run(env, "tickets", "show", "tk_nope")
        assert (2, "error: no ticket 'tk_nope'\n") == (r.returncode, r.stderr)


class TestTicketsDecide:
    def test_approve_with_edited_args_reaches_the_agent(self, env: dict[str, str], queue: list[str]) -> None:
        """An approval with --args gives the agent the edited arguments."""
        r = run(env, "tickets", "approve", queue[0], "--as", "alice", "--args",
                '{"service": "billing", "version": "2.4.2"}')
        with gate(env) as g:
            decision, _ = g.resume_sync(queue[0])
        assert (0, "approved", {"service": "billing", "version": "2.4.2"}) == (
            r.returncode, decision.status, decision.args)
        assert f"approved {queue[0]} (deploy_production by deploy-bot) with edited arguments\n" == r.stdout

    def test_reject_feedback_reaches_the_agent(self, env: dict[str, str], queue: list[str]) -> None:
        """--feedback is the agent's to read."""
        run(env, "tickets", "reject", queue[0], "--as", "alice", "--feedback", "wait for the freeze to end")
        with gate(env) as g:
            decision = g.wait_sync(queue[0])
            entry = [e for e in g.audit_entries_sync() if e.ticket_id == queue[0]][-1]
        assert ("rejected", "wait for the freeze to end") == (decision.status, decision.feedback)
        assert ("rejected", "cli") == (entry.kind, entry.data.get("via"))

    def test_second_decision_is_refused(self, env: dict[str, str], queue: list[str]) -> None:
        """Deciding a decided ticket exits 1 and says who decided it."""
        run(env, "tickets", "approve", queue[0], "--as", "alice")
        r = run(env, "tickets", "reject", queue[0], "--as", "bob")
        assert (1, f"refused {queue[0]}: ticket {queue[0]} is already approved (by alice)\n") == (
            r.returncode, r.stderr)

    def test_junior_cannot_approve_senior_ticket(self, env: dict[str, str], queue: list[str]) -> None:
        """A junior approving a senior ticket exits 1 naming the tier."""
        r = run(env, "tickets", "approve", queue[1], "--as", "alice")
        assert 1 == r.returncode and "needs a senior reviewer" in r.stderr

    def test_an_edit_the_policy_denies_is_refused(self, env: dict[str, str], queue: list[str]) -> None:
        """An edit into a denied range exits 1; the ticket stays pending."""
        r = run(env, "tickets", "approve", queue[1], "--as", "bob", "--args", '{"to": "ACME", "amount": 1e6}')
        with gate(env) as g:
            status = g.get_ticket_sync(queue[1]).status
        assert (1, "pending") == (r.returncode, status)
        assert "not allowed" in r.stderr

    def test_bad_args_json(self, env: dict[str, str], queue: list[str]) -> None:
        """--args that is not a JSON object exits 2."""
        assert 2 == run(env, "tickets", "approve", queue[0], "--as", "alice", "--args", "[1, 2]").returncode
        assert 2 == run(env, "tickets", "approve", queue[0], "--as", "alice", "--args", "{oops").returncode

    def test_policy_is_required_to_decide(self, env: dict[str, str], queue: list[str]) -> None:
        """Without --policy or SIGNOFF_POLICY, approve exits 2 naming the option."""
        env = {k: v for k, v in env.items() if k != "SIGNOFF_POLICY"}
        r = run(env, "tickets", "approve", queue[0], "--as", "alice")
        assert 2 == r.returncode and "--policy" in r.stderr

    def test_approve_a_whole_group(self, env: dict[str, str], queue: list[str]) -> None:
        """--group --yes lists the group's pending tickets, then approves exactly those (both deploys share one)."""
        with gate(env) as g:
            key = g.get_ticket_sync(queue[0]).group_key
        r = run(env, "tickets", "approve", "--group", key, "--as", "bob", "--yes")
        with gate(env) as g:
            statuses = [g.get_ticket_sync(t).status for t in queue]
        assert (0, ["approved", "pending", "approved"]) == (r.returncode, statuses)
        assert queue[0] in r.stdout and queue[2] in r.stdout and "2 pending tickets" in r.stdout

    def test_a_group_is_not_decided_unseen(self, env: dict[str, str], queue: list[str]) -> None:
        """Without a terminal and without --yes, --group lists the tickets and decides nothing (exit 2)."""
        with gate(env) as g:
            key = g.get_ticket_sync(queue[0]).group_key
        r = run(env, "tickets", "approve", "--group", key, "--as", "bob")
        with gate(env) as g:
            statuses = [g.get_ticket_sync(t).status for t in queue]
        assert (2, ["pending", "pending", "pending"]) == (r.returncode, statuses)
        assert "--yes" in r.stderr and queue[0] in r.stdout

    def test_a_group_listing_shows_how_members_differ(self, env: dict[str, str], queue: list[str]) -> None:
        """The listing names each ticket and the arguments that vary, hidden characters revealed."""
        with gate(env) as g:
            key = g.get_ticket_sync(queue[0]).group_key
        r = run(env, "tickets", "reject", "--group", key, "--as", "bob", "--feedback", "no")
        assert 2 == r.returncode
        assert 'differs: "service"' in r.stdout and "<U+202E>" in r.stdout and "\x1b" not in repr(r.stdout)


class TestReviewerAdd:
    def test_password_from_env_is_stored_hashed(self, env: dict[str, str]) -> None:
        """SIGNOFF_PASSWORD sets the password, stored as an argon2 hash only."""
        from signoff._passwords import verify_password

        r = run(env, "reviewer", "add", "carol", "--tier", "senior", extra={"SIGNOFF_PASSWORD": "s3cret-enough"})
        row = sqlite3.connect(env["SIGNOFF_DB"].removeprefix("sqlite:///")).execute(
            "SELECT tier, password_hash FROM reviewers WHERE name = 'carol'").fetchone()
        assert (0, "added reviewer carol (tier senior)\n", "senior") == (r.returncode, r.stdout, row[0])
        assert row[1].startswith("$argon2") and verify_password(row[1], "s3cret-enough")

    def test_no_terminal_no_password_is_a_clear_error(self, env: dict[str, str]) -> None:
        """Without a terminal and without SIGNOFF_PASSWORD, it stops at once instead of prompting."""
        r = run(env, "reviewer", "add", "carol", "--tier", "senior")
        assert (2, "error: no password for 'carol': set SIGNOFF_PASSWORD, or run in a terminal to be prompted\n") == (
            r.returncode, r.stderr)

    def test_unknown_tier_is_refused(self, env: dict[str, str]) -> None:
        """With the policy known, a tier it does not define exits 2 naming the defined ones."""
        r = run(env, "reviewer", "add", "carol", "--tier", "boss", extra={"SIGNOFF_PASSWORD": "s3cret-enough"})
        assert 2 == r.returncode and "junior, senior" in r.stderr

    def test_list(self, env: dict[str, str]) -> None:
        """reviewer list shows names and tiers."""
        run(env, "reviewer", "add", "carol", "--tier", "senior", "--no-password")
        r = run(env, "reviewer", "list")
        assert ["NAME", "TIER", "LOGIN", "EMAIL", "SLACK", "STATE",
                "carol", "senior", "-", "-", "-", "active"] == r.stdout.split()

    def test_addresses_for_notification_channels(self, env: dict[str, str]) -> None:
        """--email and --slack-id are stored, listed, and checked for shape before anything is written."""
        run(env, "reviewer", "add", "dana", "--tier", "senior", "--no-password", "--email", "dana@example.com",
            "--slack-id", "U012AB3CD")
        assert ["dana", "senior", "-", "dana@example.com", "U012AB3CD", "active"] == run(
            env, "reviewer", "list").stdout.split()[6:]
        bad = run(env, "reviewer", "add", "eve", "--no-password", "--slack-id", "@eve")
        assert 2 == bad.returncode and "a Slack user id looks like U012AB3CD" in bad.stderr
        taken = run(env, "reviewer", "add", "eve", "--no-password", "--email", "dana@example.com")
        assert taken.returncode != 0 and "already belongs to reviewer 'dana'" in taken.stderr


class TestToken:
    def test_token_is_printed_once_and_stored_hashed(self, env: dict[str, str]) -> None:
        """The token is printed; the database holds its SHA-256, never the token."""
        import asyncio

        from signoff._tokens import hash_token
        from signoff.store import open_store

        r = run(env, "token", "create", "--agent", "deploy-bot")
        tok = r.stdout.strip()

        async def find() -> object:
            store = open_store(env["SIGNOFF_DB"])
            await store.open()
            try:
                return await store.find_token(hash_token(tok))
            finally:
                await store.close()

        record = asyncio.run(find())
        raw = b"".join(p.read_bytes() for p in Path(env["SIGNOFF_DB"].removeprefix("sqlite:///")).parent.glob("q.db*"))
        assert (0, "agent", "deploy-bot") == (r.returncode, record.kind, record.name)  # type: ignore[attr-defined]
        assert tok.startswith("so_agent_") and tok.encode() not in raw

    def test_reviewer_must_exist(self, env: dict[str, str]) -> None:
        """A reviewer token for someone not in the store exits 2."""
        r = run(env, "token", "create", "--reviewer", "nobody")
        assert (2, "") == (r.returncode, r.stdout)

    def test_exactly_one_of_agent_or_reviewer(self, env: dict[str, str]) -> None:
        """Neither or both of --agent/--reviewer exits 2."""
        assert 2 == run(env, "token", "create").returncode
        assert 2 == run(env, "token", "create", "--agent", "a", "--reviewer", "b").returncode


class TestMode:
    def test_set_and_show(self, env: dict[str, str]) -> None:
        """mode set switches the mode (audited with the actor); mode show tells it; off switches it off."""
        run(env, "mode", "set", "incident", extra={"SIGNOFF_ACTOR": "oncall"})
        shown = run(env, "mode", "show").stdout
        entries = run(env, "audit", "list", "--kind", "mode").stdout
        run(env, "mode", "set", "off")
        assert ("incident\n", "none\n") == (shown, run(env, "mode", "show").stdout)
        assert "oncall" in entries and '"mode": "incident"' in entries

    def test_unknown_mode(self, env: dict[str, str]) -> None:
        """A mode the policy does not define exits 2 naming the defined ones."""
        r = run(env, "mode", "set", "panic")
        assert 2 == r.returncode and "defines incident" in r.stderr


class TestAudit:
    def test_verify_ok(self, env: dict[str, str], queue: list[str]) -> None:
        """An intact log verifies: exit 0 with the entry count (2 reviewers + 3 submissions)."""
        r = run(env, "audit", "verify")
        assert (0, "ok: 5 entries, hash chain verified\n") == (r.returncode, r.stdout)

    def test_verify_names_the_first_bad_entry(self, env: dict[str, str], queue: list[str]) -> None:
        """An edited entry makes verify exit 1 naming it."""
        conn = sqlite3.connect(env["SIGNOFF_DB"].removeprefix("sqlite:///"))
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 4")
        conn.commit()
        r = run(env, "audit", "verify")
        assert (1, "error: audit log broken at entry 4: its contents were changed after it was written\n") == (
            r.returncode, r.stderr)

    def test_list_for_a_ticket(self, env: dict[str, str], queue: list[str]) -> None:
        """audit list --ticket shows that ticket's entries in order."""
        run(env, "tickets", "approve", queue[0], "--as", "alice")
        lines = run(env, "audit", "list", "--ticket", queue[0]).stdout.splitlines()
        assert ["submitted", "approved"] == [line.split()[2] for line in lines[1:]]


class TestInsights:
    def test_table_per_rule_and_action(self, env: dict[str, str], queue: list[str]) -> None:
        """insights shows volume and approval rate per rule and per action."""
        run(env, "tickets", "approve", queue[0], "--as", "alice")
        run(env, "tickets", "reject", queue[2], "--as", "alice")
        r = run(env, "insights")
        rows = {line.split()[0]: line.split()[1:5] for line in r.stdout.splitlines() if line.startswith("deploy")}
        assert {"deploys": ["2", "1", "1", "50%"], "deploy_production": ["2", "1", "1", "50%"]} == rows
