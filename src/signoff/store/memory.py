"""An in-memory store for tests: the same domain logic, its queries answered by Python.

Like procrastinate's ``InMemoryConnector``, each named query of ``queries.sql`` has a Python
twin here, and every query run is recorded (``store.queries``), so a unit test can check
what the store was asked without a database. ``memory://name`` opens a database shared by
every store of the process with that name (a second gate, a second reader); ``memory://``
alone, a private one. Nothing survives the process. ``database.down = True`` makes every
call fail with StoreUnavailable, as a database outage would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from signoff._errors import StoreUnavailable, UserError
from signoff._records import AuditEntry, Event
from signoff.audit import chain_end, link, parse_head
from signoff.store._archive import ArchiveMixin
from signoff.store._base import BaseStore, Query, Row, Transaction, when
from signoff.store._notify import Notifier
from signoff.store._outbox import OutboxMixin

__all__ = ["MemoryDatabase", "MemoryStore"]

T = TypeVar("T")
Params = Mapping[str, Any]


@dataclass
class MemoryDatabase:
    """The tables, as dicts and lists; ``lock`` is the one writer lock (like BEGIN IMMEDIATE)."""

    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    reviewers: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    tokens: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    fingerprints: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    revoked_sessions: dict[str, datetime] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    allowances: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    def tables(self) -> tuple[Any, ...]:
        return (self.tickets, self.reviewers, self.tokens, self.fingerprints, self.settings, self.audit,
                self.revoked_sessions, self.notifications, self.allowances)


_DATABASES: dict[str, MemoryDatabase] = {}
_DATABASES_LOCK = threading.Lock()


def database(name: str) -> MemoryDatabase:
    """The process's database called ``name`` (created empty on first use)."""
    with _DATABASES_LOCK:
        return _DATABASES.setdefault(name, MemoryDatabase())


def _ts(value: Any) -> float:
    return when(value).timestamp() if value is not None else float("inf")  # type: ignore[union-attr]


def _matches(row: Mapping[str, Any], filters: Any) -> bool:
    return all(row[c] in v if isinstance(v, tuple) else row[c] == v for c, v in filters)


