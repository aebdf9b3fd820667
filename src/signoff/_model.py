"""The values signoff passes around: actions, levels, reasons, outcomes, decisions, tickets.

All are frozen: a stored record never changes in place; use ``evolve()`` for a changed copy.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from signoff._errors_root import UserError
from signoff._limits import check_action_fields

__all__ = [
    "Action",
    "Decision",
    "DecisionStatus",
    "Level",
    "Outcome",
    "Reason",
    "ReviewersRequired",
    "Ticket",
    "TicketStatus",
    "canonical_json",
    "deciding_reasons",
    "explain",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text (digests)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Level(enum.StrEnum):
    """Where an action sits on the autonomy spectrum; compares least to most restrictive."""

    AUTO = "auto"
    NOTIFY = "notify"
    APPROVE = "approve"
    SUGGEST = "suggest"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return _RANK[self] >= _RANK[other]

    def __str__(self) -> str:
        return self.value

    @property
    def needs_human(self) -> bool:
        """True for ``approve``: the agent must wait for a person."""
        return self is Level.APPROVE


_RANK = {lvl: i for i, lvl in enumerate(Level)}

_UNCHECKED: ContextVar[bool] = ContextVar("signoff_action_unchecked", default=False)
"""Set while an Action is rebuilt from a store or a server's answer (see ``Action.from_dict``)."""


