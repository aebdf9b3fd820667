"""The compiled policy: the hot path of every agent step.

Compiled once per mode: exact action names in a dict, all globs behind one combined
regex, the candidate rules for a name found once, CEL programs compiled once. For each
distinct set of candidate rules, ``_decide`` generates one Python function (the rules'
checks and conditions inlined) that says which rules match; the Outcome for each such
answer is built once and memoised (see ``CompiledPolicy.evaluate``), so a decision costs
about a microsecond, and one whose conditions fail takes the full rule walk, which says why.

``_reference.ReferenceEvaluator`` is the same semantics written as a plain loop; the
property test in tests/unit/policy proves the two agree, caches included.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from signoff._errors import UserError
from signoff._model import Action, Level, Outcome, Reason, ReviewersRequired, canonical_json
from signoff.policy._cel import Condition, compile_condition, describe_failure
from signoff.policy._cel_fast import is_plain
from signoff.policy._cel_source import Emitter
from signoff.policy._crule import _CRule
from signoff.policy._decide import Decider, Shared, build, build_shared, new_emitter
from signoff.policy._spec import PolicySpec, Rule

IsKnown = Callable[[str], bool]

CODE_WORDS = {
    "high_risk_action": "High-risk action",
    "low_confidence": "Low confidence",
    "external_impact": "External impact",
    "policy_boundary": "Policy boundary",
    "novel_action": "Novel action",
    "mode": "Mode",
    "default": "Default",
}
LEVEL_WORDS = {
    Level.AUTO: "the agent may act on its own",
    Level.NOTIFY: "the agent may act and the action shows in the feed",
    Level.APPROVE: "a human must approve it first",
    Level.SUGGEST: "the agent may only suggest it; a human executes it",
    Level.DENY: "the policy forbids it",
}
_CACHE_MAX = 8192


def _glob_regex(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


class _Table:
    """The rules in force in one mode, indexed for lookup by action name."""

    def __init__(self, rules: list[_CRule], matchers: dict[int, list[str] | None], emitter: Emitter) -> None:
        self.emitter = emitter
        self._lock = threading.Lock()
        self.shared: Shared | None = None
        """The generated checks of the rules with no action matcher (``self.wildcard``)."""
        self.exact: dict[str, list[_CRule]] = {}
        self.globs: list[tuple[re.Pattern[str], _CRule]] = []
        self.wildcard: list[_CRule] = []
        for rule in rules:
            names = matchers[rule.index]
            if names is None:
                self.wildcard.append(rule)
                continue
            globs = [n for n in names if _is_glob(n)]
            for n in names:
                if not _is_glob(n):
                    self.exact.setdefault(n, []).append(rule)
            if globs:
                self.globs.append((_glob_regex(globs), rule))
        self.any_glob = _glob_regex([p for n in matchers.values() if n for p in n if _is_glob(p)]) \
            if self.globs else None
        self.cache: dict[str, tuple[tuple[_CRule, ...], bool]] = {}
        self.entries: dict[str, Decider] = {}
        """The generated decider for each action name seen (``_decide``)."""
        self.deciders: dict[tuple[int, ...], Decider] = {}
        """The deciders by candidate rules: names with the same candidates share one."""
        self.memo: dict[Any, list[Any]] = {}
        """Memoised outcomes by decider answer: see ``CompiledPolicy.evaluate``."""

    def decider(self, name: str) -> Decider:
        """The decider for ``name``'s candidate rules, generated the first time that set is seen."""
        rules = self.lookup(name)[0]
        key = tuple(r.index for r in rules)
        # Under the lock: two deciders must never get the same number (the memo's keys carry it).
        with self._lock:
            found = self.deciders.get(key)
            if self.shared is None:
                self.shared = build_shared(self.wildcard, _run_one, self.emitter)
            if found is None:
                if len(self.deciders) >= _CACHE_MAX:  # answers name their decider by number: start afresh
                    self.deciders.clear()
                    self.entries.clear()
                    self.memo.clear()
                found = self.deciders[key] = build(rules, _run_one, _action_variable, len(self.deciders),
                                                   self.emitter, self.shared)
            if len(self.entries) >= _CACHE_MAX:
                self.entries.clear()
            self.entries[name] = found
        return found

    def lookup(self, name: str) -> tuple[tuple[_CRule, ...], bool]:
        """The rules whose name matcher accepts ``name``, in policy order, and whether any has a condition."""
        found = self.cache.get(name)
        if found is not None:
            return found
        rules: list[_CRule] = list(self.exact.get(name, ()))
        rules.extend(self.wildcard)
        if self.any_glob is not None and self.any_glob.match(name):
            rules.extend(r for rx, r in self.globs if rx.match(name))
        uniq = {r.index: r for r in rules}
        ordered = tuple(uniq[i] for i in sorted(uniq))
        result = (ordered, any(r.cond is not None for r in ordered))
        if len(self.cache) >= _CACHE_MAX:
            self.cache.clear()
        self.cache[name] = result
        return result

    def candidates(self, name: str) -> tuple[_CRule, ...]:
        return self.lookup(name)[0]


