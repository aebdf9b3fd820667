"""The store's domain logic, written once over a small driver interface.

Every rule of the queue lives here or below (``review``): what a submission writes, how a
change is applied, what each write audits, how rows become records. A driver (SQLite,
PostgreSQL, memory) only knows how to run a named query and a transaction, much as
procrastinate's ``manager.py`` sits on its connectors. Its two primitives:

- ``_fetch(query)``: run a read on its own and return the rows.
- ``_transact(tx)``: one write transaction, all or nothing. Take ``tx.locks``, run ``tx.reads``
  (their snapshot comes after the locks), hand the rows to ``tx.decide`` (pure Python: no I/O
  happens there, so a driver may run it inline, on a worker thread, or between two round
  trips), then run the writes it returned, append its audit entries to the chain, commit,
  and publish the committed entries to ``notifier``. Any database error becomes
  StoreUnavailable; an error raised by ``decide`` rolls everything back and propagates.

A query with ``many`` rows runs once per row (SQLite, memory) or once with each parameter
as an array (PostgreSQL's ``unnest``); its rows are concatenated. ``filters`` fill a query's
``{where}`` from a fixed set of columns.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from signoff._allowances import Allowance
from signoff._errors import Conflict, NotFound, QuotaExceeded
from signoff._model import Ticket, utcnow
from signoff._records import (
    AuditDraft,
    AuditEntry,
    Change,
    Reviewer,
    StoredState,
    TicketQuery,
    TokenRecord,
)
from signoff.review import _submission as submission
from signoff.store._notify import Notifier
from signoff.store._records import decode_state, ticket_from_json, ticket_to_json

__all__ = ["BaseStore", "Lock", "Query", "Row", "Transaction", "Writes"]

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True)
class Query:
    """A named query of the driver's ``queries.sql`` and its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    many: Sequence[Mapping[str, Any]] | None = None
    """Run once per row (None: once, with ``params``); an empty list runs nothing and reads no rows."""
    filters: Sequence[tuple[str, Any]] = ()
    """(column, value) pairs for ``{where}``; a tuple value means any of them."""


@dataclass(frozen=True)
class Lock:
    """Something writers must queue on beyond a row (a database-wide writer lock covers it)."""

    kind: Literal["agent", "idempotency", "mode"]
    key: str = ""


@dataclass(frozen=True, kw_only=True)
class Writes(Generic[T]):
    """What ``Transaction.decide`` wants done: statements, audit entries, and the caller's result."""

    result: T
    writes: Sequence[Query] = ()
    audit: Sequence[AuditDraft] = ()


@dataclass(frozen=True, kw_only=True)
class Transaction(Generic[T]):
    """Lock, read, decide in Python, write: one transaction."""

    decide: Callable[[list[list[Row]]], Writes[T]]
    locks: Sequence[Lock] = ()
    reads: Sequence[Query] = ()


TICKET_FILTERS = {"status": "status", "kind": "kind", "agent": "agent", "action": "action", "group": "group_key",
                  "batch": "batch_id", "idempotency_key": "idempotency_key"}
"""TicketQuery field -> column: the only names a ``{where}`` is made of."""


def when(value: Any) -> datetime | None:
    """A stored time (SQLite: unix seconds; PostgreSQL: timestamptz) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


IN_DOUBT = datetime(1970, 1, 1, tzinfo=UTC)
"""The deadline column of an approved ticket whose run is in doubt: never due, and found by the index."""


def indexed_deadline(t: Ticket) -> datetime | None:
    """The deadline column, what the sweeper and the inbox read: a pending ticket's deadline, the end
    of an executing run's lease (the ticket is then 'approved'), ``IN_DOUBT`` for a run in doubt."""
    if t.status == "pending":
        return t.deadline
    if t.status == "approved" and t.execution == "unknown":
        return IN_DOUBT
    return t.lease_until if t.execution == "executing" else None


