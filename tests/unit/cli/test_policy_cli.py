"""``signoff policy check`` and ``signoff explain``, run as real subprocesses like a user or CI runs them."""


from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SEED = """\
version: 1
defaults: {level: auto, confidence_threshold: 0.7, timeout: 30m, on_timeout: escalate}
tiers: [junior, senior]
novelty: {level: approve, key: [action]}
rules:
  - name: high-risk
    match: {action: [delete_data, send_payment, deploy_production, send_external_email]}
    level: approve
    reason: high_risk_action
  - name: schema-changes
    match: {action: "deploy_*"}
    when: "args.has_schema_change"
    level: approve
    reviewers: {tier: senior, count: 2}
    timeout: 2h
    on_timeout: abort
  - name: refunds-under-policy-4-2
    match: {action: issue_refund}
    when: "args.amount <= 200.0 && args.sla_violated"
    level: notify
  - name: iam
    match: {action: "iam.*"}
    level: suggest
modes:
  incident: {confidence_threshold: 0.5}
"""

BAD = """\
tiers: [junior, senior]
rules:
  - name: a
    match: {action: x}
    level: approve
  - name: b
    when: "args.amount > > 3"
    level: approve
    reviewers: {tier: senoir}
  - name: a
    level: deny
"""

TYPO = """\
rules:
  - name: a
    match: {action: x}
    levle: approve
"""


