"""Which notifications an event causes: pure, so the store writes them in the event's own transaction.

The store calls ``Router.drafts(before, after, now)`` for every ticket it inserts (``before`` is
None) or changes, inside the write transaction, and writes what comes back into its outbox.
Nothing here does I/O. A route's ``match`` is read as a rule's is: names or globs, every key
given must hold. An escalated ticket carries its new tier, so "to the next tier's routes"
needs no special case.
"""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from signoff._model import Ticket
from signoff.policy._notifications import NotificationRoute, Notifications

__all__ = ["Draft", "Router", "event_of"]

_ENDS = {"approved": "decided", "rejected": "decided", "done": "decided", "dismissed": "decided",
         "expired": "expired", "aborted": "aborted", "cancelled": "cancelled"}
_WAITING = ("pending", "suggested")


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


def event_of(before: Ticket | None, after: Ticket) -> str | None:
    """The event a write is (``created``, ``decided``, ...), or None for one nobody is told about
    (an execution claim, a flag, a second approval of a four-eyes ticket still pending)."""
    if before is None:
        return "created" if after.status in (*_WAITING, "notified") else None
    if before.status in _WAITING and after.status in _ENDS:
        return _ENDS[after.status]
    if after.status == "pending" and after.escalations > before.escalations:
        return "escalated"
    if after.status == "pending" and after.retries_left < before.retries_left:
        return "created"  # on_timeout: retry re-notifies the same routes
    return None


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

    def drafts(self, before: Ticket | None, after: Ticket, now: datetime) -> list[Draft]:
        """The notifications this write causes (none when nobody is routed to hear of it)."""
        event = event_of(before, after)
        if event is None:
            return []
        out: list[Draft] = []
        extra: dict[str, Any] = {}
        if event == "escalated":
            extra["escalated_to"] = after.tier
        hold = self.spec.coalesce if event == "created" and after.status in _WAITING else timedelta(0)
        for channel in self.channels_for(event, after):
            key = f"{channel}\x1f{after.group_key}" if hold else None
            out.append(Draft(id=_new_id(), event=f"ticket.{event}", channel=channel, ticket_id=after.id,
                             due_at=now + hold, coalesce_key=key, extra=dict(extra)))
        if event in ("created", "escalated") and after.status == "pending" and after.deadline is not None:
            out.extend(self._expiring(after, now))
        return out

    def _expiring(self, t: Ticket, now: datetime) -> list[Draft]:
        """A warning when ``expiring_at`` of the time to the deadline has passed; dropped at delivery
        if by then the ticket is decided or its deadline moved (``extra.deadline`` says which it warns of)."""
        assert t.deadline is not None
        at = now + (t.deadline - now) * self.spec.expiring_at
        return [Draft(id=_new_id(), event="ticket.expiring", channel=channel, ticket_id=t.id, due_at=at,
                      extra={"deadline": t.deadline.isoformat()})
                for channel in self.channels_for("expiring", t)]


def _new_id() -> str:
    return "evt_" + secrets.token_urlsafe(16)
