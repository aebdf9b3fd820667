"""The PostgreSQL store's write transaction, in two round trips, and how its queries are sent.

Parameters are bound client-side (psycopg's ClientCursor: literals escaped by libpq), which
lets several statements travel in one message; every value still goes through a named
parameter, renamed per statement (``s3_id``) so that statements joined together keep theirs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import AsyncConnection

from signoff._errors import StoreUnavailable
from signoff._model import canonical_json
from signoff._records import AuditDraft, AuditEntry, Event
from signoff.audit import entry_hash
from signoff.store import sql
from signoff.store._base import Lock, Query, Row

__all__ = ["LOCK_CLASSES", "Attempt", "PgTx", "check_hash_pieces", "render"]

Q = sql.queries("postgres")
NOTIFY_MAX_TICKETS = 50

# Advisory lock classes (first key) of the locks a transaction names; the second key is the
# hash of the name. Session locks (migration, sweeper lease) are keyed in postgres.py.
LOCK_CLASSES = {"agent": 0x51600F4,  # name: the agent; quota checks of one agent queue here
                "idempotency": 0x51600F5,  # name: agent + newline + key; submissions with one key queue here
                "mode": 0x51600F6}


@dataclass
class Attempt:
    """Whether COMMIT went out: after that a lost connection is never retried (the outcome is unknown)."""

    commit_sent: bool = False


@functools.cache
def _renamed(text: LiteralString, prefix: str) -> LiteralString:
    renamed: LiteralString = re.sub(r"%\((\w+)\)s", lambda m: f"%({prefix}{m.group(1)})s", text)
    return renamed


def render(query: Query, prefix: str = "") -> tuple[LiteralString, dict[str, Any]]:
    """The query's text and parameters: ``{where}`` filled from its filters (fixed column names,
    values as parameters), ``many`` rows turned into one array per parameter, names prefixed."""
    text = Q[query.name]
    params: dict[str, Any] = dict(query.params)
    if query.many is not None:
        for key in query.many[0] if query.many else ():
            params[key] = [row[key] for row in query.many]
    if "{where}" in text:
        clauses = []
        for i, (column, value) in enumerate(query.filters):
            clauses.append(f"{column} = ANY(%(f{i})s)" if isinstance(value, tuple) else f"{column} = %(f{i})s")
            params[f"f{i}"] = list(value) if isinstance(value, tuple) else value
        text = text.replace("{where}", ("WHERE " + " AND ".join(clauses)) if clauses else "")
    if prefix:
        text = _renamed(text, prefix)
        params = {prefix + k: v for k, v in params.items()}
    return text, params


class PgTx:
    """One write transaction in two round trips: ``begin`` (locks and reads), then ``commit``.

    Between them the caller decides in Python and queues its writes (``write``) and audit
    entries (``append``); ``commit`` sends, in one message, the writes (one statement of
    data-modifying CTEs), ``signoff_append`` (the chain: lock, hash, insert, head record,
    NOTIFY) and COMMIT. The chain's lock is thus held only from that call to the end of COMMIT.
    ``grouped`` (``?commit=grouped``): that COMMIT does not wait for the disk, and ``commit_flush``
    follows it in the same message, a durable commit of its own that does (postgres.py: "Grouped
    commits"); the caller still hears of the write only once it is on disk.
    """

    def __init__(self, conn: AsyncConnection[Any], lock_key: tuple[int, int], *, grouped: bool = False) -> None:
        self.conn = conn
        self.lock_key = lock_key
        self.grouped = grouped
        self.base_seq = 0
        self.entries: list[AuditEntry] = []
        self._drafts: list[tuple[AuditDraft, dict[str, Any], tuple[str, str, str, str]]] = []
        self._writes: list[Query] = []
        self._began = False

    async def begin(self, locks: Sequence[Lock], reads: Sequence[Query]) -> list[list[Row]]:
        """BEGIN; the advisory locks (in a fixed order); ``reads`` (each with a snapshot taken after
        every lock was granted). One round trip, none when there is nothing to lock or read;
        returns the rows of each read, in order (none for a read of no rows)."""
        statements: list[Query] = []
        if locks:
            statements.append(Query("lock_names", {"c": [LOCK_CLASSES[lk.kind] for lk in locks],
                                                   "n": [lk.key or lk.kind for lk in locks]}))
        live = [q for q in reads if q.many is None or q.many]
        statements += live
        if not statements:
            return [[] for _ in reads]
        texts, params = ["BEGIN"], {}
        for i, q in enumerate(statements):
            text, ps = render(q, f"s{i}_")
            texts.append(text)
            params.update(ps)
        self._began = True
        cur = await self.conn.execute("; ".join(texts), params)  # joined fixed statements
        results: list[list[Row]] = []
        for _ in statements:
            cur.nextset()
            results.append(await cur.fetchall())
        got = iter(results[1:] if locks else results)
        return [next(got) if q.many is None or q.many else [] for q in reads]

    def write(self, query: Query) -> None:
        """Queue a data-modifying statement for ``commit`` (a query of no rows is dropped)."""
        if query.many is None or query.many:
            self._writes.append(query)

    def append(self, draft: AuditDraft) -> None:
        """Queue an audit entry; ``commit`` appends it to the chain (``entries`` then holds it)."""
        data = dict(draft.data)
        self._drafts.append((draft, data, _hash_pieces(draft, data)))

    async def commit(self, attempt: Attempt) -> None:
        """The writes, the chain's append and COMMIT, in one message."""
        statements: list[str] = [] if self._began else ["BEGIN"]
        params: dict[str, Any] = {}
        if self._writes:
            ctes = []
            for i, q in enumerate(self._writes):
                text, ps = render(q, f"w{i}_")
                ctes.append(f"w{i} AS ({text})")
                params.update(ps)
            statements.append("WITH " + ", ".join(ctes) + " SELECT 1")
        drafts = self._drafts
        if drafts:
            text, ps = render(Query("audit_append", {
                "lock_class": self.lock_key[0], "lock_key": self.lock_key[1],
                "kinds": [d.kind for d, _, _ in drafts], "ticket_ids": [d.ticket_id for d, _, _ in drafts],
                "actors": [d.actor for d, _, _ in drafts],
                "datas": [json.dumps(data, sort_keys=True) for _, data, _ in drafts],
                **{f"piece{k}": [p[k] for _, _, p in drafts] for k in range(4)},
                "notify_tickets": _notify_tickets(drafts)}), "a_")
            statements.append(text)
            params.update(ps)
        if drafts and self.grouped:
            # The chain's lock (and PostgreSQL's NOTIFY lock) are held to the end of COMMIT: with
            # synchronous_commit off that end comes before the disk flush, which commit_flush
            # then waits for, sharing it with every other writer's (postgres.py, "Grouped commits").
            statements.append("SET LOCAL synchronous_commit = off")
        statements.append("COMMIT")
        if drafts and self.grouped:
            statements.append(Q["commit_flush"])
        attempt.commit_sent = True
        cur = await self.conn.execute("; ".join(statements), params)  # joined fixed statements
        if not drafts:
            return
        for _ in range(int(not self._began) + int(bool(self._writes))):
            cur.nextset()  # past BEGIN and the writes, to signoff_append's rows
        rows = await cur.fetchall()
        if len(rows) != len(drafts):
            raise psycopg.DataError(f"signoff_append returned {len(rows)} entries for {len(drafts)}")
        for (draft, data, _), (seq, at, prev, h) in zip(drafts, rows, strict=True):
            self.entries.append(AuditEntry(seq=int(seq), at=str(at), kind=draft.kind, ticket_id=draft.ticket_id,
                                           actor=draft.actor, data=data, prev_hash=str(prev), hash=str(h)))
        self.base_seq = self.entries[0].seq - 1

    def events(self) -> list[Event]:
        return [Event(seq=e.seq, kind=e.kind, ticket_id=e.ticket_id, data=e.data) for e in self.entries]


def _notify_tickets(drafts: Sequence[tuple[AuditDraft, Any, Any]]) -> str:
    """The NOTIFY payload's second part: the tickets concerned (``-`` none, ``*`` too many to list)."""
    ids = sorted({d.ticket_id for d, _, _ in drafts if d.ticket_id})
    if len(ids) > NOTIFY_MAX_TICKETS:
        return "*"
    return " ".join(ids) or "-"


def _hash_pieces(draft: AuditDraft, data: dict[str, Any]) -> tuple[str, str, str, str]:
    """The entry's canonical JSON (what ``entry_hash`` hashes) cut around at, prev_hash and seq.

    ``signoff_append`` fills in the three values under the chain's lock and hashes the joined
    text, so the hash is exactly ``signoff.audit.entry_hash`` of the stored entry.
    """
    while True:
        marks = [f"@{secrets.token_hex(12)}@" for _ in range(3)]
        text = canonical_json({"seq": marks[2], "at": marks[0], "kind": draft.kind, "ticket_id": draft.ticket_id,
                               "actor": draft.actor, "data": data, "prev_hash": marks[1]})
        if all(text.count(m) == 1 for m in marks):
            break
    head, rest = text.split(marks[0])
    middle, rest = rest.split(marks[1])
    tail_a, tail_b = rest.split(f'"{marks[2]}"')  # seq is a number: no quotes around it
    return head, middle, tail_a, tail_b


def check_hash_pieces() -> None:
    """The pieces must rebuild exactly what ``entry_hash`` hashes; a change to the hashed fields
    in signoff.audit would otherwise write entries that fail verification. Checked at open()."""
    draft = AuditDraft(kind="k", actor="a", ticket_id="t", data={"x": [1, "é"]})
    p0, p1, p2, p3 = _hash_pieces(draft, dict(draft.data))
    at, prev, seq = "2026-01-01T00:00:00.000001+00:00", "ab" * 32, 42
    ours = hashlib.sha256((p0 + at + p1 + prev + p2 + str(seq) + p3).encode()).hexdigest()
    if ours != entry_hash(seq=seq, at=at, kind="k", ticket_id="t", actor="a", data=draft.data, prev_hash=prev):
        raise StoreUnavailable("signoff.audit.entry_hash no longer matches how the PostgreSQL store hashes "
                               "audit entries (store/_pg_tx.py _hash_pieces): refusing to write a broken chain")
