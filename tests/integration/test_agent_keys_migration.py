"""The migration to idempotency keys per agent (SQLite 3, PostgreSQL 2), on databases written by the
previous schema: existing tickets and their keys keep working, another agent may now use the same key,
and the revoked-sessions table exists."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Gate
from signoff._model import Ticket, utcnow
from signoff.store import sql
from signoff.store._records import ticket_to_json
from signoff.store.sqlite import SCHEMA_VERSION as SQLITE_VERSION
from signoff.store.sqlite import split_sql

POLICY = {"version": 1, "tiers": ["junior"],
          "rules": [{"name": "r", "match": {"action": "deploy"}, "level": "approve"}]}


def deploy(agent: str, version: int) -> Action:
    return Action(name="deploy", args={"v": version}, agent=agent, reasoning="r")


def old_tickets(tmp_path: Path) -> list[Ticket]:
    """Two pending tickets with keys, made by a current gate (only their JSON bodies are reused):
    both created at the same instant, so only the insertion order tells them apart."""
    with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/scratch.db") as g:
        made = [g.submit_sync(deploy("bot", 1), idempotency_key="run-1/step-1"),
                g.submit_sync(deploy("bot", 2), idempotency_key="run-1/step-2")]
    at = utcnow()
    # Ids in reverse alphabetical order of insertion: an order by id would show them swapped.
    return [made[0].evolve(id="tk_ffff000000000001", created_at=at, deadline=at + timedelta(minutes=30)),
            made[1].evolve(id="tk_0000000000000002", created_at=at, deadline=at + timedelta(minutes=30))]


def row(t: Ticket) -> tuple[Any, ...]:
    return (t.id, "approval", "pending", t.action.agent, t.action.name, t.group_key, t.idempotency_key,
            t.deadline.timestamp() if t.deadline else None, t.created_at.timestamp(), ticket_to_json(t))


def after_upgrade(g: Gate, tickets: list[Ticket]) -> tuple[Any, ...]:
    """What an upgraded store answers: the same agent's key finds its old ticket, another agent gets a
    ticket of its own under that key, and the listing keeps the insertion order."""
    same = g.submit_sync(deploy("bot", 1), idempotency_key="run-1/step-1")
    other = g.submit_sync(deploy("other-bot", 9), idempotency_key="run-1/step-1")
    found = g.find_ticket_sync(idempotency_key="run-1/step-2", agent="bot")
    listed = [t.id for t in g.list_tickets_sync(agent="bot")]
    return (same.id == tickets[0].id, other.id not in {t.id for t in tickets},
            found.id if found else None, listed)


class TestSQLite:
    def test_a_version_1_database_upgrades_with_keys_per_agent(self, tmp_path: Path) -> None:
        """A v1 database (keys unique on their own) opens at the current version with its tickets intact."""
        tickets = old_tickets(tmp_path)
        path = tmp_path / "old.db"
        conn = sqlite3.connect(path)
        for stmt in split_sql(sql.migrations("sqlite")[1]):
            conn.execute(stmt)
        for t in tickets:
            conn.execute("INSERT INTO tickets (id, kind, status, agent, action, group_key, idempotency_key, "
                         "deadline, created_at, body) VALUES (?,?,?,?,?,?,?,?,?,?)", row(t))
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()
        with Gate.open(policy=POLICY, store=f"sqlite:///{path}", sweep=False) as g:
            got = after_upgrade(g, tickets)
        check = sqlite3.connect(path)
        version = check.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert (True, True, tickets[1].id, [tickets[0].id, tickets[1].id]) == got
        assert (SQLITE_VERSION, True, False) == (version, "revoked_sessions" in tables, "tickets_v3" in tables)


@pytest.mark.postgres
class TestPostgres:
    def test_a_version_1_database_upgrades_with_keys_per_agent(self, pg_url: str, tmp_path: Path) -> None:
        """A v1 database (keys unique on their own) opens at the current version with its tickets intact."""
        import psycopg

        from signoff.store.postgres import SCHEMA_VERSION
        from tests.postgres_server import create_database

        db = create_database(pg_url)
        tickets = old_tickets(tmp_path)
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(sql.migrations("postgres")[1].encode())
            conn.execute("INSERT INTO schema_version (one, version) VALUES (true, 1)")
            for t in tickets:
                conn.execute("INSERT INTO tickets (id, kind, status, agent, action, group_key, idempotency_key, "
                             "deadline, created_at, body) VALUES (%s,%s,%s,%s,%s,%s,%s,to_timestamp(%s),"
                             "to_timestamp(%s),%s)", row(t))
        with Gate.open(policy=POLICY, store=db, sweep=False) as g:
            got = after_upgrade(g, tickets)
        with psycopg.connect(db, autocommit=True) as conn:
            version = conn.execute("SELECT version FROM schema_version").fetchone()
            revoked = conn.execute("SELECT to_regclass('revoked_sessions') IS NOT NULL").fetchone()
        assert (True, True, tickets[1].id, [tickets[0].id, tickets[1].id]) == got
        assert ((SCHEMA_VERSION,), (True,)) == (version, revoked)
