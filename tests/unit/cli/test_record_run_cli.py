"""``signoff tickets record-run``: a reviewer at a terminal records what happened to a run in doubt,
as a real subprocess against a real SQLite file."""

from __future__ import annotations

import time

from tests.unit.cli.test_queue_cli import env, gate, queue, run  # noqa: F401 (fixtures)


def _in_doubt(env: dict[str, str], ticket_id: str) -> None:  # noqa: F811
    """Approve ``ticket_id``, claim its run with a tiny lease and sweep past it: ``unknown``."""
    with gate(env) as g:
        g.approve_sync(ticket_id, reviewer="alice")
        decision = g.wait_sync(ticket_id)
        g.claim_execution_sync(ticket_id, action=decision.action, lease=0.01)
        time.sleep(0.05)
        g._sync("sweep", g.sweep())
        assert "unknown" == g.get_ticket_sync(ticket_id).execution


class TestRecordRun:
    def test_a_reviewer_records_that_it_ran(self, env: dict[str, str], queue: list[str]) -> None:  # noqa: F811
        """--outcome ran ends the doubt; the audit says who, through the CLI, with the note."""
        _in_doubt(env, queue[0])
        r = run(env, "tickets", "record-run", queue[0], "--as", "bob", "--outcome", "ran", "--note", "seen in logs")
        with gate(env) as g:
            entry = [e for e in g.audit_entries_sync() if e.ticket_id == queue[0]][-1]
            execution = g.get_ticket_sync(queue[0]).execution
        assert (0, f"{queue[0]}: recorded ran; ticket approved, execution executed\n") == (r.returncode, r.stdout)
        assert ("executed", "execution_resolved", {"reviewer": "bob", "outcome": "ran", "note": "seen in logs",
                                                    "via": "cli"}) == (execution, entry.kind, entry.data)

    def test_the_runs_in_doubt_are_listed(self, env: dict[str, str], queue: list[str]) -> None:  # noqa: F811
        """``tickets list --in-doubt`` lists only the runs in doubt, marked so; none once recorded."""
        _in_doubt(env, queue[0])
        listed = run(env, "tickets", "list", "--in-doubt")
        run(env, "tickets", "record-run", queue[0], "--as", "bob", "--outcome", "not_run")
        after = run(env, "tickets", "list", "--in-doubt")
        lines = listed.stdout.splitlines()
        assert (0, 2, queue[0], "in doubt") == (listed.returncode, len(lines), lines[1].split()[0],
                                               " ".join(lines[1].split()[1:3]))
        assert "no in-doubt tickets\n" == after.stdout

    def test_a_run_not_in_doubt_is_refused(self, env: dict[str, str], queue: list[str]) -> None:  # noqa: F811
        """Recording on a ticket whose run is not in doubt exits 1 and says so."""
        r = run(env, "tickets", "record-run", queue[0], "--as", "bob", "--outcome", "not_run")
        assert 1 == r.returncode and "not in doubt" in r.stderr
