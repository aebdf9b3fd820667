"""Fixtures for the policy tests: the seed gate from DESIGN.md, and helpers to write policy files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from signoff._model import Action, Outcome
from signoff.policy import Policy
from signoff.policy._compiled import IsKnown
from signoff.policy._reference import ReferenceEvaluator

# tests/strategies.py holds the hypothesis strategies (one file, like attrs' tests/strategies.py);
# the test tree has no __init__.py files, so make it importable as ``strategies``.
_TESTS = str(Path(__file__).resolve().parents[2])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

# Verbatim from DESIGN.md, "Policy".
SEED_POLICY = """\
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

# The seed's gate, plus the external_impact rule its list of reasons asks for.
SEED_WITH_EXTERNAL = SEED_POLICY.replace(
    "modes:\n",
    "  - name: external\n"
    "    match: {external: true}\n"
    "    level: approve\n"
    "modes:\n",
)


@pytest.fixture
def seed_policy() -> Policy:
    """The policy example of DESIGN.md, loaded as a user would load it."""
    return Policy.from_yaml(SEED_POLICY, "seed.yaml")


@pytest.fixture
def seed_with_external() -> Policy:
    return Policy.from_yaml(SEED_WITH_EXTERNAL, "seed.yaml")


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to ``policy.yaml`` in a fresh directory and return its path."""

    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


class Decide:
    """Evaluate with one of the two evaluators, so each behaviour test checks both."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, policy: Policy, action: Action, *, mode: str | None = None,
                 is_known: IsKnown | None = None) -> Outcome:
        if self.kind == "reference":
            return ReferenceEvaluator(policy.spec).evaluate(action, mode=mode, is_known=is_known)
        return policy.evaluate(action, mode=mode, is_known=is_known)


@pytest.fixture(params=["compiled", "reference"])
def decide(request: pytest.FixtureRequest) -> Decide:
    """``decide(policy, action, mode=..., is_known=...)`` with the compiled, then the reference evaluator."""
    return Decide(request.param)
