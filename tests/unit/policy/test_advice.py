"""A recommendation's policy change: the rule's level edited in the file's own text, checked, as a diff."""

from __future__ import annotations

from signoff import Action
from signoff._model import Level
from signoff.policy import Policy
from signoff.policy._advice import level_change

TEXT = """\
version: 1
# deploys and refunds
rules:
  - name: deploys   # production only
    match: {action: deploy}
    level: approve  # a human first
  - {name: refunds, match: {action: refund}, level: approve}
  - name: drops
    match: {action: drop_table}
    level: deny
"""
POLICY = Policy.from_yaml(TEXT, "policy.yaml")


def test_block_style_rule_keeps_comments_and_everything_else() -> None:
    change = level_change(POLICY, "deploys", Level.NOTIFY)
    assert change is not None
    assert change.diff.splitlines()[:2] == ["--- a/policy.yaml", "+++ b/policy.yaml"]
    removed = [ln for ln in change.diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln for ln in change.diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert (removed, added) == (["-    level: approve  # a human first"], ["+    level: notify  # a human first"])
    assert change.policy.evaluate(Action(name="deploy")).level is Level.NOTIFY
    assert POLICY.evaluate(Action(name="deploy")).level is Level.APPROVE  # the original is untouched


def test_flow_style_rule() -> None:
    change = level_change(POLICY, "refunds", Level.DENY)
    assert change is not None
    assert "+  - {name: refunds, match: {action: refund}, level: deny}" in change.diff.splitlines()
    assert change.policy.evaluate(Action(name="refund")).level is Level.DENY


def test_nothing_to_change() -> None:
    """An unknown rule, or the level it already has, is no change."""
    assert level_change(POLICY, "nope", Level.DENY) is None
    assert level_change(POLICY, "drops", Level.DENY) is None


def test_a_policy_built_in_python_gets_a_snippet_and_no_diff() -> None:
    built = Policy.from_dict({"rules": [{"name": "x", "match": {"action": "x"}, "level": "approve"}]})
    change = level_change(built, "x", Level.NOTIFY)
    assert change is not None and change.diff == ""
    assert "level: notify    # was: approve" in change.snippet
    assert change.policy.evaluate(Action(name="x")).level is Level.NOTIFY
