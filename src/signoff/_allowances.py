"""Standing approvals ("approve and always allow"): the record, its checks, and the in-memory index.

Why this exists: when reviewers approve the same kind of request again and again, asking
them trains rubber-stamping. An allowance lets one agent (or, from the top tier, any agent)
repeat one action, optionally within a CEL condition on its arguments, until it expires or
is revoked. A matching request that the policy sends to ``approve`` runs as ``notify`` (in the
feed, the allowance named as the reason). It never lifts ``deny`` or ``suggest``, nor a mode's
``approve``, and it carries only the authority its reviewers had: their lowest tier, and as
many distinct reviewers as it has (a rule asking for two needs an allowance given by two).

The rule for four-eyes rules: an allowance made from a ticket that needs N approvers stands
only once N distinct reviewers have given it (the first ``allow``, then ``confirm_allowance``).

Evaluation reads an ``AllowanceIndex``: active allowances by action name, conditions compiled
once, rebuilt on each change (changes arrive as store events, also from other processes).
Without allowances for an action it costs one dict lookup.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from signoff._errors import UserError
from signoff._model import Action, Level, Outcome, Reason, Ticket, canonical_json, utcnow
from signoff.policy._cel import ConditionSyntaxError, compile_condition

__all__ = [
    "EXPIRIES",
    "Allowance",
    "AllowanceIndex",
    "AllowanceStatus",
    "allowable",
    "before_allowance",
    "check_condition",
    "expiry_of",
    "new_allowance_id",
    "proposal",
    "propose_condition",
    "raised_by_mode",
]

AllowanceStatus = Literal["pending", "active", "expired", "revoked"]
REASON_CODE = "standing_approval"
EXPIRIES: dict[str, timedelta | None] = {"1h": timedelta(hours=1), "1d": timedelta(days=1),
                                         "7d": timedelta(days=7), "never": None}
"""The expiries the inbox offers (``never``: until revoked); ``gate.allow`` also takes any timedelta."""
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def new_allowance_id() -> str:
    return "al_" + secrets.token_hex(8)


@dataclass(frozen=True, kw_only=True)
class Allowance:
    """A standing approval: ``agent`` may run ``action`` (within ``condition``) without asking."""

    id: str
    action: str
    """The action's name, exactly."""
    agent: str | None
    """The one agent it covers; None: any agent (only the policy's top tier may give that)."""
    condition: str | None = None
    """A CEL expression over ``args`` that must be true; None: any arguments."""
    tier: str | None = None
    """The authority it carries: the lowest tier among its reviewers (None: no tier)."""
    required: int = 1
    """How many distinct reviewers must give it before it stands (the source ticket's approvers)."""
    reviewers: tuple[str, ...] = ()
    """Who gave it, in order: the first allowed, the others confirmed."""
    ticket_id: str | None = None
    """The ticket it was given on."""
    created_at: datetime
    expires_at: datetime | None = None
    """None: until revoked."""
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    comment: str = ""
    uses: int | None = None
    """How many requests it let through (its ``allowance_used`` audit entries still in the store); None
    where not counted: ``list_allowances`` counts, the record returned by ``allow``/``revoke`` does not.

    .. versionadded:: 0.2.0"""
    last_used_at: datetime | None = None
    """When it last let a request through (None: never, or not counted)."""

    def status(self, now: datetime | None = None) -> AllowanceStatus:
        """``pending`` (waiting for more reviewers), ``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and (now or utcnow()) >= self.expires_at:
            return "expired"
        return "active" if len(self.reviewers) >= self.required else "pending"

    def describe(self) -> str:
        """One line for people (the feed's reason, the CLI)."""
        who = self.agent if self.agent is not None else "any agent"
        cond = f" when {self.condition}" if self.condition else ""
        until = f" until {self.expires_at:%Y-%m-%d %H:%M} UTC" if self.expires_at else " until revoked"
        return f"{who} may run {self.action}{cond}{until} (allowed by {', '.join(self.reviewers) or 'nobody'})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "agent": self.agent, "condition": self.condition,
                "tier": self.tier, "required": self.required, "reviewers": list(self.reviewers),
                "ticket_id": self.ticket_id, "created_at": self.created_at.isoformat(),
                "expires_at": _iso(self.expires_at), "revoked_at": _iso(self.revoked_at),
                "revoked_by": self.revoked_by, "comment": self.comment, "status": self.status(),
                **({"uses": self.uses, "last_used_at": _iso(self.last_used_at)} if self.uses is not None else {})}

    def to_json(self) -> str:
        data = self.to_dict()
        for derived in ("status", "uses", "last_used_at"):  # never stored
            data.pop(derived, None)
        return canonical_json(data)

    def with_uses(self, uses: Mapping[str, tuple[int, datetime]]) -> Allowance:
        """This allowance with its use count and last use from ``uses`` (``Store.allowance_uses``)."""
        n, last = uses.get(self.id, (0, None))
        return replace(self, uses=n, last_used_at=last)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Allowance:
        from signoff._codec import parse_datetime

        def opt(key: str) -> datetime | None:
            return parse_datetime(data[key]) if data.get(key) else None

        return cls(id=str(data["id"]), action=str(data["action"]), agent=data.get("agent"),
                   condition=data.get("condition") or None, tier=data.get("tier"),
                   required=int(data.get("required") or 1), reviewers=tuple(data.get("reviewers") or ()),
                   ticket_id=data.get("ticket_id"), created_at=parse_datetime(data["created_at"]),
                   expires_at=opt("expires_at"), revoked_at=opt("revoked_at"), revoked_by=data.get("revoked_by"),
                   comment=str(data.get("comment") or ""),
                   uses=int(data["uses"]) if data.get("uses") is not None else None,
                   last_used_at=opt("last_used_at"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def expiry_of(expires: str | timedelta | None, now: datetime) -> datetime | None:
    """When an allowance given ``now`` ends: ``1h``, ``1d``, ``7d``, ``never`` (or None), or a timedelta."""
    if expires is None:
        return None
    if isinstance(expires, timedelta):
        if expires <= timedelta(0):
            raise UserError(f"allowance expiry must be positive, got {expires}")
        return now + expires
    if expires not in EXPIRIES:
        raise UserError(f"unknown allowance expiry {expires!r}: use one of {', '.join(EXPIRIES)}")
    span = EXPIRIES[expires]
    return now + span if span is not None else None


def check_condition(source: str | None) -> str | None:
    """The condition, stripped, once it compiles with the policy's CEL compiler and reads only ``args``;
    a UserError naming the problem and its column otherwise."""
    if source is None or not source.strip():
        return None
    source = source.strip()
    try:
        cond = compile_condition(source)
    except ConditionSyntaxError as exc:
        raise UserError(f"allowance condition, column {exc.column}: {exc.message}") from None
    other = [v for v in cond.variables if v != "args"]
    if other:
        raise UserError(f"allowance condition: it may read only args, not {other[0]!r}")
    return source


def propose_condition(args: Mapping[str, Any], *, seen: Sequence[Mapping[str, Any]] = ()) -> str:
    """A condition from approved arguments: text and booleans must be equal, numbers at most as large.

    ``{"env": "staging", "amount": 120.0}`` gives ``args.amount <= 120.0 && args.env == "staging"``.
    Lists, maps and names that are not identifiers are left out (the reviewer can add them).
    ``seen``: the other approved requests of the same action (``proposal``)."""
    return proposal(args, seen=seen)[0]


def proposal(args: Mapping[str, Any], *, seen: Sequence[Mapping[str, Any]] = ()) -> tuple[str, tuple[str, ...]]:
    """``propose_condition``, and the names it leaves out (any value of them passes: say so).

    With ``seen``, the approved arguments of the same action before ``args``, each name of ``args``
    covers exactly the values approved, never more: a number at most the largest approved of its
    type; a text or boolean one of those approved (``args.env in ["prod", "staging"]``). A text
    that was new in every one of three or more requests (an order number, a version) is left out,
    since pinning it would allow only an exact repeat, and so is a text of more than
    ``_LISTED`` values; those names are returned, to be shown beside the offer."""
    every = [args, *seen]
    parts: list[str] = []
    left: list[str] = []
    for key in sorted(args):
        value = args[key]
        values = [a[key] for a in every if key in a]
        if not _IDENT.fullmatch(key):
            left.append(key)
        elif isinstance(value, bool):
            flags = sorted({v for v in values if isinstance(v, bool)})
            parts.append(f"args.{key} == {_cel_bool(value)}" if len(flags) == 1
                         else f"args.{key} in [{', '.join(_cel_bool(v) for v in flags)}]")
        elif isinstance(value, (int, float)) and math.isfinite(value):
            same = [v for v in values if type(v) is type(value) and math.isfinite(v)]  # CEL: int and double apart
            parts.append(f"args.{key} <= {max(same)!r}")
        elif isinstance(value, str):
            texts = [v for v in values if isinstance(v, str)]
            distinct = sorted(set(texts))
            if len(distinct) == 1:
                parts.append(f"args.{key} == {canonical_json(value)}")
            elif (len(distinct) == len(texts) and len(texts) >= 3) or len(distinct) > _LISTED:
                left.append(key)
            else:
                parts.append(f"args.{key} in [{', '.join(canonical_json(v) for v in distinct)}]")
        else:
            left.append(key)
    return " && ".join(parts), tuple(left)


def _cel_bool(value: bool) -> str:
    return "true" if value else "false"


_LISTED = 10
"""At most this many distinct approved texts are listed in a proposal; more, and the name is left out."""


@dataclass(frozen=True, slots=True)
class _Entry:
    allowance: Allowance
    run: Any  # the compiled condition's ``run`` (None: no condition)
    rank: int  # the carried tier's rank among the policy's tiers (-1: none)
    ends: float  # expires_at as unix time (inf: until revoked): a float compare per match, no datetime
    count: int  # how many reviewers gave it


class AllowanceIndex:
    """Standing allowances by action name, for ``Gate.evaluate``: replaced whole on each change (readers
    never lock; a change is a dict swap)."""

    def __init__(self, tiers: Sequence[str]) -> None:
        self._tiers = list(tiers)
        self._all: dict[str, Allowance] = {}
        self._lock = threading.Lock()
        self.by_action: dict[str, tuple[_Entry, ...]] = {}
        self._people: dict[str, tuple[str | None, bool]] = {}  # reviewer -> (tier, disabled), as last heard
        self.tier_ranks: dict[str | None, int] = {tier: i for i, tier in enumerate(self._tiers)}
        self._lowered: dict[tuple[int, str], tuple[Outcome, Outcome]] = {}
        """(id(outcome), allowance id) -> (outcome, lowered): the policy memoises its outcomes, so the
        same few are lowered again and again; kept with the outcome itself, so a reused id never hits."""

    def load(self, allowances: Iterable[Allowance]) -> None:
        with self._lock:
            self._all = {a.id: a for a in allowances}
            self._rebuild()

    def put(self, allowance: Allowance) -> None:
        with self._lock:
            self._all[allowance.id] = allowance
            self._rebuild()

    def reviewer(self, name: str, *, tier: str | None, disabled: bool) -> None:
        """A reviewer as they are now: an allowance carries only its reviewers' current authority (a
        disabled reviewer no longer counts; a demoted one carries the lower tier)."""
        with self._lock:
            if self._people.get(name) != (tier, disabled):
                self._people[name] = (tier, disabled)
                self._rebuild()

    def _rebuild(self) -> None:
        now = utcnow()
        by: dict[str, list[_Entry]] = {}
        for a in self._all.values():
            if a.status(now) != "active":
                continue
            givers = [r for r in a.reviewers if not self._people.get(r, (None, False))[1]]
            if len(givers) < a.required:
                continue  # a reviewer who gave it was disabled since: it no longer stands
            rank = min(_rank(self._tiers, self._people[r][0]) if r in self._people else _rank(self._tiers, a.tier)
                       for r in givers)
            try:
                run = compile_condition(a.condition).run if a.condition else None
            except ConditionSyntaxError:
                continue  # a stored condition this version cannot compile allows nothing
            ends = a.expires_at.timestamp() if a.expires_at is not None else math.inf
            by.setdefault(a.action, []).append(_Entry(a, run, min(rank, _rank(self._tiers, a.tier)), ends,
                                                      len(givers)))
        self._all = {k: a for k, a in self._all.items() if a.status(now) in ("active", "pending")}
        self.by_action = {k: tuple(v) for k, v in by.items()}
        self._lowered = {}

    def match(self, action: Action, outcome: Outcome, *, tier_rank: int) -> Allowance | None:
        """The first standing allowance that covers ``action`` at ``outcome`` (an ``approve`` needing a tier
        of rank ``tier_rank`` and ``outcome.reviewers.count`` reviewers), or None."""
        entries = self.by_action.get(action.name)
        if not entries:
            return None
        now = time.time()
        for e in entries:
            a = e.allowance
            if a.agent is not None and a.agent != action.agent:
                continue
            if a.agent is None and action.agent in a.reviewers:
                continue  # any agent, but never a reviewer's own requests (as ``may_decide``)
            if now >= e.ends or e.rank < tier_rank or e.count < outcome.reviewers.count:
                continue
            if e.run is not None:
                args = action.args
                try:
                    if e.run({"args": args if type(args) is dict else dict(args)}) is not True:
                        continue
                except Exception:  # a condition that cannot be evaluated allows nothing
                    continue
            return a
        return None

    def lowered(self, outcome: Outcome, allowance: Allowance) -> Outcome:
        """``allowed_outcome``, computed once per memoised outcome and allowance."""
        key = (id(outcome), allowance.id)
        hit = self._lowered.get(key)
        if hit is not None and hit[0] is outcome:
            return hit[1]
        made = allowed_outcome(outcome, allowance)
        if len(self._lowered) > 4096:
            self._lowered = {}
        self._lowered[key] = (outcome, made)
        return made


def _rank(tiers: Sequence[str], tier: str | None) -> int:
    try:
        return list(tiers).index(tier) if tier is not None else -1
    except ValueError:
        return -1


def covers(outcome: Outcome) -> bool:
    """May an allowance lower this outcome? Only an ``approve`` the policy's rules asked for: never
    ``deny``/``suggest``, and never one a mode imposed (a mode is the operator's call for everyone)."""
    return outcome.level is Level.APPROVE and not raised_by_mode(outcome.reasons)


def allowable(ticket: Ticket) -> bool:
    """May this ticket be approved and allowed standing (what the inbox and Slack offer): a pending
    request for approval whose ``approve`` an allowance could lower (``covers``)."""
    return (ticket.kind == "approval" and ticket.status == "pending" and ticket.level is Level.APPROVE
            and not raised_by_mode(ticket.reasons))


def raised_by_mode(reasons: Iterable[Reason]) -> bool:
    """Did a mode ask for the ``approve`` (not the policy's rules)?"""
    return any(r.code == "mode" and r.level is Level.APPROVE for r in reasons)


def allowed_outcome(outcome: Outcome, allowance: Allowance) -> Outcome:
    """``outcome`` lowered to ``notify`` with the allowance named as the deciding reason."""
    reason = Reason(code=REASON_CODE, rule=outcome.matched_rules[0] if outcome.matched_rules else None,
                    level=Level.NOTIFY,
                    message=f"Allowed without asking by standing approval {allowance.id}: {allowance.describe()}")
    return replace(outcome, level=Level.NOTIFY, reasons=(*outcome.reasons, reason))


def before_allowance(outcome: Outcome) -> Outcome:
    """The policy's own outcome of one a standing approval lowered (``allowed_outcome`` undone: the
    ``approve`` it asked for, without the allowance's reason); any other outcome as it is. A shadow
    policy compares with this, so an allowance is never taken for the policy disagreeing."""
    reasons = outcome.reasons
    if outcome.level is not Level.NOTIFY or not reasons or reasons[-1].code != REASON_CODE:
        return outcome
    return replace(outcome, level=Level.APPROVE, reasons=reasons[:-1])


def allowance_of(reasons: Iterable[Reason]) -> str | None:
    """The id of the allowance that let a request through (from its reasons), if one did."""
    for r in reasons:
        if r.code == REASON_CODE:
            return r.message.split("standing approval ", 1)[1].split(":", 1)[0]
    return None
