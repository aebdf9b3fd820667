"""Hypothesis strategies shared by the property tests: random policies and actions.

The vocabularies are small on purpose, so that random names, globs, tags and agents
collide often and the interesting paths (several matching rules, near misses, modes,
conditions that fail) are hit in every run.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from signoff._model import Action

ACTION_NAMES = [
    "deploy_production", "deploy_staging", "delete_data", "send_payment", "issue_refund",
    "iam.grant", "iam.revoke", "read_logs", "restart_pod",
]
NAME_PATTERNS = [
    *ACTION_NAMES, "deploy_*", "iam.*", "*_data", "*", "send_?ayment", "[di]*", "*.grant", "re*", "nothing_*",
]
TAGS = ["financial", "production", "pii"]
AGENTS = ["support-bot", "ops-bot", "ops-2", ""]
AGENT_PATTERNS = ["support-bot", "ops-*", "*bot", "ops-?", "*"]
TIERS = ["junior", "senior", "lead"]
MODES = ["incident", "freeze"]
LEVELS = ["auto", "notify", "approve", "suggest", "deny"]
REASONS = ["high_risk_action", "low_confidence", "external_impact", "policy_boundary", "novel_action", "mode"]
DURATIONS = ["1s", "90s", "30m", "2h", "1d"]
ON_TIMEOUT = ["escalate", "retry", "abort"]
CONDITIONS = [
    "args.amount <= 200.0",
    "args.amount > 100",
    "args.amount == 150",
    "args.flag",
    "!args.flag",
    "args.flag && args.amount < 50",
    "args.amount",  # not a boolean: fails closed
    "args.missing == 1",  # a missing field: fails closed
    "args.amount / args.div > 1",  # division by zero sometimes
    "args.note == 'x'",
    "action.confidence > 0.5",  # null confidence: wrong type
    "'financial' in action.tags",
    "action.agent.startsWith('ops')",
    "action.external || args.flag == true",
    "context.env == 'prod'",
    "has(args.amount) && args.amount >= 10",
    # the action variable read straight from the Action by the generated deciders (_decide)
    "action.name.endsWith('_data') || action.name == 'iam.grant'",
    "'pii' in action.tags && action.confidence < 0.7",
    "action.has_confidence && has(action.confidence) && !has(action.other)",
    "size(action.tags) > 1 || action.agent in ['ops-bot', 'ops-2']",
    "context.env in ['prod', 'staging'] ? args.note != 'x' : args.amount * 2 > 300",
    "[1, 2, 3].exists(i, i > args.amount)",  # a comprehension: the closure, not inlined
    "args.note.matches('^x')",  # outside the compiled subset: the library
]


def _one_or_list(items: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(items), st.lists(st.sampled_from(items), min_size=1, max_size=3, unique=True))


@st.composite
def reviewers(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["tier"] = draw(st.sampled_from(TIERS))
    if draw(st.booleans()):
        out["count"] = draw(st.integers(1, 3))
    return out


@st.composite
def matches(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.integers(0, 5)):  # mostly a name condition; sometimes every action
        out["action"] = draw(_one_or_list(NAME_PATTERNS))
    if draw(st.integers(0, 3)) == 0:
        out["tags"] = draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))
    if draw(st.integers(0, 3)) == 0:
        out["agent"] = draw(_one_or_list(AGENT_PATTERNS))
    if draw(st.integers(0, 3)) == 0:
        out["external"] = draw(st.booleans())
    return out


@st.composite
def rules(draw: st.DrawFn, index: int, modes: list[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": f"r{index}", "match": draw(matches()), "level": draw(st.sampled_from(LEVELS))}
    if draw(st.booleans()):
        rule["when"] = draw(st.sampled_from(CONDITIONS))
    if draw(st.integers(0, 2)) == 0:
        rule["reason"] = draw(st.sampled_from(REASONS))
    if draw(st.integers(0, 2)) == 0:
        rule["reviewers"] = draw(reviewers())
    if draw(st.integers(0, 2)) == 0:
        rule["timeout"] = draw(st.sampled_from(DURATIONS))
    if draw(st.integers(0, 2)) == 0:
        rule["on_timeout"] = draw(st.sampled_from(ON_TIMEOUT))
    if draw(st.integers(0, 3)) == 0:
        rule["retries"] = draw(st.integers(0, 3))
    if modes and draw(st.integers(0, 4)) == 0:
        rule["modes"] = draw(st.lists(st.sampled_from(modes), min_size=1, max_size=2, unique=True))
    return rule


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["level"] = draw(st.sampled_from(LEVELS))
    if draw(st.integers(0, 2)) == 0:
        out["reviewers"] = draw(reviewers())
    if draw(st.integers(0, 2)) == 0:
        out["timeout"] = draw(st.sampled_from(DURATIONS))
    if draw(st.integers(0, 2)) == 0:
        out["on_timeout"] = draw(st.sampled_from(ON_TIMEOUT))
    return out


thresholds = st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9, 1.0])


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid policy document as plain data (what a YAML file would load to)."""
    mode_names = draw(st.lists(st.sampled_from(MODES), max_size=2, unique=True))
    n = draw(st.integers(0, 8))
    rule_list = [draw(rules(i, mode_names)) for i in range(n)]
    defaults: dict[str, Any] = {}
    if draw(st.booleans()):
        defaults["level"] = draw(st.sampled_from(LEVELS))
    if draw(st.booleans()):
        defaults["confidence_threshold"] = draw(thresholds)
    if draw(st.integers(0, 2)) == 0:
        defaults["low_confidence_level"] = draw(st.sampled_from(LEVELS))
    if draw(st.integers(0, 2)) == 0:
        defaults["reviewers"] = draw(reviewers())
    if draw(st.integers(0, 2)) == 0:
        defaults["timeout"] = draw(st.sampled_from(DURATIONS))
    if draw(st.integers(0, 2)) == 0:
        defaults["on_timeout"] = draw(st.sampled_from(ON_TIMEOUT))
    modes: dict[str, Any] = {}
    for name in mode_names:
        mode: dict[str, Any] = {}
        if draw(st.booleans()):
            mode["confidence_threshold"] = draw(thresholds)
        if draw(st.integers(0, 2)) == 0:
            mode["default_level"] = draw(st.sampled_from(LEVELS))
        if rule_list and draw(st.booleans()):
            names = draw(st.lists(st.sampled_from([r["name"] for r in rule_list]), max_size=3, unique=True))
            mode["rules"] = {rn: draw(overrides()) for rn in names}
        modes[name] = mode
    doc: dict[str, Any] = {"version": 1, "tiers": list(TIERS), "defaults": defaults, "rules": rule_list}
    if modes:
        doc["modes"] = modes
    if draw(st.booleans()):
        doc["novelty"] = {
            "level": draw(st.sampled_from(LEVELS)),
            "key": draw(st.sampled_from([["action"], ["action", "agent"], ["action", "args.amount"], ["tags"]])),
        }
    return doc


