"""A plain, deliberately naive evaluator: the semantics of DESIGN.md, written as a loop.

It exists to check ``_compiled`` (the property test asserts both agree on random
policies and actions) and as the baseline of the benchmark. It shares nothing with
the compiled evaluator but the policy models and the ``Outcome`` type: every rule is
visited in order, names are matched with ``fnmatch.fnmatchcase`` and every condition
gets the full activation (``action``, ``args``, ``context``). Never use it on the hot
path; ``Policy.evaluate`` is the fast one.

Semantics, in the order they apply:

1. A rule is in force when it has no ``modes`` or the current mode is one of them;
   the current mode's ``rules:`` overrides replace its level, reviewers, timeout and
   on_timeout.
2. A rule matches when every ``match`` key holds (name/glob list, all tags present,
   agent name/glob, ``external``) and its ``when`` condition is true. A condition
   that is false makes the rule a *near miss*; one that raises or gives something
   other than a boolean counts as matched (fail closed) and the reason says so.
3. The most restrictive level among matched rules wins; with none, the default level
   (the mode's ``default_level`` when it sets one).
4. Confidence below the threshold in force raises the level to
   ``defaults.low_confidence_level``; novelty (a fingerprint ``is_known`` does not
   know) raises it to ``novelty.level``. Neither ever lowers it, and ``deny`` stays.
5. Reviewers, timeout and on_timeout come from the matched rules at the winning
   level when the rules decided the level (else from the defaults): the highest tier,
   the largest count, the smallest timeout and that rule's on_timeout and retries.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import cel

from signoff._errors import UserError
from signoff._model import Action, Level, Outcome, Reason, ReviewersRequired
from signoff.policy._spec import PolicySpec, Reviewers, Rule

__all__ = ["ReferenceEvaluator"]

_ORDER = [Level.AUTO, Level.NOTIFY, Level.APPROVE, Level.SUGGEST, Level.DENY]


def _most_restrictive(levels: list[Level]) -> Level:
    return max(levels, key=_ORDER.index)


class _Applied:
    """One rule as it stands in the current mode."""

    def __init__(self, rule: Rule, override_level: Level | None, reviewers: Reviewers | None,
                 timeout: timedelta | None, on_timeout: str | None, mode_note: str | None) -> None:
        self.rule = rule
        self.level = override_level or rule.level
        self.reviewers = reviewers
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.mode_note = mode_note

    @property
    def code(self) -> str:
        if self.rule.reason is not None:
            return self.rule.reason
        return "external_impact" if self.rule.match.external is True else "policy_boundary"


class ReferenceEvaluator:
    """Evaluate actions against a PolicySpec by visiting every rule, every time."""

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self._programs: dict[str, Any] = {}

    def _program(self, source: str) -> Any:
        if source not in self._programs:
            self._programs[source] = cel.compile(source)
        return self._programs[source]

    def _rules_in_force(self, mode: str | None) -> list[_Applied]:
        overrides = self.spec.modes[mode].rules if mode is not None else {}
        out = []
        for rule in self.spec.rules:
            if rule.modes is not None and (mode is None or mode not in rule.modes):
                continue
            o = overrides.get(rule.name)
            note = None
            if o is not None:
                note = f"mode {mode} overrides rule {rule.name}"
            elif rule.modes is not None:
                note = f"rule {rule.name} applies only in mode {mode}"
            out.append(_Applied(
                rule,
                o.level if o is not None and o.level is not None else None,
                o.reviewers if o is not None and o.reviewers is not None else rule.reviewers,
                o.timeout if o is not None and o.timeout is not None else rule.timeout,
                o.on_timeout if o is not None and o.on_timeout is not None else rule.on_timeout,
                note,
            ))
        return out

    def fingerprint(self, action: Action) -> str:
        """``action.name`` when novelty keys on the name only, else the name and a digest of the key."""
        keys = self.spec.novelty.key if self.spec.novelty is not None else ["action"]
        if keys == ["action"]:
            return action.name
        parts: list[Any] = []
        for key in keys:
            head, _, sub = key.partition(".")
            if head == "action":
                parts.append(action.name)
            elif head == "agent":
                parts.append(action.agent)
            elif head == "external":
                parts.append(action.external)
            elif head == "tags":
                parts.append(sorted(action.tags))
            elif head == "args":
                parts.append(action.args.get(sub) if sub else sorted(action.args))
            else:
                parts.append(action.context.get(sub) if sub else sorted(action.context))
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return action.name + "#" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def evaluate(self, action: Action, *, mode: str | None = None,
                 is_known: Callable[[str], bool] | None = None) -> Outcome:
        spec = self.spec
        if mode is not None and mode not in spec.modes:
            raise UserError(f"unknown mode {mode!r}")
        mode_spec = spec.modes[mode] if mode is not None else None
        activation = {
            "action": {
                "name": action.name,
                "confidence": action.confidence,
                "has_confidence": action.confidence is not None,
                "reasoning": action.reasoning,
                "alternatives": list(action.alternatives),
                "tags": sorted(action.tags),
                "external": action.external,
                "agent": action.agent,
            },
            "args": dict(action.args),
            "context": dict(action.context),
        }

        matched: list[_Applied] = []
        near: list[str] = []
        reasons: list[Reason] = []
        for applied in self._rules_in_force(mode):
            rule = applied.rule
            m = rule.match
            if m.action is not None and not any(fnmatch.fnmatchcase(action.name, p) for p in m.action):
                continue
            if not all(t in action.tags for t in m.tags):
                continue
            if m.agent is not None and not any(fnmatch.fnmatchcase(action.agent, p) for p in m.agent):
                continue
            if m.external is not None and m.external != action.external:
                continue
            message = f"rule {rule.name} matched"
            if rule.when is not None:
                try:
                    result = self._program(rule.when).execute(activation)
                except Exception as exc:
                    result = exc
                if isinstance(result, bool) and not result:
                    near.append(rule.name)
                    continue
                if not isinstance(result, bool):
                    message = f"condition of rule {rule.name} could not be evaluated: {result!r}; fails closed"
            matched.append(applied)
            reasons.append(Reason(code=applied.code, rule=rule.name, level=applied.level, message=message))
            if mode is not None and applied.mode_note is not None:
                reasons.append(Reason(code="mode", rule=rule.name, level=applied.level, message=applied.mode_note))

        defaults = spec.defaults
        if matched:
            level = _most_restrictive([a.level for a in matched])
        else:
            level = defaults.level
            if mode_spec is not None and mode_spec.default_level is not None:
                level = mode_spec.default_level
            if level != defaults.level:
                reasons.append(Reason(code="mode", level=level, message=f"mode {mode} sets the default"))
            elif level != Level.AUTO:
                reasons.append(Reason(code="default", level=level, message="no rule matched: the default"))
        decided_by_rules = bool(matched)

        threshold = defaults.confidence_threshold
        if mode_spec is not None and mode_spec.confidence_threshold is not None:
            threshold = mode_spec.confidence_threshold
        mode_moved_threshold = threshold != defaults.confidence_threshold
        floor = defaults.low_confidence_level
        conf = action.confidence
        can_raise_to_floor = level != Level.DENY and _ORDER.index(level) < _ORDER.index(floor)
        if conf is not None and can_raise_to_floor:
            if conf < threshold:
                level = floor
                decided_by_rules = False
                reasons.append(Reason(code="low_confidence", level=level, message=f"{conf} < {threshold}"))
                if mode_moved_threshold:
                    reasons.append(Reason(code="mode", level=level, message=f"mode {mode} threshold {threshold}"))
            elif mode_moved_threshold and conf < defaults.confidence_threshold:
                reasons.append(Reason(code="mode", level=level, message=f"mode {mode} lowered the threshold"))

        fingerprint = ""
        novel = False
        if spec.novelty is not None:
            fingerprint = self.fingerprint(action)
            target = spec.novelty.level
            if (is_known is not None and level != Level.DENY
                    and _ORDER.index(level) < _ORDER.index(target) and not is_known(fingerprint)):
                level = target
                novel = True
                decided_by_rules = False
                reasons.append(Reason(code="novel_action", level=level, message=f"first {fingerprint}"))

        tier = defaults.reviewers.tier
        count = defaults.reviewers.count
        timeout: timedelta | None = defaults.timeout
        on_timeout: str = defaults.on_timeout
        retries = defaults.retries
        if decided_by_rules:
            winners = [a for a in matched if a.level == level]
            for a in winners:
                if a.reviewers is None:
                    continue
                if a.reviewers.tier is not None and (
                    tier is None or spec.tiers.index(a.reviewers.tier) > _tier_index(spec.tiers, tier)
                ):
                    tier = a.reviewers.tier
                count = max(count, a.reviewers.count)
            timed = [a for a in winners if a.timeout is not None]
            if timed:
                shortest = min(a.timeout for a in timed if a.timeout is not None)
                decider: _Applied | None = next(a for a in timed if a.timeout == shortest)
            else:
                decider = next((a for a in winners if a.on_timeout is not None), None)
            if decider is not None:
                if decider.timeout is not None:
                    timeout = decider.timeout
                if decider.on_timeout is not None:
                    on_timeout = decider.on_timeout
                if decider.rule.retries is not None:
                    retries = decider.rule.retries

        return Outcome(
            level=level,
            reasons=tuple(reasons),
            matched_rules=tuple(a.rule.name for a in matched),
            near_misses=tuple(near),
            reviewers=ReviewersRequired(tier=tier, count=count),
            timeout=timeout,
            on_timeout=on_timeout,  # type: ignore[arg-type]
            retries=retries,
            mode=mode,
            fingerprint=fingerprint,
            novel=novel,
            require_reasoning=defaults.require_reasoning,
        )


def _tier_index(tiers: list[str], tier: str) -> int:
    return tiers.index(tier) if tier in tiers else -1