class MemoryStore(BaseStore, OutboxMixin, ArchiveMixin):
    """``memory://name`` (shared in the process) or ``memory://`` (private)."""

    inline_safe = True
    """Its coroutines never block: they may be awaited on any loop and thread."""

    def __init__(self, url: str = "memory://") -> None:
        if not url.startswith("memory://"):
            raise UserError(f"bad memory store URL {url!r}: use memory://name")
        self.url = url
        name = url.removeprefix("memory://")
        self.db = database(name) if name else MemoryDatabase()
        self.notifier = Notifier()
        self.queries: list[tuple[str, dict[str, Any]]] = []
        """Every query run, in order: (name, parameters); what a unit test can check."""
        self._open = False
        self._pos = 0

    # -- the driver -------------------------------------------------------------------------
    def _check(self) -> None:
        if not self._open:
            raise StoreUnavailable(f"store {self.url} is not open")
        if self.db.down:
            raise StoreUnavailable(f"{self.url}: the database is down")

    def _run(self, query: Query) -> list[Row]:
        rows: list[Row] = []
        for params in (query.many if query.many is not None else [{}]):
            merged = {**query.params, **params}
            self.queries.append((query.name, merged))
            rows += getattr(self, "_q_" + query.name)(merged, query.filters) or []
        return rows

    async def _fetch(self, query: Query) -> list[Row]:
        with self.db.lock:
            self._check()
            return self._run(query)

    async def _transact(self, tx: Transaction[T]) -> tuple[T, list[AuditEntry]]:
        with self.db.lock:
            self._check()
            saved = [t.copy() for t in self.db.tables()]
            try:
                writes = tx.decide([self._run(q) for q in tx.reads])
                for q in writes.writes:
                    self._run(q)
                entries = []
                for draft in writes.audit:
                    last = self.db.audit[-1] if self.db.audit else None
                    entry = link(draft, chain_end(parse_head(self.db.settings.get("audit_head")),
                                                  (last.seq, last.hash) if last else None))
                    self.db.audit.append(entry)
                    self.db.settings["audit_head"] = f"{entry.seq}:{entry.hash}"
                    entries.append(entry)
            except BaseException:
                for table, copy in zip(self.db.tables(), saved, strict=True):
                    table.clear()
                    table.update(copy) if isinstance(table, dict) else table.extend(copy)
                raise
            events = self._unpublished()
        self.notifier.publish(events)
        return writes.result, entries

    def _unpublished(self) -> list[Event]:
        return [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data)
                for e in self.db.audit if e.seq > self.notifier.last_seq]

    async def open(self) -> None:
        with self.db.lock:
            self._open = True
            self._check()
            self.notifier.last_seq = self.db.audit[-1].seq if self.db.audit else 0

    async def close(self) -> None:
        self._open = False

    async def poll(self) -> None:
        """Publish what other stores on the same database committed."""
        with self.db.lock:
            events = self._unpublished() if self._open else []
        self.notifier.publish(events)

    async def ping(self) -> None:
        await self._fetch(Query("ping"))

    # -- the queries (one per name of queries.sql) --------------------------------------------
    def _q_ping(self, p: Params, f: Any) -> list[Row]:
        return [(1,)]

    def _q_audit_entries(self, p: Params, f: Any) -> list[Row]:
        return self._entries(p, lambda e: True)

    def _q_audit_entries_of_ticket(self, p: Params, f: Any) -> list[Row]:
        return self._entries(p, lambda e: e.ticket_id == p["ticket_id"])

    def _entries(self, p: Params, keep: Callable[[AuditEntry], bool]) -> list[Row]:
        rows: list[Row] = [(e.seq, e.at, e.kind, e.ticket_id, e.actor, json.dumps(dict(e.data), sort_keys=True),
                            e.prev_hash, e.hash) for e in self.db.audit if e.seq > p["after"] and keep(e)]
        return rows[:p["limit"]] if p["limit"] is not None else rows

    def _q_insert_tickets(self, p: Params, f: Any) -> None:
        if p["id"] in self.db.tickets:
            raise StoreUnavailable(f"{self.url}: ticket {p['id']} exists")
        self._pos += 1
        self.db.tickets[p["id"]] = {**p, "pos": (len(self.db.tickets), self._pos)}

    def _q_get_ticket(self, p: Params, f: Any) -> list[Row]:
        row = self.db.tickets.get(p["id"])
        return [(row["body"],)] if row else []

    _q_lock_ticket = _q_get_ticket

    def _q_tickets_by_keys(self, p: Params, f: Any) -> list[Row]:
        return [(r["agent"], r["idempotency_key"], r["body"]) for r in self.db.tickets.values()
                if r["agent"] == p["agent"] and r["idempotency_key"] == p["key"]]

    def _q_pending_by_agent(self, p: Params, f: Any) -> list[Row]:
        n = sum(1 for r in self.db.tickets.values() if r["agent"] == p["agent"] and r["status"] == "pending")
        return [(p["agent"], n)]

    def _q_update_ticket(self, p: Params, f: Any) -> None:
        self.db.tickets[p["id"]].update(p)

    def _q_get_state(self, p: Params, f: Any) -> list[Row]:
        row = self.db.tickets.get(p["id"])
        return [(row["state_kind"], row["state"])] if row else []

    def _q_get_ticket_state(self, p: Params, f: Any) -> list[Row]:
        row = self.db.tickets.get(p["id"])
        return [(row["body"], row["state_kind"], row["state"])] if row else []

    def _listed(self, f: Any, newest: bool) -> list[dict[str, Any]]:
        rows = [r for r in self.db.tickets.values() if _matches(r, f)]
        return sorted(rows, key=lambda r: (_ts(r["created_at"]), r["pos"]), reverse=newest)

    def _q_list_tickets(self, p: Params, f: Any, newest: bool = False) -> list[Row]:
        rows = self._listed(f, newest)[p["offset"]:p["offset"] + p["limit"]]
        return [(r["body"],) for r in rows]

    def _q_list_tickets_newest(self, p: Params, f: Any) -> list[Row]:
        return self._q_list_tickets(p, f, newest=True)

    def _q_count_tickets(self, p: Params, f: Any) -> list[Row]:
        return [(len(self._listed(f, False)),)]

    def _q_pending_by_tier(self, p: Params, f: Any) -> list[Row]:
        counts: dict[Any, int] = {}
        for r in self.db.tickets.values():
            if r["status"] == "pending":
                counts[r["tier"]] = counts.get(r["tier"], 0) + 1
        return list(counts.items())

    def _q_agent_activity(self, p: Params, f: Any) -> list[Row]:
        counts: dict[str, list[int]] = {}
        for r in self.db.tickets.values():
            at = _ts(r["created_at"])
            if r["kind"] == "approval" and at >= _ts(p["since"]):
                counts.setdefault(r["agent"], [0, 0])[0 if at >= _ts(p["recent"]) else 1] += 1
        return [(agent, n[0], n[1]) for agent, n in counts.items()]

    def _pending(self) -> list[dict[str, Any]]:
        return [r for r in self.db.tickets.values() if r["status"] == "pending" and r["deadline"] is not None]

    def _q_due_tickets(self, p: Params, f: Any) -> list[Row]:
        due = sorted((r for r in self._pending() if _ts(r["deadline"]) <= _ts(p["now"])),
                     key=lambda r: _ts(r["deadline"]))
        return [(r["id"],) for r in due[:p["limit"]]]

    def _q_due_leases(self, p: Params, f: Any) -> list[Row]:
        due = sorted((r for r in self.db.tickets.values() if r["status"] == "approved" and r["deadline"] is not None
                      and _ts(p["epoch"]) < _ts(r["deadline"]) <= _ts(p["now"])), key=lambda r: _ts(r["deadline"]))
        return [(r["id"],) for r in due[:p["limit"]]]

    def _q_in_doubt(self, p: Params, f: Any) -> list[Row]:
        rows = [r for r in self.db.tickets.values() if r["status"] == "approved" and r["deadline"] is not None
                and _ts(r["deadline"]) == _ts(p["epoch"])]
        return [(r["body"],) for r in sorted(rows, key=lambda r: (_ts(r["created_at"]), r["pos"]))[:p["limit"]]]

    def _q_next_deadline(self, p: Params, f: Any) -> list[Row]:
        return [(min((r["deadline"] for r in self._pending()), key=_ts, default=None),)]

    def _q_learn_fingerprint(self, p: Params, f: Any) -> None:
        self.db.fingerprints.setdefault(p["fingerprint"], (p["ticket_id"], p["learnt_at"]))

    def _q_fingerprints(self, p: Params, f: Any) -> list[Row]:
        return [(fp,) for fp in self.db.fingerprints]

    def _q_insert_allowance(self, p: Params, f: Any) -> None:
        if p["id"] in self.db.allowances:
            raise StoreUnavailable(f"allowance {p['id']!r} exists")  # a primary key violation
        self.db.allowances[p["id"]] = dict(p)

    def _q_update_allowance(self, p: Params, f: Any) -> None:
        if p["id"] in self.db.allowances:  # a new row, not an edit in place: a rollback restores the old one
            self.db.allowances[p["id"]] = {**self.db.allowances[p["id"]], **p}

    def _q_lock_allowance(self, p: Params, f: Any) -> list[Row]:
        row = self.db.allowances.get(p["id"])
        return [(row["body"],)] if row else []

    def _q_list_allowances(self, p: Params, f: Any) -> list[Row]:
        rows = sorted(self.db.allowances.values(), key=lambda r: (_ts(r["created_at"]), r["id"]))
        return [(r["body"],) for r in rows]

    def _q_allowance_uses(self, p: Params, f: Any) -> list[Row]:
        uses: dict[str, tuple[int, str]] = {}
        for e in self.db.audit:
            if e.kind == "allowance_used" and e.data.get("allowance_id") is not None:
                n, last = uses.get(e.data["allowance_id"], (0, e.at))
                uses[e.data["allowance_id"]] = (n + 1, max(last, e.at))
        return [(aid, n, last) for aid, (n, last) in uses.items()]

    def _q_put_reviewer(self, p: Params, f: Any) -> None:
        old = self.db.reviewers.get(p["name"])
        password = p["password_hash"] if p["password_hash"] is not None else (old[2] if old else None)
        email, slack_id = ((p[c] if p[c] is not None else (old[i] if old else None)) for c, i in (("email", 4),
                                                                                                 ("slack_id", 5)))
        self.db.reviewers[p["name"]] = (p["name"], p["tier"], password, p["disabled"], email, slack_id)

    def _q_get_reviewer(self, p: Params, f: Any) -> list[Row]:
        row = self.db.reviewers.get(p["name"])
        return [row] if row else []

    _q_lock_reviewer = _q_get_reviewer

    def _q_list_reviewers(self, p: Params, f: Any) -> list[Row]:
        return [self.db.reviewers[name] for name in sorted(self.db.reviewers)]

    def _q_reviewer_by_address(self, p: Params, f: Any) -> list[Row]:
        email = (p["email"] or "").lower() or None
        return [r for r in self.db.reviewers.values()
                if (p["slack_id"] is not None and r[5] == p["slack_id"])
                or (email is not None and (r[4] or "").lower() == email)]

    def _q_put_token(self, p: Params, f: Any) -> None:
        if p["token_hash"] in self.db.tokens:
            raise StoreUnavailable(f"{self.url}: token exists")
        self.db.tokens[p["token_hash"]] = (p["token_hash"], p["kind"], p["name"], p["created_at"], p["revoked"])

    def _q_get_token(self, p: Params, f: Any) -> list[Row]:
        row = self.db.tokens.get(p["token_hash"])
        return [row] if row else []

    def _q_get_setting(self, p: Params, f: Any) -> list[Row]:
        return [(self.db.settings[p["key"]],)] if p["key"] in self.db.settings else []

    def _q_put_setting(self, p: Params, f: Any) -> None:
        self.db.settings[p["key"]] = p["value"]

    def _q_purge_sessions(self, p: Params, f: Any) -> None:
        for sid, expires in list(self.db.revoked_sessions.items()):
            if expires <= p["now"] and sid != p["sid_hash"]:
                del self.db.revoked_sessions[sid]

    def _q_revoke_session(self, p: Params, f: Any) -> None:
        old = self.db.revoked_sessions.get(p["sid_hash"])
        self.db.revoked_sessions[p["sid_hash"]] = max(old, p["expires_at"]) if old else p["expires_at"]

    def _q_session_revoked(self, p: Params, f: Any) -> list[Row]:
        return [(1,)] if p["sid_hash"] in self.db.revoked_sessions else []

    # -- the outbox -------------------------------------------------------------------------
    def _q_init_outbox_cursor(self, p: Params, f: Any) -> None:
        self.db.settings.setdefault("outbox_cursor", str(self.db.audit[-1].seq if self.db.audit else 0))

    def _q_outbox_entries(self, p: Params, f: Any) -> list[Row]:
        after = int(self.db.settings["outbox_cursor"])
        rows: list[Row] = [(e.seq, e.kind, json.dumps(e.data), e.at, e.hash,
                            self.db.tickets[e.ticket_id]["body"] if e.ticket_id in self.db.tickets else None)
                           for e in self.db.audit if e.seq > after]
        return rows[:p["limit"]]

    def _q_advance_outbox_cursor(self, p: Params, f: Any) -> None:
        self.db.settings["outbox_cursor"] = str(max(int(self.db.settings["outbox_cursor"]), p["seq"]))

    def _q_insert_notification(self, p: Params, f: Any) -> None:
        if p["id"] in self.db.notifications:
            return
        self.db.notifications[p["id"]] = {**p, "status": "pending", "attempts": 0, "lease_until": None,
                                          "delivered_at": None, "message_id": None, "ref": None, "detail": "",
                                          "pos": len(self.db.notifications)}

    def _q_claim_notifications(self, p: Params, f: Any) -> list[Row]:
        now = _ts(p["now"])
        pending = [n for n in self.db.notifications.values() if n["status"] == "pending"]
        due_groups = {n["coalesce_key"] for n in pending if _ts(n["due_at"]) <= now and n["coalesce_key"]}
        free = [n for n in pending if (n["lease_until"] is None or _ts(n["lease_until"]) < now)
                and (_ts(n["due_at"]) <= now or n["coalesce_key"] in due_groups)]
        free.sort(key=lambda n: (_ts(n["due_at"]), n["pos"]))
        return [(n["id"], n["event"], n["channel"], n["ticket_id"], n["coalesce_key"], n["created_at"],
                 n["attempts"], n["extra"]) for n in free[:p["limit"]]]

    def _q_lease_notification(self, p: Params, f: Any) -> None:
        self.db.notifications[p["id"]]["lease_until"] = p["lease_until"]

    def _q_finish_notification(self, p: Params, f: Any) -> None:
        self.db.notifications[p["id"]].update({**p, "lease_until": None})

    def _q_message_ref(self, p: Params, f: Any) -> list[Row]:
        sent = [n for n in self.db.notifications.values()
                if n["ticket_id"] == p["ticket_id"] and n["channel"] == p["channel"] and n["ref"] is not None]
        sent.sort(key=lambda n: _ts(n["delivered_at"]))
        return [(sent[-1]["ref"],)] if sent else []

    def _q_message_tickets(self, p: Params, f: Any) -> list[Row]:
        sent = [n for n in self.db.notifications.values()
                if n["channel"] == p["channel"] and n["ref"] == p["ref"] and n["event"] == "ticket.created"]
        return [(n["ticket_id"],) for n in sorted(sent, key=lambda n: (_ts(n["created_at"]), n["id"]))]

    def _q_list_notifications(self, p: Params, f: Any) -> list[Row]:
        rows = sorted((n for n in self.db.notifications.values() if _matches(n, f)),
                      key=lambda n: (_ts(n["created_at"]), n["pos"]), reverse=True)
        return [(n["id"], n["event"], n["channel"], n["ticket_id"], n["status"], n["attempts"], n["created_at"],
                 n["due_at"], n["delivered_at"], n["message_id"], n["ref"], n["detail"]) for n in rows[:p["limit"]]]

    def _q_next_notification(self, p: Params, f: Any) -> list[Row]:
        due = [n["due_at"] for n in self.db.notifications.values() if n["status"] == "pending"]
        return [(min(due, key=_ts),)] if due else []


    # -- retention (store/_archive.py) -------------------------------------------------------
    def _q_tickets_created_before(self, p: Params, f: Any) -> list[Row]:
        rows = sorted((r for r in self.db.tickets.values() if _ts(r["created_at"]) < _ts(p["before"])),
                      key=lambda r: r["pos"])
        return [(r["id"], r["body"]) for r in rows]

    def _q_audit_before(self, p: Params, f: Any) -> list[Row]:
        return self._entries({"after": 0, "limit": None}, lambda e: e.at < p["before"])

    def _q_delete_tickets(self, p: Params, f: Any) -> None:
        self.db.tickets.pop(p["id"], None)

    def _q_delete_ticket_notifications(self, p: Params, f: Any) -> None:
        for key in [k for k, n in self.db.notifications.items() if n["ticket_id"] == p["id"]]:
            del self.db.notifications[key]

    def _q_delete_audit_upto(self, p: Params, f: Any) -> None:
        self.db.audit[:] = [e for e in self.db.audit if e.seq > p["seq"]]
