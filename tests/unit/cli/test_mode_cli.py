"""``signoff mode set --as NAME``: the same top-tier check as the inbox and the API, as a real subprocess."""

from __future__ import annotations

from tests.unit.cli.test_queue_cli import env, gate, run

__all__ = ["env"]  # the fixture, shared with test_queue_cli


class TestModeSetAsReviewer:
    def test_a_junior_is_refused(self, env: dict[str, str]) -> None:
        """--as a junior exits 1 naming the tier needed, and the mode stays off."""
        with gate(env) as g:
            g.add_reviewer("alice", tier="junior")
        r = run(env, "mode", "set", "incident", "--as", "alice")
        assert (1, "none\n") == (r.returncode, run(env, "mode", "show").stdout)
        assert "only a senior reviewer may switch modes" in r.stderr

    def test_the_top_tier_switches_and_is_audited(self, env: dict[str, str]) -> None:
        """--as a senior (SIGNOFF_REVIEWER works too) switches; the audit names the reviewer."""
        with gate(env) as g:
            g.add_reviewer("bob", tier="senior")
        r = run(env, "mode", "set", "incident", extra={"SIGNOFF_REVIEWER": "bob", "SIGNOFF_ACTOR": "root"})
        entries = run(env, "audit", "list", "--kind", "mode").stdout
        assert (0, "incident\n") == (r.returncode, run(env, "mode", "show").stdout)
        assert "bob" in entries and "root" not in entries
