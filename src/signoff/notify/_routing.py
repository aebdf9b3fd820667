"""Which notifications an event causes: pure, applied to the audit log by the outbox's expansion.

Every ticket event is an audit entry written in the event's own transaction (DESIGN.md,
"Audit"): that entry is the outbox record, so a submission or a decision writes nothing more
and pays nothing for notifications. The deliverer expands entries past its cursor into one
row per channel (``store._outbox``), calling ``Router.drafts(entry, ticket)``; nothing here
does I/O. Ids are derived from the entry's hash, so two servers expanding the same entry write
the same rows once. A route's ``match`` is read as a rule's is: names or globs, every key
given must hold. An escalation's entry names the new tier, so "to the next tier's routes"
needs no special case.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from signoff._model import Ticket
from signoff.policy._notifications import NotificationRoute, Notifications

__all__ = ["EVENT_OF_ENTRY", "Draft", "Router", "event_of"]

EVENT_OF_ENTRY = {
    "submitted": "created", "notified": "created", "suggested": "created",
    "retried": "created",  # on_timeout: retry re-notifies the same routes
    "approved": "decided", "rejected": "decided", "done": "decided", "dismissed": "decided",
    "escalated": "escalated", "expired": "expired", "aborted": "aborted", "cancelled": "cancelled",
}
"""Audit entry kind -> the event it is. Other kinds (a first approval of two, a flag, an execution
claim, a mode switch) tell nobody anything."""


@dataclass(frozen=True)
class Draft:
    """One notification to write to the outbox: an event about a ticket, for one channel."""

    id: str
    event: str
    """``ticket.created``, ``ticket.decided``..."""
    channel: str
    ticket_id: str
    due_at: datetime
    """Not before: now, the end of a coalescing window, or (``expiring``) the warning's time."""
    coalesce_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def event_of(kind: str, data: Mapping[str, Any]) -> str | None:
    """The event an audit entry is (``created``, ``decided``, ...), or None."""
    if kind == "approved" and data.get("status", "approved") != "approved":
        return None
    return EVENT_OF_ENTRY.get(kind)


def _holds(route: NotificationRoute, t: Ticket) -> bool:
    m = route.match
    if m is None:
        return True

    def glob(patterns: Sequence[str] | None, value: str) -> bool:
        return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)

    return (glob(m.action, t.action.name) and glob(m.agent, t.action.agent)
            and (m.rule is None or any(r in m.rule for r in t.rules))
            and (m.tier is None or t.tier in m.tier)
            and (m.level is None or t.level in m.level)
            and (m.reason is None or any(r.code in m.reason for r in t.reasons)))


class Router:
    """The ``notifications:`` section, applied to events."""

    def __init__(self, spec: Notifications) -> None:
        self.spec = spec
        self._default_events = frozenset(spec.events)

    def channels_for(self, event: str, ticket: Ticket) -> list[str]:
        """Every channel of every route whose match holds and which wants this event, once each."""
        out: list[str] = []
        for route in self.spec.routes:
            events = frozenset(route.events) if route.events is not None else self._default_events
            if event in events and _holds(route, ticket):
                out.extend(c for c in route.to or () if c not in out)
        return out

    def drafts(self, kind: str, data: Mapping[str, Any], key: str, ticket: Ticket, at: datetime) -> list[Draft]:
        """The notifications the audit entry (``kind``, ``data``; ``key`` its hash) about ``ticket``
        causes, as of ``at`` (when it happened); none when nobody is routed to hear of it."""
        event = event_of(kind, data)
        if event is None:
            return []
        extra: dict[str, Any] = {}
        if "tier" in data and data["tier"] != ticket.tier:
            # Route by the tier of that moment (created, escalated), even if the ticket moved on since.
            ticket = ticket.evolve(tier=data["tier"])
        if event == "escalated":
            extra["escalated_to"] = ticket.tier
        if event == "decided" and isinstance(data.get("via"), str):
            extra["decided_via"] = data["via"]
        hold = self.spec.coalesce if event == "created" and kind != "notified" else timedelta(0)
        out = [Draft(id=_event_id(key, event, channel), event=f"ticket.{event}", channel=channel,
                     ticket_id=ticket.id, due_at=at + hold,
                     coalesce_key=f"{channel}\x1f{ticket.group_key}" if hold else None, extra=dict(extra))
               for channel in self.channels_for(event, ticket)]
        deadline = _deadline(data) if kind in ("submitted", "escalated", "retried") else None
        if deadline is not None:
            out.extend(self._expiring(ticket, key, at, deadline))
        return out

    def _expiring(self, t: Ticket, key: str, at: datetime, deadline: datetime) -> list[Draft]:
        """A warning when ``expiring_at`` of the time to the deadline has passed; dropped at delivery
        if by then the ticket is decided or its deadline moved (``extra.deadline`` says which it warns of)."""
        when = at + (deadline - at) * self.spec.expiring_at
        return [Draft(id=_event_id(key, "expiring", channel), event="ticket.expiring", channel=channel,
                      ticket_id=t.id, due_at=when, extra={"deadline": deadline.isoformat()})
                for channel in self.channels_for("expiring", t)]


def _deadline(data: Mapping[str, Any]) -> datetime | None:
    value = data.get("deadline")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _event_id(key: str, event: str, channel: str) -> str:
    """The same for the same entry, event and channel: a second expansion writes nothing new."""
    return "evt_" + hashlib.sha256(f"{key}\x1f{event}\x1f{channel}".encode()).hexdigest()[:24]
