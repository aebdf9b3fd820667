"""Shadow policy: a candidate policy evaluated beside the real one, with no effect on any decision.

Why: a policy change is a guess about what reviewers would do. Run the candidate in the
shadow for a week and the history answers instead: "the candidate would have auto-approved
412 requests, of which reviewers rejected 3".

How it stays cheap and bounded. The gate calls ``ShadowRecorder`` only when a candidate is
set (one ``is not None`` test otherwise). Each call evaluates the candidate (microseconds,
like the real policy) and, only where the two disagree (level or matched rules), updates
an in-memory buffer under a lock:

- an action that made a ticket is remembered by ticket id (at most ``MAX_TICKETS`` per
  flush; reviewers' decisions are joined later, from the tickets themselves);
- an action that made none (``auto``, ``deny``) is counted under its (action, agent, levels,
  rules): at most ``MAX_KEYS`` distinct keys per flush, the rest under one ``(other)`` key.

The gate's engine flushes the buffer every ``interval`` seconds (and on close, and before
insights) as one audit entry of kind ``shadow``: no schema change, hash-chained like
everything else, one small write per interval whatever the traffic. A crash loses at most
the last interval's shadow figures, never a decision.

``compare`` turns observations (from the shadow entries, or from replaying two policies over
stored tickets: ``signoff policy diff``) into one ``PolicyComparison``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signoff._allowances import before_allowance
from signoff._model import Action, Level, Outcome, Ticket, utcnow
from signoff._records import AuditDraft, AuditEntry
from signoff.policy import Policy

__all__ = ["AUDIT_KIND", "Change", "Observation", "PolicyComparison", "ShadowRecorder", "compare",
           "comparison_from_dict", "comparison_to_dict", "flush", "observations_from_audit",
           "observations_from_replay", "run_flusher", "shadow_report"]

AUDIT_KIND = "shadow"
MAX_TICKETS = 5_000
MAX_KEYS = 1_000
_OTHER = "(other)"
_LEVELS = {lv.value: lv for lv in Level}
IsKnown = Callable[[str], bool]


def _disagree(a: Outcome, b: Outcome) -> bool:
    return a.level is not b.level or a.matched_rules != b.matched_rules


class ShadowRecorder:
    """Evaluates a candidate policy beside the gate's own and buffers where they disagree."""

    def __init__(self, policy: Policy, *, interval: float = 5.0) -> None:
        self.policy = policy
        self.interval = interval
        self._lock = threading.Lock()
        self._evaluated = 0
        self._dropped = 0
        self._tickets: list[list[Any]] = []
        self._counts: Counter[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]] = Counter()
        self._since: datetime | None = None

    @property
    def source(self) -> str:
        return str(self.policy.source)

    def candidate(self, action: Action, *, mode: str | None, is_known: IsKnown) -> Outcome:
        """The candidate's outcome; a mode the candidate does not define counts as none."""
        return self.policy.evaluate(action, mode=mode if mode in self.policy.modes else None, is_known=is_known)

    def untracked(self, action: Action, outcome: Outcome, *, mode: str | None, is_known: IsKnown) -> None:
        """An action that makes no ticket (``auto``, ``deny``): counted, by key, where it disagrees."""
        shadow = self.candidate(action, mode=mode, is_known=is_known)
        with self._lock:
            self._evaluated += 1
            if self._since is None:
                self._since = utcnow()
            if not _disagree(outcome, shadow):
                return
            key = (action.name, action.agent, outcome.level.value, shadow.level.value,
                   tuple(outcome.matched_rules), tuple(shadow.matched_rules))
            if key not in self._counts and len(self._counts) >= MAX_KEYS:
                key = (_OTHER, "", outcome.level.value, shadow.level.value, (), ())
            self._counts[key] += 1

    def ticket(self, ticket: Ticket, outcome: Outcome, *, mode: str | None, is_known: IsKnown) -> None:
        """An action that made ``ticket`` (``outcome``: the policy's own word, before an explicit
        submit forced a review): remembered by id where the candidate disagrees. A standing approval's
        ``notify`` counts as the ``approve`` the policy asked for: the candidate is compared with the
        policy, not with the reviewers' allowances (``guard`` passes the outcome after the allowance)."""
        action = ticket.action
        outcome = before_allowance(outcome)
        shadow = self.candidate(action, mode=mode, is_known=is_known)
        with self._lock:
            self._evaluated += 1
            if self._since is None:
                self._since = utcnow()
            if not _disagree(outcome, shadow):
                return
            if len(self._tickets) >= MAX_TICKETS:
                self._dropped += 1
                return
            self._tickets.append([ticket.id, action.name, action.agent, outcome.level.value,
                                  list(outcome.matched_rules), shadow.level.value, list(shadow.matched_rules)])

    def pending(self) -> int:
        """Actions evaluated since the last entry (all in agreement once ``drain`` has run)."""
        with self._lock:
            return self._evaluated

    def drain(self) -> AuditDraft | None:
        """The buffered figures as one audit entry (None when nothing disagreed), and a fresh buffer."""
        with self._lock:
            if not self._evaluated:
                return None
            if not self._tickets and not self._counts and not self._dropped:
                return None  # all agreed: the count waits for the next entry that has news
            data = {
                "candidate": self.source,
                "since": (self._since or utcnow()).isoformat(),
                "until": utcnow().isoformat(),
                "evaluated": self._evaluated,
                "dropped": self._dropped,
                "tickets": self._tickets,
                "untracked": [[name, agent, old, new, list(old_rules), list(new_rules), n]
                              for (name, agent, old, new, old_rules, new_rules), n in self._counts.items()],
            }
            self._evaluated = self._dropped = 0
            self._tickets = []
            self._counts = Counter()
            self._since = None
        return AuditDraft(kind=AUDIT_KIND, actor="shadow", data=data)