def ticket_row(t: Ticket, state: StoredState | None = None) -> dict[str, Any]:
    """A ticket's columns; the deadline is indexed for the sweeper only (``indexed_deadline``)."""
    return {"id": t.id, "kind": t.kind, "status": t.status, "agent": t.action.agent, "action": t.action.name,
            "group_key": t.group_key, "batch_id": t.batch_id, "idempotency_key": t.idempotency_key,
            "tier": t.tier, "deadline": indexed_deadline(t),
            "created_at": t.created_at, "decided_at": t.decided_at, "body": ticket_to_json(t),
            "state_kind": state.kind if state else None, "state": state.data if state else None}


def _reviewer(r: Row) -> Reviewer:
    return Reviewer(name=r[0], tier=r[1], password_hash=r[2], disabled=bool(r[3]), email=r[4], slack_id=r[5])


def _audit_entry(r: Row) -> AuditEntry:
    return AuditEntry(seq=int(r[0]), at=str(r[1]), kind=r[2], ticket_id=r[3], actor=r[4], data=json.loads(r[5]),
                      prev_hash=r[6], hash=r[7])


def _filters(query: TicketQuery) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, column in TICKET_FILTERS.items():
        value = getattr(query, name)
        if value is not None:
            out.append((column, (value,) if name == "status" and isinstance(value, str) else value))
    return out