@dataclass(frozen=True, kw_only=True)
class Action:
    """What an agent wants to do, with everything a reviewer needs to judge it.

    Everything here except ``name``, ``args``, ``tags``, ``external`` and ``agent`` is the
    agent's own words: it may be wrong or adversarial, and the inbox shows it as such.
    """

    name: str
    """The tool or operation, e.g. ``deploy_production`` or ``iam.grant``."""
    args: Mapping[str, Any] = field(default_factory=dict)
    """The arguments the action would run with (JSON-serialisable)."""
    confidence: float | None = None
    """The agent's confidence in [0, 1]; below the threshold a human is asked."""
    reasoning: str = ""
    """Why the agent wants to do it."""
    alternatives: tuple[str, ...] = ()
    """What else the agent considered."""
    tags: frozenset[str] = frozenset()
    """Labels rules can match on (``financial``, ``production``...)."""
    external: bool = False
    """True when the action affects systems outside the agent's boundary."""
    agent: str = ""
    """Which agent asks."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """Anything else conditions may look at (environment, user, run id...)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise _user_error("Action.name must be a non-empty string")
        if not isinstance(self.args, Mapping):
            raise _user_error(f"Action.args must be a mapping, got {type(self.args).__name__}")
        if self.confidence is not None:
            if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float)):
                raise _user_error("Action.confidence must be a number between 0 and 1")
            if not 0.0 <= float(self.confidence) <= 1.0:
                raise _user_error(f"Action.confidence must be between 0 and 1, got {self.confidence}")
        for fname in ("reasoning", "agent"):
            if not isinstance(getattr(self, fname), str):
                raise _user_error(f"Action.{fname} must be a string, got {type(getattr(self, fname)).__name__}")
        if not isinstance(self.external, bool):
            raise _user_error(f"Action.external must be true or false, got {self.external!r}")
        if not isinstance(self.context, Mapping):
            raise _user_error(f"Action.context must be a mapping, got {type(self.context).__name__}")
        if isinstance(self.tags, str):
            raise _user_error("Action.tags must be a collection of strings, not one string")
        object.__setattr__(self, "tags", frozenset(self.tags))
        if isinstance(self.alternatives, str):
            object.__setattr__(self, "alternatives", (self.alternatives,))
        else:
            object.__setattr__(self, "alternatives", tuple(self.alternatives))
        object.__setattr__(self, "args", dict(self.args))
        object.__setattr__(self, "context", dict(self.context))
        if not _UNCHECKED.get():
            # The bounds of signoff._limits: every door makes an Action, so every door refuses
            # a value too deep or too large, or an integer it would have to round.
            check_action_fields(name=self.name, agent=self.agent, reasoning=self.reasoning,
                                alternatives=self.alternatives, tags=self.tags, args=self.args,
                                context=self.context)

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"args={dict(self.args)!r}"]
        if self.agent:
            parts.append(f"agent={self.agent!r}")
        if self.confidence is not None:
            parts.append(f"confidence={self.confidence}")
        if self.tags:
            parts.append(f"tags={sorted(self.tags)!r}")
        if self.external:
            parts.append("external=True")
        return f"Action({', '.join(parts)})"

    def evolve(self, **changes: Any) -> Action:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The action as JSON (``signoff._codec``'s, as a store keeps it: nothing bounded)."""
        return RECORD_DUMPS["action"](self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, check_limits: bool = True) -> Action:
        """An Action from its dict. ``check_limits=False`` is for what was already accepted once
        (a store's record, a server's answer): written before the limits existed, it must still load."""
        if not check_limits:
            token = _UNCHECKED.set(True)
            try:
                return cls.from_dict(data)
            finally:
                _UNCHECKED.reset(token)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise _user_error(
                f"unknown action field(s) {sorted(unknown)}; valid fields are {sorted(known)}"
            )
        if "name" not in data:
            raise _user_error("an action needs a 'name'")
        return cls(**dict(data))

    @classmethod
    def _unchecked(cls, **fields: Any) -> Action:
        """An Action without the size limits (tests that play an older version's stored tickets)."""
        return cls.from_dict(fields, check_limits=False)

    def digest(self) -> str:
        """SHA-256 of what would execute (name, args, agent): binds a decision to what was seen."""
        body = canonical_json({"name": self.name, "args": dict(self.args), "agent": self.agent})
        return hashlib.sha256(body.encode()).hexdigest()


RECORD_DUMPS: dict[str, Callable[[Any], dict[str, Any]]] = {}
"""Each record's JSON, installed by ``signoff._codec`` when it loads (it derives them from the dataclasses
here, so this module cannot import it: one definition of each record's JSON, and no import circle)."""


def _user_error(message: str) -> Exception:
    return UserError(message)


ReasonCode = Literal[
    "high_risk_action",
    "low_confidence",
    "external_impact",
    "policy_boundary",
    "novel_action",
    "mode",
    "default",
    "condition_error",
]


@dataclass(frozen=True, kw_only=True)
class Reason:
    """Why an action got its level, in words a reviewer can read."""

    code: str
    """One of the reason codes in DESIGN.md (``high_risk_action``, ``low_confidence``...)."""
    rule: str | None = None
    """The policy rule that gave this reason, if any."""
    message: str = ""
    """The explanation, for people."""
    level: Level = Level.AUTO
    """The level this reason asks for."""

    def __repr__(self) -> str:
        where = f" [{self.rule}]" if self.rule else ""
        return f"<Reason {self.code}{where} -> {self.level.value}: {self.message}>"

    def to_dict(self) -> dict[str, Any]:
        return RECORD_DUMPS["reason"](self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(
            code=data["code"], rule=data.get("rule"), message=data.get("message", ""),
            level=Level(data.get("level", "auto")),
        )


def deciding_reasons(reasons: Iterable[Reason], level: Level) -> tuple[Reason, ...]:
    """The reasons that put an action at ``level`` (all of them if none names that level).

    An outcome keeps every rule that matched, but the words an agent reads must not mix
    levels: a denied call told "a human must approve it first" asks for an approval
    that can never be given.
    """
    every = tuple(reasons)
    return tuple(r for r in every if r.level is level) or every


def explain(reasons: Iterable[Reason], level: Level) -> str:
    """The deciding reasons' messages as one sentence list (see :func:`deciding_reasons`)."""
    return " ".join(_sentence(r.message) for r in deciding_reasons(reasons, level) if r.message)


def _sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else message + "."


OnTimeout = Literal["escalate", "retry", "abort"]


@dataclass(frozen=True, kw_only=True)
class ReviewersRequired:
    """Who must decide: a minimum tier and how many distinct approvers."""

    tier: str | None = None
    count: int = 1

    def __repr__(self) -> str:
        return f"<Reviewers {self.count} x {self.tier or 'any tier'}>"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the policy decided for one action, and why."""

    level: Level
    reasons: tuple[Reason, ...] = ()
    matched_rules: tuple[str, ...] = ()
    """Every rule whose match (and condition) held, in policy order."""
    near_misses: tuple[str, ...] = ()
    """Rules whose match held but whose condition was false."""
    reviewers: ReviewersRequired = field(default_factory=ReviewersRequired)
    timeout: timedelta | None = None
    on_timeout: OnTimeout = "escalate"
    retries: int = 0
    mode: str | None = None
    fingerprint: str = ""
    novel: bool = False
    require_reasoning: bool = False

    @property
    def needs_human(self) -> bool:
        return self.level is Level.APPROVE

    @property
    def allowed(self) -> bool:
        """May the agent act without waiting (auto or notify)?"""
        return self.level <= Level.NOTIFY

    @property
    def explanation(self) -> str:
        """Why the action is at its level, naming only the reasons for that level."""
        return explain(self.reasons, self.level)

    def __repr__(self) -> str:
        rules = ", ".join(self.matched_rules) or "no rule"
        extra = ""
        if self.level is Level.APPROVE:
            extra = f", {self.reviewers.count} x {self.reviewers.tier or 'any'}"
            if self.timeout:
                extra += f", timeout {self.timeout}, then {self.on_timeout}"
        return f"<Outcome {self.level.value} ({rules}){extra}: {'; '.join(r.message for r in self.reasons)}>"

    def to_dict(self) -> dict[str, Any]:
        """The outcome as the API's ``POST /evaluate`` sends it (every field, and ``needs_human``)."""
        return RECORD_DUMPS["outcome"](self)


TicketStatus = Literal["pending", "approved", "rejected", "expired", "aborted", "cancelled",
                       "notified", "flagged", "suggested", "done", "dismissed"]
DecisionStatus = Literal["approved", "rejected", "expired", "aborted", "cancelled",
                         "auto", "notified", "suggested", "denied"]
ExecutionStatus = Literal["none", "executing", "executed", "failed", "unknown", "not_run"]
Resolution = Literal["ran", "not_run", "reapprove"]
"""What a reviewer records about a run in doubt: it ran, it did not, or it did not and may run again."""
TicketKind = Literal["approval", "notification", "suggestion"]


@dataclass(frozen=True, kw_only=True)
class Decision:
    """How an action ended: may the agent act, with which arguments, and why."""

    status: DecisionStatus
    """approved, rejected, expired, aborted, cancelled, auto, notified, suggested or denied."""
    approved: bool
    """May the agent act now?"""
    action: Action
    """The action to execute: the reviewer's edited version when they edited it."""
    feedback: str = ""
    """The reviewer's words to the agent."""
    explanation: str = ""
    """signoff's words: why it ended so (a timeout, a denial...)."""
    reviewers: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    level: Level = Level.AUTO
    ticket_id: str | None = None
    edited: bool = False
    """True when the reviewer changed the arguments."""
    created_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.action.args)

    def __repr__(self) -> str:
        who = f" by {', '.join(self.reviewers)}" if self.reviewers else ""
        tid = f" {self.ticket_id}" if self.ticket_id else ""
        edited = " (edited)" if self.edited else ""
        words = self.feedback or self.explanation
        return f"<Decision{tid} {self.status}{who}{edited}{': ' + words if words else ''}>"


@dataclass(frozen=True, kw_only=True)
class Ticket:
    """A request for a human, as stored: the action, why, who may decide, and how it ended."""

    id: str
    kind: TicketKind
    action: Action
    status: TicketStatus
    level: Level
    reasons: tuple[Reason, ...] = ()
    rules: tuple[str, ...] = ()
    tier: str | None = None
    required_approvals: int = 1
    approvals: tuple[str, ...] = ()
    deadline: datetime | None = None
    timeout_seconds: float | None = None
    on_timeout: OnTimeout = "escalate"
    retries_left: int = 0
    escalations: int = 0
    group_key: str = ""
    batch_id: str | None = None
    idempotency_key: str | None = None
    digest: str = ""
    fingerprint: str = ""
    mode: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: tuple[str, ...] = ()
    feedback: str = ""
    explanation: str = ""
    edited_args: Mapping[str, Any] | None = None
    approved_digest: str | None = None
    execution: ExecutionStatus = "none"
    executor: str | None = None
    """The gate instance that claimed the execution (to tell a crash from a concurrent run)."""
    claim_id: str | None = field(default=None, metadata={"omit_none": True})
    """The caller's id for the claim holding the run (one per execute attempt): a retry with the same
    id is answered with the same claim, so a caller whose answer was lost still runs the action."""
    lease_until: datetime | None = field(default=None, metadata={"omit_none": True})
    """When the claimed run's budget ends: still ``executing`` then, the run becomes ``unknown``."""
    has_state: bool = False

    def __post_init__(self) -> None:
        for name in ("created_at", "decided_at", "deadline", "lease_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"Ticket.{name} must be timezone-aware")

    def evolve(self, **changes: Any) -> Ticket:
        return dataclasses.replace(self, **changes)

    @property
    def is_pending(self) -> bool:
        return self.status == "pending"

    @property
    def executable_action(self) -> Action:
        """The action a run of this approval executes: the edited version when edited."""
        if self.edited_args is not None:
            return self.action.evolve(args=dict(self.edited_args))
        return self.action

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.kind} {self.status} {self.action.name} agent={self.action.agent!r}>"


def seconds(td: timedelta | None) -> float | None:
    return td.total_seconds() if td is not None else None


def tuple_of(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)