# -- reading and comparing -------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Observation:
    """One kind of disagreement: the policy in force said ``old``, the candidate ``new``."""

    action: str
    agent: str
    old: Level
    new: Level
    old_rules: tuple[str, ...] = ()
    new_rules: tuple[str, ...] = ()
    count: int = 1
    ticket_id: str | None = None
    status: str | None = None
    """The ticket's status (how reviewers decided), when a ticket was made and is known."""


@dataclass(frozen=True, kw_only=True)
class Change:
    """Where the two policies disagree: an action, each policy's level and matched rules, how often."""

    action: str
    old_level: str
    old_rules: str
    """The rules matched under the policy in force, comma-separated ("-": none, the default)."""
    new_level: str
    new_rules: str
    count: int


@dataclass(frozen=True, kw_only=True)
class PolicyComparison:
    """What a candidate policy would have done differently, and how reviewers decided those cases."""

    candidate: str
    evaluated: int
    """Actions compared (shadow: evaluated by the gate; diff: stored requests replayed)."""
    disagreed: int
    would_auto: int
    """Needed a human under the policy in force; the candidate lets them run (auto or notify)."""
    would_auto_approved: int
    would_auto_rejected: int
    rejected_ids: list[str]
    """Up to 50 tickets reviewers rejected that the candidate would have let through."""
    would_ask: int
    """Ran without a human (auto or notify); the candidate asks one (approve or suggest)."""
    would_deny: int
    """The candidate refuses outright (deny) what the policy in force did not."""
    transitions: list[tuple[str, str, int]] = field(default_factory=list)
    """(old level, new level, count), most frequent first."""
    changes: list[Change] = field(default_factory=list)
    """The most frequent disagreements by action, levels and rules, at most 20."""
    dropped: int = 0
    """Disagreements the shadow buffer could not hold (counted, not itemised)."""

    def headline(self) -> str:
        rejected = ""
        if self.would_auto_rejected:
            shown = ", ".join(self.rejected_ids[:10])
            more = ", ..." if self.would_auto_rejected > 10 else ""
            rejected = f" ({shown}{more})"
        return (f"the candidate would have auto-approved {self.would_auto} request{_s(self.would_auto)}, of which "
                f"reviewers rejected {self.would_auto_rejected}{rejected}; it would ask a human for "
                f"{self.would_ask} that ran without one and deny {self.would_deny}; {self.disagreed} of "
                f"{self.evaluated} evaluated disagreed")