@dataclass(slots=True)
class _ModeInfo:
    name: str | None
    threshold: float
    default_level: Level
    threshold_changed: bool
    default_changed: bool
    confidence_floor: float = 0.0
    """At or above this (or with no confidence) the confidence cannot change the outcome."""


class CompiledPolicy:
    """Evaluate actions against a validated PolicySpec; build with ``CompiledPolicy(spec)``."""

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self._tier_rank = {t: i for i, t in enumerate(spec.tiers)}
        self._conditions: dict[str, Condition] = {}
        self._emitter = new_emitter()
        self._tables: dict[str | None, tuple[_Table, _ModeInfo]] = {}
        self._tables[None] = self._build(None)
        for mode in spec.modes:
            self._tables[mode] = self._build(mode)
        novelty = spec.novelty
        self._novelty_key = tuple(novelty.key) if novelty else ()
        self._novelty_level = novelty.level if novelty else None
        self._default_reviewers = ReviewersRequired(tier=spec.defaults.reviewers.tier,
                                                    count=spec.defaults.reviewers.count)

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.spec.modes)

    def _condition(self, source: str) -> Condition:
        cond = self._conditions.get(source)
        if cond is None:
            cond = self._conditions[source] = compile_condition(source)
        return cond

    def _build(self, mode: str | None) -> tuple[_Table, _ModeInfo]:
        spec = self.spec
        m = spec.modes.get(mode) if mode else None
        rules: list[_CRule] = []
        matchers: dict[int, list[str] | None] = {}
        for i, rule in enumerate(spec.rules):
            if rule.modes is not None and mode not in rule.modes:
                continue
            override = m.rules.get(rule.name) if m else None
            level = override.level if override and override.level else rule.level
            reviewers = override.reviewers if override and override.reviewers else rule.reviewers
            timeout = override.timeout if override and override.timeout else rule.timeout
            on_timeout = override.on_timeout if override and override.on_timeout else rule.on_timeout
            code = rule.reason or ("external_impact" if rule.match.external else "policy_boundary")
            mode_reason = None
            if override is not None and mode is not None:
                mode_reason = Reason(code="mode", rule=rule.name, level=level,
                                     message=f"Mode {mode!r} is on and sets rule '{rule.name}' to {level.value}.")
            elif rule.modes is not None and mode is not None:
                mode_reason = Reason(code="mode", rule=rule.name, level=level,
                                     message=f"Rule '{rule.name}' applies only while mode {mode!r} is on.")
            rules.append(_CRule(
                index=i, name=rule.name, level=level, code=code,
                tags=frozenset(rule.match.tags),
                agent_re=_glob_regex(rule.match.agent) if rule.match.agent else None,
                agents=tuple(rule.match.agent or ()),
                external=rule.match.external,
                cond=self._condition(rule.when) if rule.when else None,
                reviewers=reviewers, timeout=timeout, on_timeout=on_timeout, retries=rule.retries,
                reason=Reason(code=code, rule=rule.name, level=level, message=_rule_message(rule, level)),
                mode_reason=mode_reason,
            ))
            matchers[i] = list(rule.match.action) if rule.match.action else None
        threshold = spec.defaults.confidence_threshold
        default_level = spec.defaults.level
        info = _ModeInfo(
            name=mode,
            threshold=m.confidence_threshold if m and m.confidence_threshold is not None else threshold,
            default_level=m.default_level if m and m.default_level is not None else default_level,
            threshold_changed=bool(m and m.confidence_threshold is not None and m.confidence_threshold != threshold),
            default_changed=bool(m and m.default_level is not None and m.default_level != default_level),
        )
        info.confidence_floor = max(info.threshold, threshold)
        return _Table(rules, matchers, self._emitter), info

    def fingerprint(self, action: Action) -> str:
        """The identity of 'this kind of action' for novelty, from ``novelty.key``."""
        key = self._novelty_key or ("action",)
        if key == ("action",):
            return action.name
        values: list[Any] = []
        for item in key:
            head, _, rest = item.partition(".")
            if head == "action":
                values.append(action.name)
            elif head == "agent":
                values.append(action.agent)
            elif head == "external":
                values.append(action.external)
            elif head == "tags":
                values.append(sorted(action.tags))
            elif head == "args":
                values.append(action.args.get(rest) if rest else sorted(action.args))
            else:
                values.append(action.context.get(rest) if rest else sorted(action.context))
        digest = hashlib.sha256(canonical_json(values).encode()).hexdigest()[:16]
        return f"{action.name}#{digest}"

    def evaluate(self, action: Action, *, mode: str | None = None, is_known: IsKnown | None = None) -> Outcome:
        """Decide the level of ``action``; ``is_known`` tells novelty which fingerprints were approved."""
        try:
            table, info = self._tables[mode]
        except KeyError:
            known = sorted(self.spec.modes) or "no modes"
            raise UserError(f"unknown mode {mode!r}; the policy defines {known}") from None
        decider = table.entries.get(action.name)
        if decider is None:
            decider = table.decider(action.name)
        conf = action.confidence
        if conf is not None and conf < info.confidence_floor:
            return self._evaluate(action, table, info, decider.rules, is_known)
        # The generated decider says which candidate rules match and which miss only on their
        # condition, or -1 off the happy path (a condition that raised or gave a non-bool, a value
        # the library might convert differently): the full walk then asks the library and says why.
        answer = decider.decide(action)
        if answer < 0:
            return self._evaluate(action, table, info, decider.rules, is_known)
        # A confidence that cannot matter: the outcome depends only on which rules matched or
        # nearly matched (the decider's answer) and the fingerprint, so it is computed once and
        # shared (Outcome is frozen). Building an Outcome costs more than the whole rule walk, and
        # most agent steps are such repeats. ``is_known`` is still asked exactly when the uncached
        # path would ask it: the first computation records whether novelty could raise the level.
        if self._novelty_level is None:
            fingerprint = ""
            key: Any = answer
        else:
            fingerprint = self.fingerprint(action)
            key = (answer, fingerprint)
        memo = table.memo.get(key)
        # The decider is checked too: an answer names its decider by number, and a number is only
        # reused after the deciders are dropped (see _Table.decider), when a call still under way
        # may store an outcome for the old one.
        if memo is None or memo[4] is not decider:
            asked: list[str] = []

            def known_and_record(fp: str) -> bool:
                asked.append(fp)
                return True

            plain = self._evaluate(action, table, info, decider.rules, known_and_record, (answer, decider.marks))
            memo = [plain, bool(asked), None, (answer, decider.marks), decider]
            if len(table.memo) >= _CACHE_MAX:
                table.memo.clear()
            table.memo[key] = memo
        if is_known is None or not memo[1] or is_known(fingerprint):
            return memo[0]  # type: ignore[no-any-return]
        if memo[2] is None:
            memo[2] = self._evaluate(action, table, info, decider.rules, lambda fp: False, memo[3])
        return memo[2]  # type: ignore[no-any-return]

    def _evaluate(self, action: Action, table: _Table, info: _ModeInfo, candidates: tuple[_CRule, ...],
                  is_known: IsKnown | None, decided: tuple[int, tuple[tuple[int, int], ...]] | None = None) -> Outcome:
        """``decided``: a decider's answer and its ``marks``: which rules matched and which nearly did
        are read from it, nothing is checked or run again."""
        matched: list[_CRule] = []
        reasons: list[Reason] = []
        near: list[str] = []
        activation: dict[str, Any] | None = None
        env: dict[str, Any] = {}  # the variables compiled conditions read, shared by all of them
        plain: dict[str, bool] = {}
        for i, rule in enumerate(candidates):
            if decided is not None:
                answer, (hit, miss) = decided[0], decided[1][i]
                if hit and not answer & hit:
                    if answer & miss:
                        near.append(rule.name)
                    continue
            elif (rule.tags and not rule.tags <= action.tags) \
                    or (rule.agent_re is not None and not rule.agent_re.match(action.agent)) \
                    or (rule.external is not None and rule.external != action.external):
                continue
            cond = rule.cond
            if cond is not None and decided is None:
                if activation is None:
                    activation = {}
                result = _run_condition(cond, action, activation, env, plain)
                if result is False:
                    near.append(rule.name)
                    continue
                if result is not True:
                    why = describe_failure(result) if isinstance(result, Exception) else \
                        f"it gave {result!r}, not true or false"
                    matched.append(rule)
                    reasons.append(Reason(
                        code=rule.code, rule=rule.name, level=rule.level,
                        message=f"The condition of rule '{rule.name}' (`{cond.source}`) could not be "
                                f"evaluated: {why}. It counts as matched, so the gate fails closed: "
                                f"{LEVEL_WORDS[rule.level]}.",
                    ))
                    if rule.mode_reason is not None:
                        reasons.append(rule.mode_reason)
                    continue
            matched.append(rule)
            reasons.append(rule.reason)
            if rule.mode_reason is not None:
                reasons.append(rule.mode_reason)

        if matched:
            level = matched[0].level
            for r in matched:
                if _RANK[r.level] > _RANK[level]:
                    level = r.level
        else:
            level = info.default_level
            if info.default_changed:
                reasons.append(Reason(
                    code="mode", level=level,
                    message=f"No rule matched; mode {info.name!r} sets the default to {level.value}.",
                ))
            elif level is not Level.AUTO:
                reasons.append(Reason(code="default", level=level,
                                      message=f"No rule matched; the default applies: {LEVEL_WORDS[level]}."))
        winners = [r for r in matched if r.level is level]
        raised_by_rules = bool(winners)

        conf = action.confidence
        low_level = self.spec.defaults.low_confidence_level
        if conf is not None and conf < info.threshold and _RANK[level] < _RANK[low_level] and level is not Level.DENY:
            level = low_level
            raised_by_rules = False
            reasons.append(Reason(
                code="low_confidence", level=low_level,
                message=f"The agent's confidence {conf:g} is below the threshold {info.threshold:g}: "
                        f"{LEVEL_WORDS[low_level]}.",
            ))
            if info.threshold_changed:
                reasons.append(Reason(
                    code="mode", level=low_level,
                    message=f"Mode {info.name!r} sets the confidence threshold to {info.threshold:g}.",
                ))
        elif conf is not None and info.threshold_changed and conf < self.spec.defaults.confidence_threshold \
                and _RANK[level] < _RANK[low_level] and level is not Level.DENY:
            reasons.append(Reason(
                code="mode", level=level,
                message=f"Mode {info.name!r} lowers the confidence threshold to {info.threshold:g}, "
                        f"so confidence {conf:g} no longer needs a human.",
            ))

        fingerprint = ""
        novel = False
        if self._novelty_level is not None:
            fingerprint = self.fingerprint(action)
            if is_known is not None and _RANK[level] < _RANK[self._novelty_level] and level is not Level.DENY \
                    and not is_known(fingerprint):
                novel = True
                level = self._novelty_level
                raised_by_rules = False
                reasons.append(Reason(
                    code="novel_action", level=level,
                    message=f"First time this kind of action ({action.name}) is seen; no human has approved "
                            f"one yet: {LEVEL_WORDS[level]}.",
                ))

        defaults = self.spec.defaults
        tier = defaults.reviewers.tier
        count = defaults.reviewers.count
        timeout = defaults.timeout
        on_timeout = defaults.on_timeout
        retries = defaults.retries
        if raised_by_rules:
            # The rule with the smallest timeout (the first in policy order on a tie) decides
            # timeout, on_timeout and retries together; when no winner sets a timeout, the
            # first one that sets on_timeout does. Never mix one rule's timeout with another's
            # on_timeout: the result would depend on the order of the rules.
            decider: _CRule | None = None
            best_timeout: timedelta | None = None
            first_on_timeout: _CRule | None = None
            for r in winners:
                if r.reviewers is not None:
                    if r.reviewers.tier is not None and (
                        tier is None or self._tier_rank[r.reviewers.tier] > self._tier_rank.get(tier, -1)
                    ):
                        tier = r.reviewers.tier
                    count = max(count, r.reviewers.count) if r.reviewers.count else count
                if r.timeout is not None and (best_timeout is None or r.timeout < best_timeout):
                    decider, best_timeout = r, r.timeout
                elif first_on_timeout is None and r.on_timeout is not None:
                    first_on_timeout = r
            if decider is None:
                decider = first_on_timeout
            if decider is not None:
                timeout = decider.timeout or timeout
                on_timeout = decider.on_timeout or on_timeout
                retries = decider.retries if decider.retries is not None else retries
        return Outcome(
            level=level,
            reasons=tuple(reasons),
            matched_rules=tuple(r.name for r in matched),
            near_misses=tuple(near),
            reviewers=self._default_reviewers if (tier, count) == (defaults.reviewers.tier, defaults.reviewers.count)
            else ReviewersRequired(tier=tier, count=count),
            timeout=timeout,
            on_timeout=on_timeout,
            retries=retries,
            mode=info.name,
            fingerprint=fingerprint,
            novel=novel,
            require_reasoning=defaults.require_reasoning,
        )


