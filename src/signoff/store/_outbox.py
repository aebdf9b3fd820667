"""The notification outbox, over the same driver primitives as the rest of the store.

The outbox record of a ticket event is its audit entry: written in the event's own transaction,
so a crash between an event and its delivery loses nothing, and a submission or a decision pays
nothing more for notifications. A deliverer expands the entries past ``outbox_cursor`` into one
row per channel (``expand_outbox``, with the server's router; row ids derive from the entry, so
servers expanding the same entry at once write each row once), claims due rows under a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock elsewhere), sends them and records
how it went. One that dies lets its lease run out and another sends the rows again: at least once,
the event id the receivers' key to drop a duplicate.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar, cast

from signoff._records import AuditDraft, AuditEntry, NotificationRecord, OutboxClaim, OutboxResult
from signoff.store._base import Query, Row, Transaction, Writes, when
from signoff.store._records import ticket_from_json

if TYPE_CHECKING:
    from signoff.notify._routing import Router

__all__ = ["OutboxMixin"]

T = TypeVar("T")
_FILTERS = {"ticket_id": "ticket_id", "status": "status", "channel": "channel"}


def _claim(r: Row) -> OutboxClaim:
    return OutboxClaim(id=r[0], event=r[1], channel=r[2], ticket_id=r[3], coalesce_key=r[4],
                       created_at=cast(datetime, when(r[5])), attempts=int(r[6]), extra=json.loads(r[7] or "{}"))


class OutboxMixin:
    """The deliverers' side of the outbox, mixed into each store (``BaseStore.outbox_writes`` is the
    writers' side: it runs inside the event's transaction)."""

    @abstractmethod
    async def _fetch(self, query: Query) -> list[Row]: ...

    @abstractmethod
    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]: ...

    async def init_outbox(self) -> None:
        """Start the cursor at the audit log's end, unless it exists (history is not announced)."""
        await self._transact(Transaction(decide=lambda _: Writes(result=None, writes=[Query("init_outbox_cursor")])))

    async def expand_outbox(self, router: Router, *, limit: int = 500) -> int:
        """Turn the audit entries past the cursor into notifications; returns how many entries were read."""

        def decide(rows: list[list[Row]]) -> Writes[int]:
            out = []
            for _seq, kind, data, at, key, body in rows[0]:
                if body is None:
                    continue
                created = datetime.fromisoformat(str(at))
                for d in router.drafts(kind, json.loads(data), str(key), ticket_from_json(body), created):
                    out.append({"id": d.id, "event": d.event, "channel": d.channel, "ticket_id": d.ticket_id,
                                "coalesce_key": d.coalesce_key, "created_at": created, "due_at": d.due_at,
                                "extra": json.dumps(d.extra, separators=(",", ":"))})
            writes = [Query("insert_notification", many=out)] if out else []
            if rows[0]:
                writes.append(Query("advance_outbox_cursor", {"seq": int(rows[0][-1][0])}))
            return Writes(result=len(rows[0]), writes=writes)

        result, _ = await self._transact(Transaction(reads=[Query("outbox_entries", {"limit": limit})],
                                                     decide=decide))
        return result

    async def claim_notifications(self, *, now: datetime, lease: timedelta, limit: int = 100) -> list[OutboxClaim]:
        """Take up to ``limit`` due notifications (a coalesced group whole) for ``lease``."""
        def decide(rows: list[list[Row]]) -> Writes[list[OutboxClaim]]:
            claims = [_claim(r) for r in rows[0]]
            until = now + lease
            return Writes(result=claims, writes=[Query("lease_notification", many=[
                {"id": c.id, "lease_until": until} for c in claims])] if claims else [])

        result, _ = await self._transact(Transaction(
            reads=[Query("claim_notifications", {"now": now, "limit": limit})], decide=decide))
        return result

    async def finish_notifications(self, results: Sequence[OutboxResult],
                                   audit: Sequence[AuditDraft] = ()) -> None:
        """Record how deliveries went (and audit the failures given), in one transaction."""
        rows = [{"id": r.id, "status": r.status, "attempts": r.attempts, "due_at": r.due_at,
                 "delivered_at": r.delivered_at, "message_id": r.message_id, "ref": r.ref, "detail": r.detail}
                for r in results]
        await self._transact(Transaction(decide=lambda _: Writes(
            result=None, writes=[Query("finish_notification", many=rows)] if rows else [], audit=list(audit))))

    async def message_ref(self, ticket_id: str, channel: str) -> str | None:
        """What the channel answered for the last message it delivered about this ticket."""
        rows = await self._fetch(Query("message_ref", {"ticket_id": ticket_id, "channel": channel}))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    async def message_tickets(self, channel: str, ref: str) -> list[str]:
        """The tickets whose ``created`` notification went out as the message ``ref`` on ``channel``."""
        rows = await self._fetch(Query("message_tickets", {"channel": channel, "ref": ref}))
        return [str(r[0]) for r in rows]

    async def list_notifications(self, *, ticket_id: str | None = None, status: str | None = None,
                                 channel: str | None = None, limit: int = 100) -> list[NotificationRecord]:
        """Notifications, newest first: what the ticket page and ``signoff notifications list`` show."""
        given = {"ticket_id": ticket_id, "status": status, "channel": channel}
        filters = [(_FILTERS[k], v) for k, v in given.items() if v is not None]
        rows = await self._fetch(Query("list_notifications", {"limit": limit}, filters=filters))
        return [NotificationRecord(id=r[0], event=r[1], channel=r[2], ticket_id=r[3], status=r[4],
                                   attempts=int(r[5]), created_at=cast(datetime, when(r[6])),
                                   due_at=cast(datetime, when(r[7])),
                                   delivered_at=when(r[8]), message_id=r[9], ref=r[10], detail=r[11] or "")
                for r in rows]

    async def next_notification(self) -> datetime | None:
        """When the earliest pending notification is due (None: nothing pending)."""
        rows = await self._fetch(Query("next_notification"))
        return when(rows[0][0]) if rows else None
