"""The in-memory store: the shared domain logic answered in Python, recording every query it runs."""

from __future__ import annotations

import pytest

from signoff import Action, Gate
from signoff.audit import verify_chain
from signoff.store import open_store
from signoff.store.memory import MemoryStore

POLICY = {"version": 1, "rules": [{"name": "r", "match": {"action": "deploy"}, "level": "approve"}]}


class TestMemoryStore:
    def test_open_store_gives_a_memory_store(self) -> None:
        """memory://name opens the in-memory store."""
        assert isinstance(open_store("memory://x"), MemoryStore)

    async def test_queries_are_recorded(self) -> None:
        """A submission without a key counts the agent's pending tickets (its quota), then inserts: no key lookup."""
        store = MemoryStore()
        async with Gate.open(policy=POLICY, store=store) as gate:
            store.queries.clear()
            await gate.submit(Action(name="deploy", args={}, agent="bot", reasoning="r"))
        assert ["pending_by_agent", "insert_tickets"] == [name for name, _ in store.queries]

    async def test_the_chain_verifies_and_a_second_store_sees_it(self) -> None:
        """Entries appended through one store verify when read through another on the same database."""
        url = "memory://chain-test"
        async with Gate.open(policy=POLICY, store=url) as gate:
            gate.add_reviewer("alice")
            t = await gate.submit(Action(name="deploy", args={}, agent="bot", reasoning="r"))
            await gate.approve(t.id, reviewer="alice")
        reader = open_store(url)
        await reader.open()
        result = verify_chain(await reader.audit_entries(), await reader.audit_head())
        assert (True, ["reviewer", "submitted", "approved"]) == (
            result.ok, [e.kind for e in await reader.audit_entries()])

    async def test_a_failed_transaction_leaves_nothing(self) -> None:
        """An error in the middle of a transaction rolls every table back."""
        store = MemoryStore()
        await store.open()
        with pytest.raises(Exception, match="no ticket"):
            await store.update_ticket("missing", lambda t: None)
        assert ([], {}) == (store.db.audit, store.db.tickets)