_RANK = {level: level.rank for level in Level}


def _run_condition(cond: Condition, action: Action, activation: dict[str, Any], env: dict[str, Any],
                   plain: dict[str, bool]) -> Any:
    """True, False, another value, or the exception the library raised: the closure first when it can."""
    fast = cond.fast
    if fast is not None:
        # Each variable is checked plain once per decision (see _cel.Condition.fast).
        for var in cond.variables:
            if var not in env:
                value = env[var] = _variable(var, action, activation)
                plain[var] = is_plain(value)
            if not plain[var]:
                break
        else:
            try:
                result = fast(env)
            except Exception:  # off the closure's happy path: the library decides below
                result = None
            if result is True or result is False:
                return result
    ctx = {}  # the library converts what it is handed: only what this condition reads
    for var in cond.variables:
        ctx[var] = _variable(var, action, activation)
    try:
        return cond.library(ctx)
    except Exception as exc:  # CEL raises KeyError/TypeError/RuntimeError/ValueError
        return exc


def _run_one(cond: Condition, action: Action) -> Any:
    """One condition on its own, as the full walk runs it (for what a decider does not inline)."""
    return _run_condition(cond, action, {}, {}, {})


def _action_variable(action: Action) -> dict[str, Any]:
    return _variable("action", action, {})  # type: ignore[no-any-return]


