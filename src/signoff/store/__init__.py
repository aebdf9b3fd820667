"""Stores: one protocol, an embedded SQLite default and PostgreSQL for several servers.

``open_store(url)`` picks the implementation from the URL. Every store passes the
same contract test suite (tests/contract).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from signoff._errors import UserError
from signoff._model import Ticket
from signoff._records import NotificationRecord, OutboxClaim, OutboxResult
from signoff.store._archive import ArchivePlan
from signoff.store._notify import Notifier
from signoff.store._records import (
    AuditDraft,
    AuditEntry,
    Change,
    Event,
    Reviewer,
    StoredState,
    TicketQuery,
    TokenRecord,
)

if TYPE_CHECKING:
    from signoff._allowances import Allowance
    from signoff.notify._routing import Router

__all__ = [
    "AuditDraft",
    "AuditEntry",
    "Change",
    "Event",
    "NewTicket",
    "NotificationRecord",
    "Notifier",
    "Reviewer",
    "Store",
    "StoredState",
    "TicketQuery",
    "TokenRecord",
    "open_store",
]

NewTicket = tuple[Ticket, StoredState | None]


@runtime_checkable
class Store(Protocol):
    """What the gate needs from a database. All methods are coroutines run on the gate's engine loop.

    Writes that change a ticket go through ``update_ticket_by``: the store locks the row (or the
    database), hands the current ticket to ``change`` (a pure function from
    ``signoff.review``), and writes the result and its audit entries in one transaction.
    """

    url: str
    notifier: Notifier

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def insert_tickets(self, tickets: Sequence[NewTicket], *, max_pending: int | None = None,
                             audit_kind: str = "submitted") -> list[tuple[Ticket, bool]]:
        """Insert tickets in one transaction; returns (ticket, created). Idempotency keys belong to
        the ticket's agent: one the same agent already used for the same action returns the existing
        ticket (created=False); for another action, Conflict. Another agent's keys are not seen.
        More pending tickets than ``max_pending`` for the agent: QuotaExceeded (audited)."""
        ...

    async def get_ticket(self, ticket_id: str) -> Ticket: ...
    async def get_state(self, ticket_id: str) -> StoredState | None: ...
    async def get_ticket_with_state(self, ticket_id: str) -> tuple[Ticket, StoredState | None]:
        """The ticket and its state, in one read where the database allows (``resume``)."""
        ...

    async def list_tickets(self, query: TicketQuery) -> list[Ticket]: ...
    async def count_tickets(self, query: TicketQuery) -> int: ...
    async def pending_by_tier(self) -> dict[str | None, int]:
        """Pending tickets per tier (None: any reviewer may decide), counted exactly in one read."""
        ...

    async def agent_activity(self, since: datetime, recent: datetime) -> dict[str, tuple[int, int]]:
        """Each agent's approval tickets created since ``since``: (from ``recent`` on, before it)."""
        ...

    async def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Change | None]) -> Ticket: ...
    async def update_ticket_by(self, ticket_id: str, reviewer: str | None,
                               change: Callable[[Ticket, Reviewer | None], Change | None]) -> Ticket:
        """``update_ticket``, with the reviewer's record (None: no such reviewer) read in the same
        transaction: a reviewer disabled or moved to another tier meanwhile is seen as they are now,
        and the decision costs no separate read. ``update_ticket`` is this with no reviewer."""
        ...

    async def due_tickets(self, now: datetime, limit: int = 100) -> list[str]: ...
    async def due_leases(self, now: datetime, limit: int = 100) -> list[str]: ...
    async def in_doubt(self, limit: int = 100) -> list[Ticket]: ...
    async def next_deadline(self) -> datetime | None: ...

    async def put_reviewer(self, reviewer: Reviewer, *, actor: str = "admin") -> None: ...
    async def get_reviewer(self, name: str) -> Reviewer | None: ...
    async def list_reviewers(self) -> list[Reviewer]: ...
    async def find_reviewer(self, *, slack_id: str | None = None, email: str | None = None) -> Reviewer | None: ...
    async def put_token(self, token: TokenRecord) -> None: ...
    async def find_token(self, token_hash: str) -> TokenRecord | None: ...

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None:
        """Remember a logged-out inbox session (the SHA-256 of its id) until ``expires_at``, when its
        cookie expires anyway: every server on the store refuses it, after a restart too."""
        ...

    async def session_revoked(self, session_hash: str) -> bool:
        """Was this session logged out (on any server)?"""
        ...

    async def known_fingerprints(self) -> set[str]: ...
    async def get_mode(self) -> str | None: ...
    async def set_mode(self, mode: str | None, *, actor: str) -> None: ...

    # standing approvals (signoff._allowances); each change audited, its event carrying the record
    async def insert_allowance(self, allowance: Allowance, *, actor: str, via: str | None = None) -> Allowance: ...
    async def update_allowance(self, allowance_id: str, change: Callable[[Allowance], tuple[Allowance, str]],
                               *, actor: str, via: str | None = None) -> Allowance: ...
    async def list_allowances(self) -> list[Allowance]: ...
    async def allowance_uses(self) -> dict[str, tuple[int, datetime]]:
        """Allowance id -> (requests it let through, the last one's time): its ``allowance_used`` audit
        entries still in the store (archived ones are in the archive), in one grouped read."""
        ...

    async def append_audit(self, draft: AuditDraft) -> AuditEntry: ...
    async def audit_entries(self, *, after: int = 0, limit: int | None = None,
                            ticket_id: str | None = None) -> list[AuditEntry]: ...
    async def audit_head(self) -> tuple[int, str] | None: ...

    # Retention (store/_archive.py): plan, write the archive elsewhere, then commit.
    async def audit_base(self) -> tuple[int, str] | None:
        """The archived entry the stored chain links to (None: it starts at the genesis)."""
        ...

    async def archive_plan(self, before: datetime) -> ArchivePlan: ...
    async def archive_commit(self, plan: ArchivePlan, *, actor: str = "admin", archive: str = "") -> int: ...

    # The notification outbox: each ticket event's audit entry is its record; deliverers expand them.
    async def init_outbox(self) -> None:
        """Start expanding at the audit log's current end, unless already started."""
        ...

    async def expand_outbox(self, router: Router, *, limit: int = 500) -> int:
        """Turn audit entries past the outbox cursor into per-channel notifications; entries read."""
        ...

    async def claim_notifications(self, *, now: datetime, lease: timedelta, limit: int = 100) -> list[OutboxClaim]:
        """Lease up to ``limit`` due notifications (a coalesced group whole) to this deliverer."""
        ...

    async def finish_notifications(self, results: Sequence[OutboxResult], audit: Sequence[AuditDraft] = ()) -> None:
        """Record how deliveries went, with audit entries for the failures, in one transaction."""
        ...

    async def message_ref(self, ticket_id: str, channel: str) -> str | None: ...
    async def message_tickets(self, channel: str, ref: str) -> list[str]: ...
    async def list_notifications(self, *, ticket_id: str | None = None, status: str | None = None,
                                 channel: str | None = None, limit: int = 100) -> list[NotificationRecord]: ...
    async def next_notification(self) -> datetime | None: ...

    async def poll(self) -> None:
        """Publish events committed by other processes (a no-op where the database pushes them)."""
        ...
    async def ping(self) -> None:
        """One cheap round trip to the database; StoreUnavailable when it does not answer (readiness)."""
        ...


def open_store(url: str) -> Store:
    """A store for ``url``: ``sqlite:///path`` (``sqlite://`` alone: in memory), ``postgresql://...``,
    or ``memory://name`` (for tests: a process-wide in-memory database, see store/memory.py)."""
    if url.startswith("sqlite:"):
        from signoff.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith("memory://"):
        from signoff.store.memory import MemoryStore

        return MemoryStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from signoff.store.postgres import PostgresStore
        except ImportError as exc:
            raise UserError(
                f"the PostgreSQL store needs psycopg: pip install 'signoff[postgres]' ({exc})"
            ) from None
        return PostgresStore(url)
    raise UserError(f"unsupported store URL {url!r}: use sqlite:///path/to/file.db or postgresql://...")


Factory = Callable[[], Store]
