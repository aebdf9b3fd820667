"""A recommendation as the policy change it means: the edit, as a unified diff against the policy file.

Insights say "rule 'deploys': approved 97% of 300 times: consider `notify`"; a reviewer then has
to find the rule and edit it. Here the edit is made on the policy's own text, in place (the
rule's ``level`` value, located by the loader that reports errors at line and column, so block
and flow styles, comments and the rest of the file stay as they are), checked by loading the
result, and shown as a unified diff to apply through version control. Nothing edits the policy
file: policies live in version control, and a person merges the change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from signoff._model import Level
from signoff.policy import Policy
from signoff.policy._load import load_text

__all__ = ["PolicyChange", "level_change"]


@dataclass(frozen=True)
class PolicyChange:
    """A rule's new level, as YAML and as a diff, with the changed policy to replay history against."""

    rule: str
    old: Level
    new: Level
    snippet: str
    """The rule's changed line(s), for a policy that is not a file."""
    diff: str
    """A unified diff against the policy file ('' when the policy was not loaded from text)."""
    policy: Policy
    """The policy with the change made (what ``gate.replay`` takes)."""


def level_change(policy: Policy, rule: str, level: Level) -> PolicyChange | None:
    """``rule``'s level set to ``level``; None when the rule does not exist or already has it."""
    found = next(((i, r) for i, r in enumerate(policy.spec.rules) if r.name == rule), None)
    if found is None or found[1].level is level:
        return None
    index, current = found
    snippet = f"rules:\n  - name: {rule}\n    level: {level.value}    # was: {current.level.value}\n"
    if policy.text is None:
        rules = list(policy.spec.rules)
        rules[index] = current.model_copy(update={"level": level})
        changed_spec = policy.spec.model_copy(update={"rules": rules})
        return PolicyChange(rule=rule, old=current.level, new=level, snippet=snippet, diff="",
                            policy=Policy(changed_spec, source=policy.source))
    text = policy.text
    _, located = load_text(text, policy.source)
    node = located.nodes.get(("rules", index, "level"))
    if node is None:
        return None
    start, end = node.start_mark.index, node.end_mark.index
    changed = text[:start] + level.value + text[end:]
    new_policy = Policy.from_yaml(changed, policy.source)
    new_rule = new_policy.rule(rule)
    if new_rule is None or new_rule.level is not level:  # the edit must say exactly what it means
        return None
    name = Path(policy.source).name if Path(policy.source).is_absolute() else policy.source  # as git names it
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), changed.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
    return PolicyChange(rule=rule, old=current.level, new=level, snippet=snippet, diff=diff, policy=new_policy)
