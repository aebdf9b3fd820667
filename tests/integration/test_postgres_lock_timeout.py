"""A write waiting on a lock another transaction holds (a stuck session, an operator's open psql) gives
up after ``lock_timeout`` with a StoreUnavailable that says so, while reads go on answering."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from signoff import Action, Gate, NotAuthorized, StoreUnavailable, UserError
from signoff.store.postgres import PostgresStore
from tests.postgres_server import create_database

pytestmark = pytest.mark.postgres

POLICY: dict[str, Any] = {"version": 1, "rules": [{"name": "all", "match": {"action": "*"}, "level": "approve"}]}


async def test_a_write_behind_a_held_row_lock_fails_within_lock_timeout(pg_url: str) -> None:
    db = create_database(pg_url)
    gate = Gate.open(policy=POLICY, store=PostgresStore(db + "?lock_timeout=1"), sweep=False)
    try:
        gate.add_reviewer("alice")
        ticket = await gate.submit(Action(name="deploy", agent="bot", reasoning="r"))
        with psycopg.connect(db) as holder:  # a transaction left open on the ticket's row
            holder.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ticket.id,))
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"held a lock this request needs for more than 1s"):
                await gate.approve(ticket.id, reviewer="alice")
            waited = time.monotonic() - started
            assert (await gate.get_ticket(ticket.id)).status == "pending"  # reads answer meanwhile
            holder.rollback()
        assert waited < 10, f"waited {waited:.1f}s behind a 1 s lock_timeout"
        assert (await gate.approve(ticket.id, reviewer="alice")).status == "approved"  # once the lock is gone
    finally:
        await asyncio.to_thread(gate.close)


def test_a_bad_lock_timeout_is_named() -> None:
    with pytest.raises(UserError, match="lock_timeout must be a positive number"):
        PostgresStore("postgresql://localhost/signoff?lock_timeout=soon")


async def test_a_decision_waits_for_a_change_to_its_reviewer_in_flight(pg_url: str) -> None:
    """An admin's change to the reviewer's record, not yet committed, holds the decision (the reviewer is
    share-locked in the decision's transaction): it is decided against the record as committed, never
    against one a moment stale. Here the change stays open past lock_timeout, so nothing is decided."""
    db = create_database(pg_url)
    gate = Gate.open(policy=POLICY, store=PostgresStore(db + "?lock_timeout=1"), sweep=False)
    try:
        gate.add_reviewer("alice")
        ticket = await gate.submit(Action(name="deploy", agent="bot", reasoning="r"))
        with psycopg.connect(db) as admin:  # disabling alice, in a transaction not yet committed
            admin.execute("UPDATE reviewers SET disabled = TRUE WHERE name = 'alice'")
            with pytest.raises(StoreUnavailable, match="held a lock"):
                await gate.approve(ticket.id, reviewer="alice")
            admin.commit()
        assert (await gate.get_ticket(ticket.id)).status == "pending"
        with pytest.raises(NotAuthorized, match="disabled"):  # the committed record wins
            await gate.approve(ticket.id, reviewer="alice")
    finally:
        await asyncio.to_thread(gate.close)
