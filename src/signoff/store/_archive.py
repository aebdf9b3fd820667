"""Retention: take decided tickets and the audit chain's oldest entries out of the store.

Two steps, so nothing is lost: ``archive_plan`` reads what would go (the caller writes it to an
archive file and syncs it), then ``archive_commit`` deletes exactly that in one transaction,
after checking under the write lock that it still stands. The chain stays verifiable: the
entries taken are always a prefix of what the store holds (never past the first entry of a
ticket that stays, so every ticket in the store keeps its whole history), and the store records
where the prefix ended as ``audit_base`` (``'<seq>:<hash>'``), from which ``verify_chain``
starts. The archive carries the segment, where it started, and the head at the time, so a
series of archives plus the store verify from the genesis entry to the head.

A ticket goes when it was decided before the cut-off and can no longer change: not pending, not
an open suggestion, not executing, not waiting for a human to say whether it ran (``unknown``). An
approval that was never run goes too: running it later fails closed (the ticket is not found). A
feed item (``notify``) goes once it was made before the cut-off, flagged or not: a flag must come
before the archive run. Agent states do not go
into the archive: a decided ticket's state resumes nothing.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from signoff._errors import Conflict
from signoff._model import Ticket
from signoff._records import AuditDraft, AuditEntry
from signoff.audit import parse_head
from signoff.store._base import Query, Row, Transaction, Writes
from signoff.store._records import ticket_from_json

__all__ = ["ArchiveMixin", "ArchivePlan", "archivable"]

T = TypeVar("T")
_STAYS = frozenset({"executing", "unknown"})


@dataclass(frozen=True)
class ArchivePlan:
    """What an archive run takes: tickets, and the chain segment after ``base`` up to ``end``."""

    before: datetime
    tickets: list[Ticket]
    entries: list[AuditEntry]
    base: tuple[int, str] | None
    """The entry the segment links to (None: the genesis)."""
    head: tuple[int, str] | None
    """The chain's head when the plan was made."""

    @property
    def end(self) -> tuple[int, str] | None:
        """The store's new ``audit_base`` once committed."""
        return (self.entries[-1].seq, self.entries[-1].hash) if self.entries else self.base


def _entry(r: Row) -> AuditEntry:
    return AuditEntry(seq=int(r[0]), at=str(r[1]), kind=r[2], ticket_id=r[3], actor=r[4], data=json.loads(r[5]),
                      prev_hash=r[6], hash=r[7])


def archivable(ticket: Ticket, before: datetime) -> bool:
    """Decided before ``before`` and final. A notification (``notify``: it ran when it was made) counts
    as decided when it was made, else its feed item would hold back every later entry for ever."""
    if ticket.execution in _STAYS or ticket.status in ("pending", "suggested"):
        return False
    decided = ticket.created_at if ticket.status == "notified" else ticket.decided_at
    return decided is not None and decided < before


def _segment(entries: list[AuditEntry], staying: set[str], before: datetime) -> list[AuditEntry]:
    """The longest prefix of ``entries`` older than ``before`` that holds no entry of a staying ticket."""
    out: list[AuditEntry] = []
    for e in entries:
        if datetime.fromisoformat(e.at) >= before or (e.ticket_id is not None and e.ticket_id in staying):
            break
        out.append(e)
    return out


class ArchiveMixin:
    """Retention over the driver primitives, mixed into each store."""

    inline_state_bytes: int | None

    @abstractmethod
    async def _fetch(self, query: Query) -> list[Row]: ...

    @abstractmethod
    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]: ...

    async def audit_base(self) -> tuple[int, str] | None:
        """Where the chain the store holds starts (None: at the genesis, nothing archived)."""
        rows = await self._fetch(Query("get_setting", {"key": "audit_base"}))
        return parse_head(rows[0][0]) if rows else None

    async def archive_plan(self, before: datetime) -> ArchivePlan:
        """What ``archive_commit`` would take for a cut-off of ``before`` (reads only)."""
        rows = await self._fetch(Query("tickets_created_before", {"before": before}))
        tickets = [ticket_from_json(r[1]) for r in rows]
        going = [t for t in tickets if archivable(t, before)]
        staying = {t.id for t in tickets} - {t.id for t in going}
        entries = [_entry(r) for r in await self._fetch(Query("audit_before", {"before": before.isoformat()}))]
        head_rows = await self._fetch(Query("get_setting", {"key": "audit_head"}))
        return ArchivePlan(before=before, tickets=going, entries=_segment(entries, staying, before),
                           base=await self.audit_base(), head=parse_head(head_rows[0][0]) if head_rows else None)

    async def archive_commit(self, plan: ArchivePlan, *, actor: str = "admin", archive: str = "") -> int:
        """Delete what ``plan`` took, once it is safely written elsewhere; returns the tickets deleted.

        Refused (Conflict, nothing deleted) when the store moved underneath: another archive run,
        or a planned ticket that is no longer final."""
        ids = [t.id for t in plan.tickets]
        end = plan.end

        def decide(reads: list[list[Row]]) -> Writes[int]:
            base_rows, ticket_rows = reads
            base = parse_head(base_rows[0][0]) if base_rows else None
            if base != plan.base:
                raise Conflict("the audit log was archived by another run since this one was planned; run it again")
            current = {str(r[0]): ticket_from_json(r[1]) for r in ticket_rows}
            for tid in ids:
                t = current.get(tid)
                if t is None or not archivable(t, plan.before):
                    raise Conflict(f"ticket {tid} changed since the archive was planned; run it again")
            writes: list[Query] = []
            if ids:
                many = [{"id": i} for i in ids]
                apart = ("delete_ticket_states",) if self.inline_state_bytes is not None else ()
                writes += [Query(name, many=many)
                           for name in ("delete_tickets", *apart, "delete_ticket_notifications")]
            if plan.entries and end is not None:
                writes += [Query("delete_audit_upto", {"seq": end[0]}),
                           Query("put_setting", {"key": "audit_base", "value": f"{end[0]}:{end[1]}"})]
            data = {"before": plan.before.isoformat(), "tickets": len(ids), "archive": archive,
                    "entries": [plan.entries[0].seq, end[0]] if plan.entries and end else []}
            return Writes(result=len(ids), writes=writes,
                          audit=[AuditDraft(kind="archived", ticket_id=None, actor=actor, data=data)])

        reads = [Query("get_setting", {"key": "audit_base"}), Query("tickets_created_before", {"before": plan.before})]
        result, _ = await self._transact(Transaction(decide=decide, reads=reads))
        return result