def comparison_to_dict(c: PolicyComparison) -> dict[str, Any]:
    """The comparison as JSON (the API's ``shadow``, ``--json`` output), with its headline."""
    return {
        "candidate": c.candidate, "evaluated": c.evaluated, "disagreed": c.disagreed,
        "would_auto": c.would_auto, "would_auto_approved": c.would_auto_approved,
        "would_auto_rejected": c.would_auto_rejected, "rejected_ids": list(c.rejected_ids),
        "would_ask": c.would_ask, "would_deny": c.would_deny, "dropped": c.dropped,
        "transitions": [{"from": a, "to": b, "count": n} for a, b, n in c.transitions],
        "changes": [{"action": x.action, "from_level": x.old_level, "from_rules": x.old_rules,
                     "to_level": x.new_level, "to_rules": x.new_rules, "count": x.count} for x in c.changes],
        "headline": c.headline(),
    }


def comparison_from_dict(d: Mapping[str, Any]) -> PolicyComparison:
    return PolicyComparison(
        candidate=str(d["candidate"]), evaluated=int(d["evaluated"]), disagreed=int(d["disagreed"]),
        would_auto=int(d["would_auto"]), would_auto_approved=int(d["would_auto_approved"]),
        would_auto_rejected=int(d["would_auto_rejected"]), rejected_ids=[str(i) for i in d["rejected_ids"]],
        would_ask=int(d["would_ask"]), would_deny=int(d["would_deny"]), dropped=int(d.get("dropped", 0)),
        transitions=[(str(t["from"]), str(t["to"]), int(t["count"])) for t in d.get("transitions", ())],
        changes=[Change(action=str(x["action"]), old_level=str(x["from_level"]), old_rules=str(x["from_rules"]),
                        new_level=str(x["to_level"]), new_rules=str(x["to_rules"]), count=int(x["count"]))
                 for x in d.get("changes", ())])


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def compare(observations: Iterable[Observation], *, candidate: str, evaluated: int, dropped: int = 0,
            ) -> PolicyComparison:
    """Summarise disagreements (see ``PolicyComparison``); pure."""
    disagreed = auto = auto_ok = auto_no = ask = deny = 0
    rejected: list[str] = []
    trans: Counter[tuple[str, str]] = Counter()
    where: Counter[tuple[str, str, str, str, str]] = Counter()
    for o in observations:
        disagreed += o.count
        if o.old is not o.new:
            trans[(o.old.value, o.new.value)] += o.count
        where[(o.action, o.old.value, ", ".join(o.old_rules) or "-", o.new.value,
               ", ".join(o.new_rules) or "-")] += o.count
        if o.old >= Level.APPROVE and o.new <= Level.NOTIFY:
            auto += o.count
            if o.status == "approved":
                auto_ok += o.count
            elif o.status == "rejected":
                auto_no += o.count
                if o.ticket_id is not None and len(rejected) < 50:
                    rejected.append(o.ticket_id)
        elif o.old <= Level.NOTIFY and o.new in (Level.APPROVE, Level.SUGGEST):
            ask += o.count
        if o.new is Level.DENY and o.old is not Level.DENY:
            deny += o.count
    return PolicyComparison(
        candidate=candidate, evaluated=max(evaluated, disagreed), disagreed=disagreed, would_auto=auto,
        would_auto_approved=auto_ok, would_auto_rejected=auto_no, rejected_ids=rejected, would_ask=ask,
        would_deny=deny, transitions=[(a, b, n) for (a, b), n in trans.most_common()],
        changes=[Change(action=a, old_level=ol, old_rules=orr, new_level=nl, new_rules=nr, count=c)
                 for (a, ol, orr, nl, nr), c in where.most_common(20)], dropped=dropped)