def _signoff() -> str:
    here = Path(sys.executable).parent / "signoff"
    found = str(here) if here.exists() else shutil.which("signoff")
    if found is None:
        pytest.skip("the signoff console script is not installed")
    return found


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("SIGNOFF_POLICY", None)
    return subprocess.run([_signoff(), *args], capture_output=True, text=True, input=stdin, cwd=cwd, env=env,
                          timeout=60, check=False)


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(SEED, encoding="utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


class TestPolicyCheck:
    def test_valid_policy(self, seed: Path) -> None:
        """A valid policy exits 0 with one ok line summarising it."""
        result = run("policy", "check", str(seed))

        assert (0, f"{seed}: ok: 4 rules, tiers: junior, senior, modes: incident, novelty: approve\n", "") == (
            result.returncode, result.stdout, result.stderr
        )

    def test_every_problem_located(self, bad: Path) -> None:
        """Every problem is printed as file:line:col: message and the command exits 1."""
        result = run("policy", "check", str(bad))
        expected = [
            f"{bad}:7:26: rules[1] (b) when: invalid CEL condition: Syntax error: unexpected '>'",
            f"{bad}:9:23: unknown tier 'senoir'; did you mean 'senior'? (tiers: junior, senior)",
            f"{bad}:10:11: duplicate rule name 'a' (first used by rules[0])",
        ]

        assert 1 == result.returncode
        assert expected == result.stdout.splitlines(), "in file order"
        assert "3 problems in 1 of 1 file\n" == result.stderr

    def test_unknown_key_suggests(self, tmp_path: Path) -> None:
        """A misspelt key is reported with the closest valid key, and the missing key it stands for."""
        (tmp_path / "typo.yaml").write_text(TYPO, encoding="utf-8")
        result = run("policy", "check", "typo.yaml", cwd=tmp_path)

        assert (1, [
            "typo.yaml:2:5: rules[0] needs the key 'level'",
            "typo.yaml:4:5: unknown key 'levle' in rules[0]; did you mean 'level'?",
        ]) == (result.returncode, result.stdout.splitlines())

    def test_several_files(self, seed: Path, bad: Path, tmp_path: Path) -> None:
        """Several files are checked in one run; one bad file makes the exit code 1."""
        missing = tmp_path / "missing.yaml"
        result = run("policy", "check", str(seed), str(missing), str(bad))
        lines = result.stdout.splitlines()

        assert 1 == result.returncode
        assert lines[0].startswith(f"{seed}: ok: ")
        assert f"{missing}: no such policy file" == lines[1]
        assert "4 problems in 2 of 3 files\n" == result.stderr

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("", "policy.yaml:1:1: the policy file is empty"),
            ("rules:\n  - name: a\n    level: [approve\n",
             "policy.yaml:4:1: YAML syntax error: while parsing a flow sequence: expected ',' or ']', "
             "but got '<stream end>'"),
            ("defaults:\n  level: auto\n  level: deny\n", "policy.yaml:3:3: duplicate key 'level'"),
            ("- just\n- a list\n", "policy.yaml:1:1: a policy must be a mapping (version, defaults, rules...)"),
            ("rules:\n  - name: a\n    level: sometimes\n",
             "policy.yaml:3:12: rules[0].level: bad level 'sometimes': "
             "use one of auto, notify, approve, suggest, deny"),
        ],
    )
    def test_document_errors_without_traceback(self, tmp_path: Path, text: str, expected: str) -> None:
        """Broken YAML, empty files and other documents give one located line, never a traceback."""
        (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
        result = run("policy", "check", "policy.yaml", cwd=tmp_path)

        assert (1, [expected]) == (result.returncode, result.stdout.splitlines())
        assert "Traceback" not in result.stderr

    def test_needs_a_file(self) -> None:
        """Without a file argument the command is a usage error (exit 2)."""
        assert 2 == run("policy", "check").returncode


class TestExplain:
    def test_approval_with_reviewers(self, seed: Path) -> None:
        """A production schema change shows the level, both reasons, the matches, reviewers and timeout."""
        action = {"name": "deploy_production", "args": {"has_schema_change": True}, "confidence": 0.9}
        result = run("explain", "--policy", str(seed), json.dumps(action))
        lines = result.stdout.splitlines()

        assert (0, "") == (result.returncode, result.stderr)
        assert "level       approve  (a human must approve it first)" == lines[0]
        assert lines[2].startswith("reasons     high_risk_action  high-risk       High-risk action: ")
        assert lines[3].startswith("            policy_boundary   schema-changes  Policy boundary: ")
        assert [
            "matched     high-risk, schema-changes",
            "near misses none",
            "reviewers   2 distinct approvers of tier senior or above",
            "timeout     2h, then abort (the agent is told why)",
            "novelty     not checked (needs a store): a first-time action would need approve; "
            "fingerprint deploy_production",
        ] == lines[4:]

    def test_near_miss(self, seed: Path) -> None:
        """A refund above 200 shows the refund rule as a near miss with its condition."""
        action = {"name": "issue_refund", "args": {"amount": 250, "sla_violated": True}, "confidence": 0.9}
        result = run("explain", "--policy", str(seed), json.dumps(action))

        assert 0 == result.returncode
        assert ("near misses refunds-under-policy-4-2: name matched, condition false: "
                "args.amount <= 200.0 && args.sla_violated") in result.stdout.splitlines()
        assert result.stdout.startswith("level       auto  ")

    def test_refund_notifies(self, seed: Path) -> None:
        """A refund of 150 with the SLA violated is notify and names the refund rule."""
        action = {"name": "issue_refund", "args": {"amount": 150, "sla_violated": True}, "confidence": 0.9}
        result = run("explain", "--policy", str(seed), json.dumps(action))

        assert result.stdout.startswith("level       notify  ")
        assert "matched     refunds-under-policy-4-2" in result.stdout.splitlines()
        assert "reviewers" not in result.stdout

    def test_mode_from_stdin(self, seed: Path) -> None:
        """``-`` reads the action from stdin, and ``--mode incident`` lowers the threshold to 0.5."""
        action = json.dumps({"name": "read_logs", "confidence": 0.6})
        normal = run("explain", "--policy", str(seed), "-", stdin=action)
        incident = run("explain", "--policy", str(seed), "--mode", "incident", "-", stdin=action)

        assert normal.stdout.startswith("level       approve")
        assert "reasons     low_confidence  -  The agent's confidence 0.6 is below the threshold 0.7" in normal.stdout
        assert incident.stdout.startswith("level       auto")
        assert "mode        incident" in incident.stdout.splitlines()

    def test_action_from_file(self, seed: Path, tmp_path: Path) -> None:
        """``@file.json`` reads the action from a file."""
        (tmp_path / "action.json").write_text('{"name": "iam.grant_admin"}', encoding="utf-8")
        result = run("explain", "--policy", str(seed), "@action.json", cwd=tmp_path)

        assert (0, "level       suggest  (the agent may only suggest it; a human executes it)") == (
            result.returncode, result.stdout.splitlines()[0]
        )

    def test_json_output(self, seed: Path) -> None:
        """``--json`` prints the outcome as JSON for scripts."""
        action = {"name": "send_payment", "confidence": 0.95}
        result = run("explain", "--policy", str(seed), "--json", json.dumps(action))
        data = json.loads(result.stdout)

        assert ("approve", ["high-risk"], ["high_risk_action"], 1800.0) == (
            data["level"], data["matched_rules"], [r["code"] for r in data["reasons"]], data["timeout_seconds"]
        )

    def test_json_output_says_whether_a_human_and_reasoning_are_needed(self, seed: Path) -> None:
        """``--json`` carries every field of the outcome (the codec's), ``needs_human`` and
        ``require_reasoning`` included, as ``POST /evaluate`` does."""
        approve = json.loads(run("explain", "--policy", str(seed), "--json",
                                 json.dumps({"name": "send_payment", "confidence": 0.95})).stdout)
        auto = json.loads(run("explain", "--policy", str(seed), "--json", json.dumps({"name": "read_file"})).stdout)

        assert ((True, False), (False, False)) == (
            (approve["needs_human"], approve["require_reasoning"]), (auto["needs_human"], auto["require_reasoning"]))

    @pytest.mark.parametrize(
        ("arg", "message"),
        [
            ('{"name": "x",}', "error: ACTION_JSON is not valid JSON: Expecting property name enclosed in double "
                               "quotes (line 1, column 14)"),
            ('["x"]', 'error: ACTION_JSON must be a JSON object with at least a "name", got list'),
            ('{"args": {}}', "error: bad action: an action needs a 'name'"),
            ('{"name": "x", "nme": 1}', "error: bad action: unknown action field(s) ['nme']; valid fields are "
                                        "['agent', 'alternatives', 'args', 'confidence', 'context', 'external', "
                                        "'name', 'reasoning', 'tags']"),
            ('{"name": "x", "confidence": 1.5}',
             "error: bad action: Action.confidence must be between 0 and 1, got 1.5"),
            ('{"name": "x", "tags": "pii"}', "error: bad action: 'tags' must be a list of strings, got \"pii\""),
            ('{"name": "x", "external": "yes"}', "error: bad action: 'external' must be true or false, got \"yes\""),
            ("@missing.json", "error: cannot read missing.json: No such file or directory"),
        ],
    )
    def test_bad_action(self, seed: Path, tmp_path: Path, arg: str, message: str) -> None:
        """Bad JSON or bad action fields give one clear line on stderr and exit 2."""
        result = run("explain", "--policy", str(seed), arg, cwd=tmp_path)

        assert (2, "", message + "\n") == (result.returncode, result.stdout, result.stderr)

    def test_unknown_mode(self, seed: Path) -> None:
        """An unknown mode names the modes the policy defines and exits 2."""
        result = run("explain", "--policy", str(seed), "--mode", "panic", '{"name": "x"}')

        assert (2, "error: unknown mode 'panic'; the policy defines: incident\n") == (
            result.returncode, result.stderr
        )

    def test_bad_policy(self, bad: Path) -> None:
        """A policy with problems is not evaluated: its problems are printed and the exit code is 1."""
        result = run("explain", "--policy", str(bad), '{"name": "x"}')

        assert (1, "", 3) == (result.returncode, result.stdout, len(result.stderr.splitlines()))
        assert "Traceback" not in result.stderr
