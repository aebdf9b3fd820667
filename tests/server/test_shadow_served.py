"""``signoff serve --shadow-policy``: a real server evaluates a candidate beside its policy; agents and
reviewers notice nothing; ``/api/v1/insights``, ``signoff insights`` and ``signoff policy diff`` tell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from signoff import Action, Gate
from tests.remote import RemoteTeam, Served, _spawn
from tests.server.conftest import free_port, wait_until_up

POLICY = """\
version: 1
defaults: {level: auto, timeout: 30m}
rules:
  - name: refunds
    match: {action: issue_refund}
    level: approve
  - name: digest
    match: {action: send_digest}
    level: notify
"""
CANDIDATE = """\
version: 1
defaults: {level: auto, timeout: 30m}
rules:
  - name: small-refunds
    match: {action: issue_refund}
    when: "args.amount <= 100.0"
    level: notify
  - name: big-refunds
    match: {action: issue_refund}
    when: "args.amount > 100.0"
    level: approve
  - name: digest
    match: {action: send_digest}
    level: notify
  - name: mail
    match: {action: send_email}
    level: approve
"""


def _signoff() -> str:
    here = Path(sys.executable).parent / "signoff"
    found = str(here) if here.exists() else shutil.which("signoff")
    if found is None:
        pytest.skip("the signoff console script is not installed")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run([_signoff(), *args], capture_output=True, text=True, env={**env, "NO_COLOR": "1"},
                          stdin=subprocess.DEVNULL, timeout=60)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Path, Path]]:
    policy, candidate = tmp_path / "policy.yaml", tmp_path / "candidate.yaml"
    policy.write_text(POLICY)
    candidate.write_text(CANDIDATE)
    db = f"sqlite:///{tmp_path}/served.db"
    setup = Gate.open(policy=policy, store=db, sweep=False)
    setup.add_reviewer("alice")
    port = free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "served.log"
    proc = _spawn(["serve", "--policy", str(policy), "--shadow-policy", str(candidate), "--db", db,
                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], log)
    try:
        wait_until_up(url, proc, log)  # type: ignore[arg-type]
        yield Served(url=url, db=db, setup=setup, proc=proc, log=log), policy, candidate
    finally:
        proc.stop()
        setup.close()


class TestServedShadow:
    def test_agents_see_the_policy_in_force_and_insights_see_the_candidate(
            self, served: tuple[Served, Path, Path]) -> None:
        """Decisions follow --policy only; the API, `signoff insights` and `policy diff` report the candidate."""
        srv, policy, candidate = served
        team = RemoteTeam(srv, operator="alice")
        try:
            agent = team.agent("bot")
            tickets = agent.submit_many_sync([Action(name="issue_refund", args={"amount": a}, agent="bot")
                                              for a in (10.0, 20.0, 500.0)])
            assert ["approval"] * 3 == [t.kind for t in tickets]  # the candidate's notify changes nothing
            reviewer = team.reviewer("alice")
            reviewer.approve_sync(tickets[0].id)
            reviewer.reject_sync(tickets[1].id, feedback="duplicate")
            reviewer.reject_sync(tickets[2].id, feedback="too much")
            assert "auto" == agent.guard_sync(Action(name="send_email", agent="bot")).status
            assert "auto" == agent.evaluate(Action(name="send_email", agent="bot")).level.value

            shadow = reviewer.insights_sync().shadow  # over HTTP: the server flushes before it answers
            assert shadow is not None
            assert (str(candidate), 2, 1, [tickets[1].id], 2) == (
                shadow.candidate, shadow.would_auto, shadow.would_auto_rejected, shadow.rejected_ids,
                shadow.would_ask)
        finally:
            team.close()
        srv.proc.stop()  # closing flushes too; the CLI then reads the store on its own

        out = run("insights", "--db", srv.db)
        assert 0 == out.returncode, out.stderr
        assert (f"shadow policy {candidate}\n  the candidate would have auto-approved 2 requests, of which "
                f"reviewers rejected 1 ({tickets[1].id}); it would ask a human for 2 that ran without one and "
                "deny 0") in out.stdout

        diff = run("policy", "diff", str(policy), str(candidate), "--db", srv.db)
        assert 0 == diff.returncode, diff.stderr
        lines = diff.stdout.splitlines()
        assert f"{candidate} against {policy}, over 3 stored requests" == lines[0]
        assert lines[1].startswith(f"  the candidate would have auto-approved 2 requests, of which reviewers "
                                   f"rejected 1 ({tickets[1].id}); it would ask a human for 0")
        assert "approve  notify  2" in diff.stdout
        assert ("against the levels the decided approval requests were given: this policy would have let 2 of 3 "
                "past requests through without a human, 1 of which reviewers rejected") in diff.stdout
        as_json = json.loads(run("policy", "diff", str(policy), str(candidate), "--db", srv.db, "--json").stdout)
        assert (2, 1, [tickets[1].id], 2) == (as_json["would_auto"], as_json["would_auto_rejected"],
                                              as_json["rejected_ids"], as_json["replay"]["would_auto"])


class TestBadCandidate:
    def test_serve_refuses_a_broken_candidate_with_its_location(self, tmp_path: Path) -> None:
        """The candidate is checked at start like the policy: exit 2, file:line:col, nothing served."""
        policy, candidate = tmp_path / "policy.yaml", tmp_path / "candidate.yaml"
        policy.write_text(POLICY)
        candidate.write_text(CANDIDATE.replace("level: approve\n  - name: digest", "level: maybe\n  - name: digest"))
        out = run("serve", "--policy", str(policy), "--shadow-policy", str(candidate),
                  "--db", f"sqlite:///{tmp_path}/x.db", "--port", str(free_port()))
        assert 2 == out.returncode
        assert f"{candidate}:11:12: rules[1].level: bad level" in out.stderr, out.stderr

    def test_diff_reports_a_broken_policy_with_its_location(self, tmp_path: Path) -> None:
        """`policy diff` checks both files first and names the bad one's line."""
        policy, candidate = tmp_path / "policy.yaml", tmp_path / "candidate.yaml"
        policy.write_text(POLICY)
        candidate.write_text(CANDIDATE.replace('when: "args.amount <= 100.0"', 'when: "args.amount <="'))
        out = run("policy", "diff", str(policy), str(candidate), "--db", f"sqlite:///{tmp_path}/x.db")
        assert 1 == out.returncode
        assert f"{candidate}:6:" in out.stderr and "invalid CEL condition" in out.stderr, out.stderr
