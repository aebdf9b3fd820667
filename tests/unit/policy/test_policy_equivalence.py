"""The compiled evaluator and the naive reference evaluator agree on random policies and actions."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signoff._model import Action, Outcome
from signoff.policy import Policy
from signoff.policy._compiled import CompiledPolicy
from signoff.policy._reference import ReferenceEvaluator
from strategies import ACTION_NAMES, action_batches, policies


def _summary(outcome: Outcome) -> dict[str, Any]:
    """Everything both evaluators must agree on (the messages are worded differently on purpose)."""
    return {
        "level": outcome.level,
        "matched_rules": outcome.matched_rules,
        "near_misses": outcome.near_misses,
        "reasons": sorted((r.code, r.rule or "", r.level.value) for r in outcome.reasons),
        "reviewers": (outcome.reviewers.tier, outcome.reviewers.count),
        "timeout": outcome.timeout,
        "on_timeout": outcome.on_timeout,
        "retries": outcome.retries,
        "mode": outcome.mode,
        "fingerprint": outcome.fingerprint,
        "novel": outcome.novel,
    }


class _Memory:
    """A novelty memory that counts how often it is asked."""

    def __init__(self, known: set[str] | None, default: bool = False) -> None:
        self.known = known
        self.default = default
        self.asked = 0

    def __call__(self, fingerprint: str) -> bool:
        self.asked += 1
        if self.known is None:
            return self.default
        return fingerprint.partition("#")[0] in self.known


class TestCompiledAgreesWithReference:
    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        doc=policies(),
        batch=action_batches(),
        mode_pick=st.integers(0, 2),
        known=st.one_of(st.none(), st.sets(st.sampled_from(ACTION_NAMES))),
    )
    def test_same_outcome(self, doc: dict[str, Any], batch: list[Action], mode_pick: int,
                          known: set[str] | None) -> None:
        """For any valid policy, mode, novelty memory and action, both evaluators give the same outcome."""
        policy = Policy.from_dict(doc)
        reference = ReferenceEvaluator(policy.spec)
        modes = [None, *policy.modes]
        mode = modes[mode_pick % len(modes)]
        # The compiled evaluator caches per policy; vary the memory between calls on the same
        # policy so that a cached outcome is never reused for an answer it was not computed for.
        memories = [(known, False), None, (None, True), (None, False)]
        for action in batch:
            for spec in memories:
                memory = None if spec is None else _Memory(*spec)
                ref_memory = None if spec is None else _Memory(*spec)
                expected = _summary(reference.evaluate(action, mode=mode, is_known=ref_memory))
                actual = _summary(policy.evaluate(action, mode=mode, is_known=memory))
                assert expected == actual
                assert (ref_memory.asked if ref_memory else 0) == (memory.asked if memory else 0)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(doc=policies(), batch=action_batches(), novel=st.booleans())
    def test_cached_outcomes_are_exact(self, doc: dict[str, Any], batch: list[Action], novel: bool) -> None:
        """An outcome served from the compiled evaluator's caches equals one computed afresh, messages included."""
        policy = Policy.from_dict(doc)
        fresh = CompiledPolicy(policy.spec)
        # The same actions again at confidences around every threshold the strategies use.
        variants = [a.evolve(confidence=c) for a in batch for c in (None, 0.2, 0.45, 0.55, 0.65, 0.75, 0.95)]
        for mode in [None, *policy.modes]:
            for action in batch + variants:
                for table, _ in fresh._tables.values():
                    table.memo.clear()
                expected = fresh.evaluate(action, mode=mode, is_known=lambda fp: not novel)
                actual = policy.evaluate(action, mode=mode, is_known=lambda fp: not novel)
                assert expected == actual