class BaseStore(ABC):
    """The Store protocol over ``_fetch`` and ``_transact`` (see the module docstring)."""

    url: str
    notifier: Notifier
    inline_state_bytes: int | None = None
    """A state larger than this is stored apart from its ticket row (``insert_state``); None: never."""

    @abstractmethod
    async def _fetch(self, query: Query) -> list[Row]: ...

    @abstractmethod
    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]: ...

    async def _apply(self, tx: Transaction[T]) -> T:
        return (await self._transact(tx))[0]

    async def _one(self, query: Query) -> Row | None:
        rows = await self._fetch(query)
        return rows[0] if rows else None

    # -- audit ------------------------------------------------------------------------------
    async def append_audit(self, draft: AuditDraft) -> AuditEntry:
        _, entries = await self._transact(Transaction(decide=lambda _: Writes(result=None, audit=[draft])))
        return entries[0]

    async def audit_entries(self, *, after: int = 0, limit: int | None = None,
                            ticket_id: str | None = None) -> list[AuditEntry]:
        if ticket_id is None:
            query = Query("audit_entries", {"after": after, "limit": limit})
        else:
            query = Query("audit_entries_of_ticket", {"after": after, "limit": limit, "ticket_id": ticket_id})
        return [_audit_entry(r) for r in await self._fetch(query)]

    async def audit_head(self) -> tuple[int, str] | None:
        row = await self._one(Query("get_setting", {"key": "audit_head"}))
        if not row or not row[0]:
            return None
        seq, _, h = str(row[0]).partition(":")
        return int(seq), h

    # -- tickets ----------------------------------------------------------------------------
    async def insert_tickets(self, tickets: Sequence[submission.NewTicket], *, max_pending: int | None = None,
                             audit_kind: str = "submitted") -> list[tuple[Ticket, bool]]:
        keys = submission.keys_of(tickets)
        agents = submission.quota_agents(tickets, max_pending)
        # Submissions with the same idempotency key, or for an agent whose quota is checked, queue
        # on a lock; the reads that follow then see every such submission committed before ours.
        locks = [Lock("idempotency", f"{a}\n{k}") for a, k in keys] + [Lock("agent", a) for a in agents]
        reads = [Query("tickets_by_keys", many=[{"agent": a, "key": k} for a, k in keys]),
                 Query("pending_by_agent", many=[{"agent": a} for a in agents])]

        def decide(rows: list[list[Row]]) -> Writes[list[tuple[Ticket, bool]]]:
            existing = {(str(a), str(k)): ticket_from_json(body) for a, k, body in rows[0]}
            pending = {str(a): int(n) for a, n in rows[1]}
            # Raises Conflict or QuotaExceeded: the whole batch rolls back (none of it is queued).
            plan = submission.plan(tickets, existing=existing, pending=pending, max_pending=max_pending,
                                   audit_kind=audit_kind)
            inline, apart = [], []
            for t, state in plan.inserts:
                if state is not None and self.inline_state_bytes is not None \
                        and len(state.data) > self.inline_state_bytes:
                    inline.append(ticket_row(t))
                    apart.append({"ticket_id": t.id, "kind": state.kind, "data": state.data})
                else:
                    inline.append(ticket_row(t, state))
            writes = [Query("insert_tickets", many=inline)] if inline else []
            writes += [Query("insert_state", many=apart)] if apart else []
            return Writes(result=list(plan.results), writes=writes, audit=plan.audit)

        try:
            return await self._apply(Transaction(locks=locks, reads=reads, decide=decide))
        except QuotaExceeded as err:
            await self.append_audit(submission.quota_refused(err, max_pending))
            raise

    async def get_ticket(self, ticket_id: str) -> Ticket:
        row = await self._one(Query("get_ticket", {"id": ticket_id}))
        if row is None:
            raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
        return ticket_from_json(row[0])

    async def get_state(self, ticket_id: str) -> StoredState | None:
        row = await self._one(Query("get_state", {"id": ticket_id}))
        if row is None:
            raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
        return await self._state(ticket_id, row[0], row[1])

    async def get_ticket_with_state(self, ticket_id: str) -> tuple[Ticket, StoredState | None]:
        row = await self._one(Query("get_ticket_state", {"id": ticket_id}))
        if row is None:
            raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
        return ticket_from_json(row[0]), await self._state(ticket_id, row[1], row[2])

    async def _state(self, ticket_id: str, kind: Any, data: Any) -> StoredState | None:
        """The state read from the ticket's row, or (a large one) from its own table."""
        if data is not None or self.inline_state_bytes is None:
            return decode_state(kind, data)
        row = await self._one(Query("get_state_apart", {"id": ticket_id}))
        return decode_state(row[0], row[1]) if row is not None else None

    async def list_tickets(self, query: TicketQuery) -> list[Ticket]:
        name = "list_tickets_newest" if query.newest_first else "list_tickets"
        rows = await self._fetch(Query(name, {"limit": query.limit, "offset": query.offset}, filters=_filters(query)))
        return [ticket_from_json(r[0]) for r in rows]

    async def count_tickets(self, query: TicketQuery) -> int:
        row = await self._one(Query("count_tickets", filters=_filters(query)))
        return int(row[0]) if row else 0

    async def pending_by_tier(self) -> dict[str | None, int]:
        return {r[0]: int(r[1]) for r in await self._fetch(Query("pending_by_tier"))}

    async def agent_activity(self, since: datetime, recent: datetime) -> dict[str, tuple[int, int]]:
        """Each agent's approval tickets created since ``since``: (from ``recent`` on, before it)."""
        rows = await self._fetch(Query("agent_activity", {"since": since, "recent": recent}))
        return {str(r[0]): (int(r[1] or 0), int(r[2] or 0)) for r in rows}

    async def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Change | None]) -> Ticket:
        return await self.update_ticket_by(ticket_id, None, lambda t, _: change(t))

    async def update_ticket_by(self, ticket_id: str, reviewer: str | None,
                               change: Callable[[Ticket, Reviewer | None], Change | None]) -> Ticket:
        reads = [Query("lock_ticket", {"id": ticket_id})]
        if reviewer is not None:
            reads.append(Query("lock_reviewer", {"name": reviewer}))

        def decide(rows: list[list[Row]]) -> Writes[Ticket]:
            # Under the ticket's lock: a second decision sees the first (and ``change`` raises Conflict).
            if not rows[0]:
                raise NotFound(f"no ticket {ticket_id!r}", ticket_id=ticket_id)
            current = ticket_from_json(rows[0][0][0])
            result = change(current, _reviewer(rows[1][0]) if reviewer is not None and rows[1] else None)
            if result is None:
                return Writes(result=current)
            t = result.ticket
            # Only the columns a transition can change: fewer index entries rewritten per decision.
            writes = [Query("update_ticket", {"id": t.id, "status": t.status, "tier": t.tier,
                                              "deadline": indexed_deadline(t),
                                              "decided_at": t.decided_at, "body": ticket_to_json(t)})]
            if result.learn_fingerprint:
                writes.append(Query("learn_fingerprint", {"fingerprint": result.learn_fingerprint,
                                                          "ticket_id": t.id, "learnt_at": utcnow()}))
            return Writes(result=t, writes=writes, audit=result.audit)

        return await self._apply(Transaction(reads=reads, decide=decide))

    async def due_tickets(self, now: datetime, limit: int = 100) -> list[str]:
        return [str(r[0]) for r in await self._fetch(Query("due_tickets", {"now": now, "limit": limit}))]

    async def due_leases(self, now: datetime, limit: int = 100) -> list[str]:
        """Tickets whose claimed run is past its lease (``indexed_deadline``)."""
        return [str(r[0]) for r in await self._fetch(Query("due_leases", {"now": now, "limit": limit,
                                                                           "epoch": IN_DOUBT}))]

    async def in_doubt(self, limit: int = 100) -> list[Ticket]:
        """Approved tickets whose run is in doubt (``unknown``), oldest first: what reviewers must check."""
        return [ticket_from_json(r[0]) for r in await self._fetch(Query("in_doubt", {"epoch": IN_DOUBT,
                                                                                     "limit": limit}))]

    async def next_deadline(self) -> datetime | None:
        row = await self._one(Query("next_deadline"))
        return when(row[0]) if row else None

    # -- people, tokens, settings ------------------------------------------------------------
    async def put_reviewer(self, reviewer: Reviewer, *, actor: str = "admin") -> None:
        """Add or change a reviewer; an email address or Slack id already another's is a Conflict."""

        def decide(rows: list[list[Row]]) -> Writes[None]:
            for other in map(_reviewer, rows[0]):
                if other.name == reviewer.name:
                    continue
                same_slack = reviewer.slack_id is not None and other.slack_id == reviewer.slack_id
                field, value = ("slack_id", reviewer.slack_id) if same_slack else ("email", reviewer.email)
                raise Conflict(f"{field} {value!r} already belongs to reviewer {other.name!r}")
            return Writes(
                result=None,
                writes=[Query("put_reviewer", {"name": reviewer.name, "tier": reviewer.tier,
                                               "password_hash": reviewer.password_hash, "disabled": reviewer.disabled,
                                               "email": reviewer.email, "slack_id": reviewer.slack_id})],
                audit=[AuditDraft(kind="reviewer", actor=actor, data={
                    "name": reviewer.name, "tier": reviewer.tier, "disabled": reviewer.disabled,
                    **{k: v for k, v in (("email", reviewer.email), ("slack_id", reviewer.slack_id)) if v}})])

        await self._apply(Transaction(decide=decide, reads=[
            Query("reviewer_by_address", {"slack_id": reviewer.slack_id, "email": reviewer.email})]))

    async def get_reviewer(self, name: str) -> Reviewer | None:
        row = await self._one(Query("get_reviewer", {"name": name}))
        return _reviewer(row) if row else None

    async def list_reviewers(self) -> list[Reviewer]:
        return [_reviewer(r) for r in await self._fetch(Query("list_reviewers"))]

    async def find_reviewer(self, *, slack_id: str | None = None, email: str | None = None) -> Reviewer | None:
        """The reviewer with this Slack user id or email address, or None."""
        if not slack_id and not email:
            return None
        rows = await self._fetch(Query("reviewer_by_address", {"slack_id": slack_id, "email": email}))
        return _reviewer(rows[0]) if len(rows) == 1 else None

    async def put_token(self, token: TokenRecord) -> None:
        await self._apply(Transaction(decide=lambda _: Writes(
            result=None,
            writes=[Query("put_token", {"token_hash": token.token_hash, "kind": token.kind, "name": token.name,
                                        "created_at": token.created_at, "revoked": token.revoked})],
            audit=[AuditDraft(kind="token_created", actor="admin", data={
                "kind": token.kind, "name": token.name, "hash_prefix": token.token_hash[:8]})])))

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        r = await self._one(Query("get_token", {"token_hash": token_hash}))
        if r is None:
            return None
        return TokenRecord(token_hash=r[0], kind=r[1], name=r[2], created_at=when(r[3]),  # type: ignore[arg-type]
                           revoked=bool(r[4]))

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None:
        # A revocation also clears the ones whose cookies have expired anyway.
        await self._apply(Transaction(decide=lambda _: Writes(result=None, writes=[
            Query("purge_sessions", {"now": utcnow(), "sid_hash": session_hash}),
            Query("revoke_session", {"sid_hash": session_hash, "expires_at": expires_at})])))

    async def session_revoked(self, session_hash: str) -> bool:
        return await self._one(Query("session_revoked", {"sid_hash": session_hash})) is not None

    async def known_fingerprints(self) -> set[str]:
        return {str(r[0]) for r in await self._fetch(Query("fingerprints"))}

    async def get_mode(self) -> str | None:
        row = await self._one(Query("get_setting", {"key": "mode"}))
        return str(row[0]) if row and row[0] else None

    async def set_mode(self, mode: str | None, *, actor: str) -> None:
        def decide(rows: list[list[Row]]) -> Writes[None]:
            # Under the mode's lock: "previous" is the mode really replaced.
            previous = rows[0][0][0] if rows[0] and rows[0][0][0] else None
            return Writes(result=None, writes=[Query("put_setting", {"key": "mode", "value": mode})],
                          audit=[AuditDraft(kind="mode", actor=actor, data={"mode": mode, "previous": previous})])

        await self._apply(Transaction(locks=[Lock("mode")], reads=[Query("get_setting", {"key": "mode"})],
                                      decide=decide))

    # -- standing approvals (signoff._allowances) -------------------------------------------------
    async def insert_allowance(self, allowance: Allowance, *, actor: str, via: str | None = None) -> Allowance:
        """Store a new allowance; audited as ``allowance_created`` (its event carries the record, so
        every gate on the store learns of it), with the door it came through (``via``) if given."""
        return await self._apply(Transaction(decide=lambda _: Writes(
            result=allowance, writes=[Query("insert_allowance", _allowance_row(allowance))],
            audit=[AuditDraft(kind="allowance_created", actor=actor, ticket_id=allowance.ticket_id,
                              data=_allowance_data(allowance, via))])))

    async def update_allowance(self, allowance_id: str, change: Callable[[Allowance], tuple[Allowance, str]],
                               *, actor: str, via: str | None = None) -> Allowance:
        """Change an allowance under its lock: ``change`` returns the new record and the audit kind."""

        def decide(rows: list[list[Row]]) -> Writes[Allowance]:
            if not rows[0]:
                raise NotFound(f"no allowance {allowance_id!r}")
            new, kind = change(Allowance.from_dict(json.loads(rows[0][0][0])))
            return Writes(result=new, writes=[Query("update_allowance", _allowance_row(new))],
                          audit=[AuditDraft(kind=kind, actor=actor, ticket_id=new.ticket_id,
                                            data=_allowance_data(new, via))])

        return await self._apply(Transaction(reads=[Query("lock_allowance", {"id": allowance_id})], decide=decide))

    async def list_allowances(self) -> list[Allowance]:
        """Every allowance, oldest first (revoked and expired ones too)."""
        return [Allowance.from_dict(json.loads(r[0])) for r in await self._fetch(Query("list_allowances"))]

    async def allowance_uses(self) -> dict[str, tuple[int, datetime]]:
        """Allowance id -> (requests it let through, the last one's time), from the audit log's
        ``allowance_used`` entries: one grouped read (a partial index holds just those entries)."""
        rows = await self._fetch(Query("allowance_uses"))
        return {str(r[0]): (int(r[1]), datetime.fromisoformat(str(r[2])).astimezone(UTC)) for r in rows
                if r[0] is not None}


def _allowance_data(a: Allowance, via: str | None) -> dict[str, Any]:
    return {"allowance": a.to_dict(), **({"via": via} if via else {})}


def _allowance_row(a: Allowance) -> dict[str, Any]:
    return {"id": a.id, "action": a.action, "agent": a.agent, "created_at": a.created_at,
            "expires_at": a.expires_at, "revoked_at": a.revoked_at, "body": a.to_json()}
