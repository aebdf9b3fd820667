"""signoff.audit on the in-memory store: a chain built by real submissions and decisions verifies,
and an edit, an insertion or a deletion in its middle (or a tail deleted) is named by its first bad entry."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator

import pytest

from signoff import Action, Gate
from signoff._records import AuditDraft
from signoff.audit import GENESIS, chain_end, entry_hash, link, parse_head, verify_chain
from signoff.store.memory import MemoryStore

POLICY = {"version": 1, "rules": [{"name": "r", "match": {"action": "deploy"}, "level": "approve"}]}


@pytest.fixture
async def gate_store() -> AsyncIterator[tuple[Gate, MemoryStore]]:
    """A gate on a fresh memory:// database holding six entries (reviewer, 3 submitted, approved, rejected)."""
    store = MemoryStore(f"memory://audit-{secrets.token_hex(4)}")
    async with Gate.open(policy=POLICY, store=store) as gate:
        gate.add_reviewer("alice")
        tickets = [await gate.submit(Action(name="deploy", args={"n": i}, agent="bot")) for i in range(3)]
        await gate.approve(tickets[0].id, reviewer="alice")
        await gate.reject(tickets[1].id, reviewer="alice", feedback="no")
        yield gate, store


class TestChain:
    async def test_an_untouched_chain_verifies(self, gate_store: tuple[Gate, MemoryStore]) -> None:
        gate, store = gate_store
        result = await gate.verify_audit()
        assert (True, 6, None, [e.seq for e in store.db.audit]) == (
            result.ok, result.count, result.first_bad, [1, 2, 3, 4, 5, 6])

    async def test_each_entry_links_to_the_one_before(self, gate_store: tuple[Gate, MemoryStore]) -> None:
        _, store = gate_store
        chain = store.db.audit
        assert [GENESIS, *(e.hash for e in chain[:-1])] == [e.prev_hash for e in chain]
        assert all(e.hash == entry_hash(seq=e.seq, at=e.at, kind=e.kind, ticket_id=e.ticket_id, actor=e.actor,
                                        data=e.data, prev_hash=e.prev_hash) for e in chain)

    async def test_an_edit_is_named(self, gate_store: tuple[Gate, MemoryStore]) -> None:
        """Changing what an entry says (the reviewer's feedback) breaks that very entry."""
        gate, store = gate_store
        i = next(i for i, e in enumerate(store.db.audit) if e.kind == "rejected")
        store.db.audit[i] = dataclasses.replace(store.db.audit[i], data={**store.db.audit[i].data, "feedback": "ok"})
        result = await gate.verify_audit()
        assert (False, i + 1, "its contents were changed after it was written") == (
            result.ok, result.first_bad, result.problem)

    async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
            self, gate_store: tuple[Gate, MemoryStore]) -> None:
        gate, store = gate_store
        e = store.db.audit[2]
        forged = dataclasses.replace(e, actor="mallory")
        store.db.audit[2] = dataclasses.replace(forged, hash=entry_hash(
            seq=e.seq, at=e.at, kind=e.kind, ticket_id=e.ticket_id, actor="mallory", data=e.data,
            prev_hash=e.prev_hash))
        result = await gate.verify_audit()
        assert (False, 4) == (result.ok, result.first_bad)

    async def test_an_insertion_is_named(self, gate_store: tuple[Gate, MemoryStore]) -> None:
        gate, store = gate_store
        before = store.db.audit[2]
        extra = link(AuditDraft(kind="approved", actor="mallory", ticket_id=None, data={}),
                     (before.seq, before.hash))
        store.db.audit.insert(3, extra)
        result = await gate.verify_audit()
        assert (False, 5, "entry 5 is duplicated or reordered (found 4)") == (
            result.ok, result.first_bad, result.problem)

    async def test_a_deletion_in_the_middle_is_named(self, gate_store: tuple[Gate, MemoryStore]) -> None:
        gate, store = gate_store
        del store.db.audit[2]
        result = await gate.verify_audit()
        assert (False, 3, "entry 3 is missing (found 4)") == (result.ok, result.first_bad, result.problem)

    async def test_a_deleted_tail_is_named_even_after_more_writes(
            self, gate_store: tuple[Gate, MemoryStore]) -> None:
        gate, store = gate_store
        del store.db.audit[-1]
        assert (False, 6) == ((r := await gate.verify_audit()).ok, r.first_bad)
        await gate.submit(Action(name="deploy", args={"n": 9}, agent="bot"))
        result = await gate.verify_audit()
        assert (False, 6) == (result.ok, result.first_bad)


class TestHead:
    def test_parse_head(self) -> None:
        assert (None, None, (7, "ab")) == (parse_head(""), parse_head(None), parse_head("7:ab"))

    def test_chain_end_links_to_the_recorded_head(self) -> None:
        """The head wins over the last row; rows beyond it only push the number on."""
        assert ((3, "h"), (5, "h"), (4, "x"), None) == (
            chain_end((3, "h"), (2, "y")), chain_end((3, "h"), (5, "z")), chain_end(None, (4, "x")),
            chain_end(None, None))

    def test_an_emptied_log_is_named(self) -> None:
        result = verify_chain([], (4, "h"))
        assert (False, 1) == (result.ok, result.first_bad)