def _variable(name: str, action: Action, cache: dict[str, Any]) -> Any:
    if name == "args":
        return action.args
    if name == "context":
        return action.context
    value = cache.get("action")
    if value is None:
        value = cache["action"] = {
            "name": action.name,
            "confidence": action.confidence,
            "has_confidence": action.confidence is not None,
            "reasoning": action.reasoning,
            "alternatives": list(action.alternatives),
            "tags": sorted(action.tags),
            "external": action.external,
            "agent": action.agent,
        }
    return value


def _rule_message(rule: Rule, level: Level) -> str:
    if rule.message:
        return rule.message
    code = rule.reason or ("external_impact" if rule.match.external else "policy_boundary")
    words = CODE_WORDS.get(code, code)
    parts = []
    if rule.match.action:
        parts.append("action " + " or ".join(rule.match.action))
    if rule.match.tags:
        parts.append("tags " + ", ".join(rule.match.tags))
    if rule.match.agent:
        parts.append("agent " + " or ".join(rule.match.agent))
    if rule.match.external is not None:
        parts.append("external" if rule.match.external else "internal")
    what = f" ({'; '.join(parts)})" if parts else ""
    cond = f" and `{rule.when}` holds" if rule.when else ""
    return f"{words}: rule '{rule.name}' matched{what}{cond}; {LEVEL_WORDS[level]}."
