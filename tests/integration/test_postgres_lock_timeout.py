"""A write waiting on a lock another transaction holds (a stuck session, an operator's open psql) gives
up after ``lock_timeout`` with a StoreUnavailable that says so, while reads go on answering."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from signoff import Action, Gate, StoreUnavailable, UserError
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
