"""Learning from decisions: rates per rule and action, recommendations, and policy replay.

Pure functions over decided tickets, so every store gives the same answers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from signoff._model import Level, Ticket
from signoff._records import AuditEntry
from signoff._shadow import PolicyComparison

if TYPE_CHECKING:
    from signoff.policy import Policy

__all__ = ["QUICK_SECONDS", "Insights", "PolicyComparison", "Recommendation", "ReplayReport", "ReviewerStat",
           "StandingOption", "Stat", "compute_insights", "replay", "reviewer_stats", "standing_options",
           "visible_reviewers", "with_changes"]

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
    change: str = ""
    """The policy change it means: a unified diff against the policy file (a YAML snippet when the
    policy is not a file); '' when it means none (fix the agent, add reviewers). Never applied by signoff.

    .. versionadded:: 0.2.0"""
    replay: str = ""
    """What that change would have done with the decided requests (a ``ReplayReport``, in words).

    .. versionadded:: 0.2.0"""


QUICK_SECONDS = 2.0
"""An approval given within this many seconds of opening the ticket's page counts as a rubber stamp."""


@dataclass(frozen=True, kw_only=True)
class ReviewerStat:
    """One reviewer's side of the loop, from the decisions' audit entries."""

    name: str
    decisions: int
    approved: int
    """Approvals, a first approval of several (four eyes) included."""
    rejected: int
    timed: int
    """Decisions made from the ticket's page, whose time since opening it is known."""
    timed_approvals: int
    quick_approvals: int
    """Approvals given within ``QUICK_SECONDS`` of opening the ticket's page."""
    median_seconds_open: float | None
    """Median time from opening the ticket's page to deciding, over the timed decisions."""

    @property
    def approval_rate(self) -> float:
        return self.approved / self.decisions if self.decisions else 0.0

    @property
    def quick_share(self) -> float | None:
        """Share of timed approvals that were quick (None when none was timed)."""
        return self.quick_approvals / self.timed_approvals if self.timed_approvals else None


def reviewer_stats(entries: Iterable[AuditEntry]) -> list[ReviewerStat]:
    """Per reviewer figures from the audit log (``approved``, ``approval``, ``rejected`` entries), most
    decisions first. Pure, like the rest: every store gives the same answer."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # approved, rejected, timed approvals, quick
    times: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        if e.kind not in ("approved", "approval", "rejected"):
            continue
        name = str(e.data.get("reviewer") or e.actor)
        c = counts[name]
        approve = e.kind != "rejected"
        c[0 if approve else 1] += 1
        seen = e.data.get("seen_for")
        if isinstance(seen, (int, float)) and not isinstance(seen, bool):
            times[name].append(float(seen))
            if approve:
                c[2] += 1
                c[3] += seen < QUICK_SECONDS
    stats = [ReviewerStat(name=n, decisions=c[0] + c[1], approved=c[0], rejected=c[1], timed=len(times[n]),
                          timed_approvals=c[2], quick_approvals=c[3],
                          median_seconds_open=statistics.median(times[n]) if times[n] else None)
             for n, c in counts.items()]
    return sorted(stats, key=lambda s: (-s.decisions, s.name))


def visible_reviewers(stats: Sequence[ReviewerStat], viewer: str, viewer_tier: str | None,
                      tiers: Sequence[str]) -> list[ReviewerStat]:
    """What ``viewer`` may see of ``stats``: their own figures; everyone's for the policy's top tier
    (its last; everyone when it names no tiers), as for switching modes. Every door asks this one rule."""
    if not tiers or viewer_tier == tiers[-1]:
        return list(stats)
    return [s for s in stats if s.name == viewer]


@dataclass(frozen=True, kw_only=True)
class Insights:
    rules: list[Stat]
    actions: list[Stat]
    recommendations: list[Recommendation]
    timeline: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    """Per rule: (day, approved, decided) in date order, for the approval-rate chart."""
    total: int = 0
    shadow: PolicyComparison | None = None
    """Where the shadow policy (``signoff serve --shadow-policy``) disagreed, when one ran.

    .. versionadded:: 0.2.0"""
    reviewers: list[ReviewerStat] = field(default_factory=list)
    """Per reviewer: decisions, approval rate, time from opening a ticket to deciding, rubber stamps.

    .. versionadded:: 0.2.0"""


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


def with_changes(report: Insights, policy: Policy, tickets: Sequence[Ticket]) -> Insights:
    """``report`` with each recommendation's policy change and its replay against ``tickets``."""
    from signoff.policy._advice import level_change

    recs = []
    for r in report.recommendations:
        change = level_change(policy, r.rule, r.suggest_level) if r.rule else None
        if change is not None:
            r = replace(r, change=change.diff or change.snippet, replay=str(replay(tickets, change.policy.evaluate)))
        recs.append(r)
    return replace(report, recommendations=recs)


@dataclass(frozen=True, kw_only=True)
class StandingOption:
    """A standing approval that would answer a "consider `notify`" recommendation for one agent only.

    .. versionadded:: 0.2.0"""

    rule: str
    agent: str
    action: str
    approved: int
    """How many of the rule's requests of this action by this agent reviewers approved."""
    ticket_id: str
    """Its latest approved request: what ``gate.allow`` starts from."""
    condition: str
    """What the approved arguments (as approved, edits included) had: each name bounded to the values
    approved (``signoff._allowances.proposal``)."""
    left_out: tuple[str, ...] = ()
    """Names any value of which passes (a text new in every request, like an order number): shown
    beside the offer."""


def standing_options(report: Insights, tickets: Iterable[Ticket], *,
                     per_rule: int = 3) -> dict[str, list[StandingOption]]:
    """For each rule recommended for ``notify``, the agents (and actions) whose approvals made it, most
    approved first: allowing one of them standing loosens the policy for that agent and action alone,
    within a condition drawn from all its approved requests. No offer is made without a condition (it
    would allow any arguments: the ticket's page is the place for that), nor with one that would
    carry hidden characters (the reviewer could not see what they allow)."""
    from signoff._allowances import proposal
    from signoff._text import has_hidden

    wanted = {r.rule for r in report.recommendations if r.rule and r.suggest_level is Level.NOTIFY}
    approved: dict[tuple[str, str, str], list[Ticket]] = defaultdict(list)
    for t in tickets:
        if t.kind != "approval" or t.status != "approved" or not t.action.agent:
            continue
        for rule in wanted.intersection(t.rules):
            approved[(rule, t.action.agent, t.executable_action.name)].append(t)
    out: dict[str, list[StandingOption]] = {}
    for (rule, agent, action), made in sorted(approved.items(), key=lambda kv: -len(kv[1])):
        made.sort(key=lambda t: t.decided_at or t.created_at)
        latest = made[-1]
        condition, left_out = proposal(latest.executable_action.args,
                                       seen=[t.executable_action.args for t in made[:-1]])
        if not condition or has_hidden(condition) or len(out.get(rule, [])) >= per_rule:
            continue
        out.setdefault(rule, []).append(StandingOption(rule=rule, agent=agent, action=action, approved=len(made),
                                                       ticket_id=latest.id, condition=condition,
                                                       left_out=left_out))
    return out