amounts = st.one_of(
    st.integers(-10, 300), st.floats(-10, 300, allow_nan=False), st.sampled_from([150, 150.0, 200, 200.0, "150"]),
)


@st.composite
def actions(draw: st.DrawFn) -> Action:
    """An action over the same small vocabulary as ``policies``, with arguments of any type."""
    args: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        args["amount"] = draw(amounts)
    if draw(st.integers(0, 3)):
        args["flag"] = draw(st.one_of(st.booleans(), st.sampled_from([0, 1, "yes"])))
    if draw(st.booleans()):
        args["note"] = draw(st.sampled_from(["x", "y", "", "é"]))
    if draw(st.booleans()):
        args["div"] = draw(st.sampled_from([0, 1, 2, 0.5]))
    context = {"env": draw(st.sampled_from(["prod", "dev"]))} if draw(st.booleans()) else {}
    return Action(
        name=draw(st.one_of(st.sampled_from(ACTION_NAMES), st.sampled_from(["other", "iam.", "deploy_"]))),
        args=args,
        confidence=draw(st.one_of(st.none(), thresholds, st.floats(0.0, 1.0))),
        tags=frozenset(draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True))),
        agent=draw(st.sampled_from(AGENTS)),
        external=draw(st.booleans()),
        context=context,
    )


@st.composite
def action_batches(draw: st.DrawFn, max_size: int = 6) -> list[Action]:
    """Actions where many are near copies of an earlier one (one field changed).

    Caches keyed on part of an action are only caught out by two actions that differ in
    exactly the part the key forgot.
    """
    batch = [draw(actions())]
    for _ in range(draw(st.integers(0, max_size - 1))):
        if draw(st.booleans()):
            batch.append(draw(actions()))
            continue
        base = draw(st.sampled_from(batch))
        other = draw(actions())
        field = draw(st.sampled_from(["tags", "agent", "external", "confidence", "args", "context"]))
        batch.append(base.evolve(**{field: getattr(other, field)}))
    return batch
