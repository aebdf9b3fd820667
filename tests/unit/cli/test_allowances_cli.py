"""``signoff allowances list|allow|revoke`` as real subprocesses on a real SQLite file."""

from __future__ import annotations

import json
import re

from tests.unit.cli.test_queue_cli import env, gate, run

from signoff import Action, Level

__all__ = ["env"]  # the fixture, shared with test_queue_cli


def _setup(env: dict[str, str], agent: str = "deploy-bot") -> str:
    with gate(env) as g:
        g.add_reviewer("alice", tier="junior")
        g.add_reviewer("bob", tier="senior")
        return g.submit_sync(Action(name="deploy_production", args={"service": "billing", "env": "staging"},
                                    agent=agent)).id


class TestAllowancesCli:
    def test_allow_list_and_revoke(self, env: dict[str, str]) -> None:
        """allow approves and creates; list shows it (and --json parses); revoke ends it, and the gate asks
        again; each step is in the audit log."""
        tid = _setup(env)
        r = run(env, "allowances", "allow", tid, "--as", "alice", "--condition", 'args.env == "staging"',
                "--expires", "7d", "--json")
        assert 0 == r.returncode, r.stderr
        made = json.loads(r.stdout)
        assert ("active", "deploy-bot", ["alice"]) == (made["status"], made["agent"], made["reviewers"])
        listed = run(env, "allowances", "list")
        assert made["id"] in listed.stdout and 'args.env == "staging"' in listed.stdout
        assert [made["id"]] == [json.loads(line)["id"] for line in
                                run(env, "allowances", "list", "--json").stdout.splitlines()]
        with gate(env) as g:
            staging = Action(name="deploy_production", args={"service": "x", "env": "staging"}, agent="deploy-bot")
            assert Level.NOTIFY == g.evaluate(staging).level
        r = run(env, "allowances", "revoke", made["id"], "--as", "bob")
        assert (0, True) == (r.returncode, "revoked" in r.stdout)
        assert "no allowances" in run(env, "allowances", "list").stdout
        assert "revoked" in run(env, "allowances", "list", "--all").stdout
        with gate(env) as g:
            assert Level.APPROVE == g.evaluate(staging).level
        kinds = run(env, "audit", "list").stdout
        assert "allowance_created" in kinds and "allowance_revoked" in kinds

    def test_list_shows_how_much_each_is_used(self, env: dict[str, str]) -> None:
        """USES and LAST USED count the requests each allowance let through (--json: uses, last_used_at);
        one never used reads 0 and never."""
        tid = _setup(env)
        used = json.loads(run(env, "allowances", "allow", tid, "--as", "alice", "--json").stdout)["id"]
        other = _setup(env, agent="other-bot")
        idle = json.loads(run(env, "allowances", "allow", other, "--as", "alice", "--json").stdout)["id"]
        with gate(env) as g:
            for n in range(3):
                assert "notified" == g.guard_sync(Action(name="deploy_production", args={"n": n},
                                                         agent="deploy-bot")).status
        listed = run(env, "allowances", "list").stdout.splitlines()
        header, *lines = (re.split(r"\s{2,}", line.strip()) for line in listed)
        assert ["USES", "LAST USED"] == header[-2:]
        rows = {cells[0]: cells[-2:] for cells in lines}
        assert (["3", True], ["0", "never"]) == ([rows[used][0], rows[used][1].endswith(" ago")], rows[idle])
        by_id = {a["id"]: a for a in map(json.loads, run(env, "allowances", "list", "--json").stdout.splitlines())}
        assert (3, 0, None) == (by_id[used]["uses"], by_id[idle]["uses"], by_id[idle]["last_used_at"])

    def test_refusals_are_one_line_errors(self, env: dict[str, str]) -> None:
        """A bad condition exits 2 naming the column; a junior cannot allow a senior's ticket; an unknown id exits 2."""
        with gate(env) as g:
            g.add_reviewer("alice", tier="junior")
            pay = g.submit_sync(Action(name="send_payment", args={"amount": 5.0}, agent="billing-bot")).id
        tid = _setup(env)
        bad = run(env, "allowances", "allow", tid, "--as", "alice", "--condition", "args.env ==")
        assert (2, True) == (bad.returncode, "column" in bad.stderr)
        tier = run(env, "allowances", "allow", pay, "--as", "alice")
        assert (1, True) == (tier.returncode, "senior" in tier.stderr)
        missing = run(env, "allowances", "revoke", "al_nope")
        assert (2, True) == (missing.returncode, "al_nope" in missing.stderr)  # NotFound: as `tickets show`

    def test_agent_text_is_revealed(self, env: dict[str, str]) -> None:
        """An agent name hiding characters and escapes never reaches the terminal raw."""
        tid = _setup(env, agent="sneaky\u200b\x1b[2Jbot")
        assert 0 == run(env, "allowances", "allow", tid, "--as", "alice").returncode
        out = run(env, "allowances", "list").stdout
        assert "\x1b" not in out and "\u200b" not in out and "<U+200B>" in out
