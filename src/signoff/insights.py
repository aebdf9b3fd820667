"""Learning from decisions: rates per rule and action, recommendations, and policy replay.

Pure functions over decided tickets, so every store gives the same answers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from signoff._model import Level, Ticket
from signoff._shadow import PolicyComparison

__all__ = ["Insights", "Recommendation", "ReplayReport", "Stat", "compute_insights", "replay"]

DECIDED = ("approved", "rejected", "expired", "aborted")


@dataclass(frozen=True, kw_only=True)
class Stat:
    """Figures for one rule or one action over the decided approval tickets."""

    key: str
    volume: int
    approved: int
    rejected: int
    timeouts: int
    edits: int
    median_seconds_to_decision: float | None

    @property
    def approval_rate(self) -> float:
        decided = self.approved + self.rejected
        return self.approved / decided if decided else 0.0


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    rule: str | None
    action: str | None
    suggest_level: Level
    message: str


@dataclass(frozen=True, kw_only=True)
class Insights:
    rules: list[Stat]
    actions: list[Stat]
    recommendations: list[Recommendation]
    timeline: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    """Per rule: (day, approved, decided) in date order, for the approval-rate chart."""
    total: int = 0
    shadow: PolicyComparison | None = None
    """Where the shadow policy (``signoff serve --shadow-policy``) disagreed, when one ran."""


def _times(n: int) -> str:
    return "1 time" if n == 1 else f"{n} times"


def _stat(key: str, tickets: Sequence[Ticket]) -> Stat:
    times = [(t.decided_at - t.created_at).total_seconds() for t in tickets
             if t.decided_at is not None and t.status in ("approved", "rejected")]
    return Stat(
        key=key, volume=len(tickets),
        approved=sum(t.status == "approved" for t in tickets),
        rejected=sum(t.status == "rejected" for t in tickets),
        timeouts=sum(t.status in ("expired", "aborted") or t.escalations > 0 for t in tickets),
        edits=sum(t.edited_args is not None for t in tickets),
        median_seconds_to_decision=statistics.median(times) if times else None,
    )


def compute_insights(tickets: Iterable[Ticket], *, min_volume: int = 20) -> Insights:
    decided = [t for t in tickets if t.kind == "approval" and t.status in DECIDED]
    by_rule: dict[str, list[Ticket]] = defaultdict(list)
    by_action: dict[str, list[Ticket]] = defaultdict(list)
    timeline: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for t in decided:
        rules = t.rules or ("(no rule: confidence/novelty/default)",)
        for r in rules:
            by_rule[r].append(t)
            if t.decided_at is not None and t.status in ("approved", "rejected"):
                day = t.decided_at.date().isoformat()
                cell = timeline[r][day]
                cell[0] += t.status == "approved"
                cell[1] += 1
        by_action[t.action.name].append(t)
    rules_stats = sorted((_stat(k, v) for k, v in by_rule.items()), key=lambda s: -s.volume)
    action_stats = sorted((_stat(k, v) for k, v in by_action.items()), key=lambda s: -s.volume)
    recs: list[Recommendation] = []
    for s in rules_stats:
        decided_n = s.approved + s.rejected
        if decided_n < min_volume or s.key.startswith("("):
            continue
        rate = s.approval_rate
        if rate >= 0.95 and s.edits <= decided_n * 0.02:
            recs.append(Recommendation(rule=s.key, action=None, suggest_level=Level.NOTIFY,
                                       message=f"rule '{s.key}': approved {rate:.0%} of {_times(decided_n)}: "
                                               "consider `notify`"))
        elif s.rejected == decided_n:
            recs.append(Recommendation(rule=s.key, action=None, suggest_level=Level.DENY,
                                       message=f"rule '{s.key}': always rejected ({_times(decided_n)}): consider "
                                               "`deny` and fix the agent"))
        elif s.edits >= decided_n * 0.3:
            recs.append(Recommendation(rule=s.key, action=None, suggest_level=Level.APPROVE,
                                       message=f"rule '{s.key}': reviewers edited the arguments {s.edits} of "
                                               f"{_times(decided_n)}: the agent gets them wrong; fix its prompt"))
    for s in action_stats:
        if s.timeouts >= max(5, s.volume * 0.2):
            recs.append(Recommendation(rule=None, action=s.key, suggest_level=Level.APPROVE,
                                       message=f"action '{s.key}': {s.timeouts} of {s.volume} requests timed out: "
                                               "add reviewers or lengthen the timeout"))
    return Insights(
        rules=rules_stats, actions=action_stats, recommendations=recs, total=len(decided),
        timeline={r: [(d, c[0], c[1]) for d, c in sorted(days.items())] for r, days in timeline.items()},
    )


@dataclass(frozen=True, kw_only=True)
class ReplayReport:
    """What a policy would have done with past requests."""

    total: int
    changed: int
    would_auto: int
    would_auto_rejected: int
    would_block: int
    examples: list[tuple[str, str, str]]
    """(ticket id, old level, new level) for a few changed requests."""

    def __str__(self) -> str:
        return (f"this policy would have let {self.would_auto} of {self.total} past requests through without a "
                f"human, {self.would_auto_rejected} of which reviewers rejected; {self.would_block} would now "
                f"need a human or be refused ({self.changed} changed in all)")


def replay(tickets: Iterable[Ticket], evaluate: object) -> ReplayReport:
    from collections.abc import Callable

    from signoff._model import Action, Outcome

    ev: Callable[[Action], Outcome] = evaluate  # type: ignore[assignment]
    total = changed = auto = auto_rej = block = 0
    examples: list[tuple[str, str, str]] = []
    for t in tickets:
        if t.kind != "approval" or t.status not in DECIDED:
            continue
        total += 1
        new = ev(t.action).level
        if new is t.level:
            continue
        changed += 1
        if new <= Level.NOTIFY:
            auto += 1
            auto_rej += t.status == "rejected"
        else:
            block += 1
        if len(examples) < 10:
            examples.append((t.id, t.level.value, new.value))
    return ReplayReport(total=total, changed=changed, would_auto=auto, would_auto_rejected=auto_rej,
                        would_block=block, examples=examples)


