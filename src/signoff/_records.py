"""The records the gate, the review rules, the audit chain and the stores share.

They live here, below all of them, so that ``review`` and ``audit`` can build and read
them without importing the storage package (which imports them back). The storage
codec (records to rows and JSON) stays in ``store/_records.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from signoff._model import Ticket

__all__ = [
    "AuditDraft",
    "AuditEntry",
    "Change",
    "Event",
    "NotificationRecord",
    "OutboxClaim",
    "OutboxResult",
    "Reviewer",
    "StoredState",
    "TicketQuery",
    "TokenRecord",
]


@dataclass(frozen=True, kw_only=True)
class Reviewer:
    """A person who may decide tickets, with a tier from the policy's ``tiers`` list."""

    name: str
    tier: str | None = None
    password_hash: str | None = None
    disabled: bool = False
    email: str | None = None
    """Where the email channel reaches them (and how a one-click link knows who they are)."""
    slack_id: str | None = None
    """Their Slack user id (``U123...``): a button pressed in Slack decides as this reviewer."""


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    """An API token, stored hashed; ``kind`` says whether it speaks for an agent or a reviewer."""

    token_hash: str
    kind: Literal["agent", "reviewer"]
    name: str
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True, kw_only=True)
class StoredState:
    """The agent's state saved with a ticket: JSON, or raw bytes (a framework's serialized run)."""

    kind: Literal["json", "bytes"]
    data: bytes

    def value(self) -> Any:
        return json.loads(self.data) if self.kind == "json" else self.data


@dataclass(frozen=True, kw_only=True)
class TicketQuery:
    """Filters for listing tickets; None means any."""

    status: str | tuple[str, ...] | None = None
    kind: str | None = None
    agent: str | None = None
    action: str | None = None
    group: str | None = None
    batch: str | None = None
    idempotency_key: str | None = None
    limit: int = 500
    offset: int = 0
    newest_first: bool = False


@dataclass(frozen=True, kw_only=True)
class AuditDraft:
    """An audit entry to append in the same transaction as the change it records."""

    kind: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ticket_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One link of the hash chain: ``hash`` covers every other field, ``prev_hash`` links back."""

    seq: int
    at: str
    kind: str
    ticket_id: str | None
    actor: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """What a transition wants written: the new ticket, its audit entries, a fingerprint learnt."""

    ticket: Ticket
    audit: tuple[AuditDraft, ...] = ()
    learn_fingerprint: str | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    """A committed change, as waiters and live pages see it (built from the audit entry)."""

    seq: int
    kind: str
    ticket_id: str | None
    data: Mapping[str, Any]


OutboxStatus = Literal["pending", "delivered", "failed", "skipped"]


@dataclass(frozen=True, kw_only=True)
class OutboxClaim:
    """A notification a deliverer has leased: send it, then record an ``OutboxResult``."""

    id: str
    event: str
    channel: str
    ticket_id: str
    coalesce_key: str | None
    created_at: datetime
    attempts: int
    extra: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class OutboxResult:
    """How one delivery attempt went; ``pending`` with a later ``due_at`` is a retry."""

    id: str
    status: OutboxStatus
    attempts: int
    due_at: datetime
    delivered_at: datetime | None = None
    message_id: str | None = None
    """The notification whose message carried this one (itself, or the first of a coalesced group)."""
    ref: str | None = None
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationRecord:
    """One notification as the ticket page and ``signoff notifications list`` show it."""

    id: str
    event: str
    channel: str
    ticket_id: str
    status: OutboxStatus
    attempts: int
    created_at: datetime
    due_at: datetime
    delivered_at: datetime | None
    message_id: str | None
    ref: str | None
    detail: str
