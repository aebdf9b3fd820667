"""SQLite schema versions: a database written by an older signoff opens, migrated, with nothing lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from signoff import Action, Gate
from signoff.store import sql
from signoff.store._records import ticket_to_json
from signoff.store.sqlite import SCHEMA_VERSION, split_sql

POLICY = {"version": 1, "tiers": ["junior"],
          "rules": [{"name": "r", "match": {"action": "deploy"}, "level": "approve"}]}


BIG = {"messages": ["x" * 100] * 50}  # over INLINE_STATE_BYTES: moves to its own table


def make_v1(path: Path, tmp_path: Path, state: object) -> str:
    """A version-1 database holding one pending ticket with its state in the ticket row."""
    with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/scratch.db") as g:
        ticket = g.submit_sync(Action(name="deploy", args={"v": 1}, agent="bot", reasoning="r"))
    conn = sqlite3.connect(path)
    for stmt in split_sql(sql.migrations("sqlite")[1]):
        conn.execute(stmt)
    conn.execute(
        "INSERT INTO tickets (id, kind, status, agent, action, group_key, tier, deadline, created_at, body, "
        "state_kind, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (ticket.id, "approval", "pending", "bot", "deploy", ticket.group_key, None,
         ticket.deadline.timestamp() if ticket.deadline else None, ticket.created_at.timestamp(),
         ticket_to_json(ticket), "json", json.dumps(state).encode()))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    return ticket.id


class TestMigrations:
    @pytest.mark.parametrize("state", [{"step": 3}, BIG], ids=["small", "large"])
    def test_v1_state_survives_the_upgrade(self, tmp_path: Path, state: object) -> None:
        """A version-1 ticket's state (kept in the ticket row) resumes intact after the upgrade,
        whether it stays in the row (small) or moves to its own table (large)."""
        path = tmp_path / "old.db"
        tid = make_v1(path, tmp_path, state)
        with Gate.open(policy=POLICY, store=f"sqlite:///{path}") as g:
            g.add_reviewer("alice", tier="junior")
            g.approve_sync(tid, reviewer="alice")
            decision, got = g.resume_sync(tid)
        version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
        assert ("approved", state, SCHEMA_VERSION) == (decision.status, got, version)

    def test_new_database_is_at_the_current_version(self, tmp_path: Path) -> None:
        """A new database is created at the current schema version, with its state table."""
        path = tmp_path / "new.db"
        Gate.open(policy=POLICY, store=f"sqlite:///{path}").close()
        conn = sqlite3.connect(path)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert (SCHEMA_VERSION, True) == (conn.execute("PRAGMA user_version").fetchone()[0],
                                          "ticket_states" in tables)

    def test_opening_twice_migrates_once(self, tmp_path: Path) -> None:
        """Reopening a migrated database changes nothing."""
        path = tmp_path / "old.db"
        tid = make_v1(path, tmp_path, BIG)
        for _ in range(2):
            with Gate.open(policy=POLICY, store=f"sqlite:///{path}") as g:
                t = g.get_ticket_sync(tid)
        rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM ticket_states").fetchone()[0]
        assert ("pending", 1) == (t.status, rows)