def observations_from_audit(entries: Iterable[AuditEntry], tickets: Mapping[str, Ticket], *,
                            candidate: str | None = None) -> tuple[list[Observation], str, int, int]:
    """The shadow entries' disagreements, joined with ``tickets`` (id -> ticket) for the reviewers'
    decisions; also the candidate's name, the actions evaluated and the ones dropped.

    Only entries of one candidate count (``candidate``, else the latest's): figures of another
    candidate are another question.
    """
    shadow = [e for e in entries if e.kind == AUDIT_KIND]
    if candidate is None:
        if not shadow:
            return [], "", 0, 0
        candidate = str(shadow[-1].data.get("candidate", ""))
    out: list[Observation] = []
    evaluated = dropped = 0
    for e in shadow:
        d = e.data
        if str(d.get("candidate", "")) != candidate:
            continue
        evaluated += int(d.get("evaluated", 0))
        dropped += int(d.get("dropped", 0))
        for tid, name, agent, old, old_rules, new, new_rules in d.get("tickets", ()):
            t = tickets.get(tid)
            out.append(Observation(action=name, agent=agent, old=_LEVELS[old], new=_LEVELS[new],
                                   old_rules=tuple(old_rules), new_rules=tuple(new_rules), ticket_id=tid,
                                   status=t.status if t is not None else None))
        for name, agent, old, new, old_rules, new_rules, n in d.get("untracked", ()):
            out.append(Observation(action=name, agent=agent, old=_LEVELS[old], new=_LEVELS[new],
                                   old_rules=tuple(old_rules), new_rules=tuple(new_rules), count=int(n)))
    return out, candidate, evaluated, dropped


def observations_from_replay(tickets: Sequence[Ticket], old: Policy, new: Policy) -> list[Observation]:
    """Replay stored requests under two policies; where they disagree, one observation per ticket.

    Each ticket's own mode is used where a policy defines it; novelty is left out (both policies
    would see the same approved fingerprints, so it cannot tell them apart).
    """
    out = []
    for t in tickets:
        a = old.evaluate(t.action, mode=t.mode if t.mode in old.modes else None)
        b = new.evaluate(t.action, mode=t.mode if t.mode in new.modes else None)
        if _disagree(a, b):
            out.append(Observation(action=t.action.name, agent=t.action.agent, old=a.level, new=b.level,
                                   old_rules=tuple(a.matched_rules), new_rules=tuple(b.matched_rules),
                                   ticket_id=t.id, status=t.status))
    return out


async def flush(recorder: ShadowRecorder, store: Any) -> None:
    """Append the buffered disagreements to ``store``'s audit log as one entry (if any)."""
    draft = recorder.drain()
    if draft is not None:
        await store.append_audit(draft)


async def run_flusher(recorder: ShadowRecorder, store: Any) -> None:
    """Flush every ``recorder.interval`` seconds until cancelled; a store that fails loses that
    interval's shadow figures, never more (the gate fails closed on its own, elsewhere)."""
    import asyncio

    while True:
        await asyncio.sleep(recorder.interval)
        try:
            await flush(recorder, store)
        except Exception:  # shadow figures are best effort; decisions are not touched
            continue


def shadow_report(entries: Iterable[AuditEntry], tickets: Iterable[Ticket], *,
                  live: ShadowRecorder | None = None) -> PolicyComparison | None:
    """The comparison from a store's audit entries and decided tickets: of the candidate running in
    ``live`` (a gate's own, flushed: its figures, none yet included), else of the latest candidate
    recorded; None when there is none."""
    candidate = live.source if live is not None else None
    observations, candidate, evaluated, dropped = observations_from_audit(entries, {t.id: t for t in tickets},
                                                                          candidate=candidate)
    if not candidate:
        return None
    if live is not None:
        evaluated += live.pending()  # agreements since the last entry (it is written on disagreement)
    return compare(observations, candidate=candidate, evaluated=evaluated, dropped=dropped)
