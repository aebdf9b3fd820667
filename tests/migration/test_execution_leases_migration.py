"""Migration 0005 (issue 17): a run left ``executing`` by a signoff from before leases is swept to
``unknown`` after the upgrade, for a reviewer to check, on SQLite and PostgreSQL; other tickets are
left alone."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Gate
from signoff._codec import ticket_to_json
from signoff._model import Level, Ticket
from signoff.store import sql
from signoff.store.sqlite import split_sql
from tests.migration.test_migration import pg_database

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POLICY = {"version": 1, "rules": [{"name": "r", "match": {"action": "deploy"}, "level": "approve"}]}


def _old(tid: str, execution: str) -> Ticket:
    action = Action(name="deploy", args={"v": 1}, agent="bot")
    return Ticket(id=tid, kind="approval", action=action, status="approved", level=Level.APPROVE, created_at=NOW,
                  decided_at=NOW, decided_by=("bob",), approvals=("bob",), approved_digest=action.digest(),
                  execution=execution, executor="old-host:1" if execution != "none" else None)  # type: ignore[arg-type]


TICKETS = [_old("tk_running", "executing"), _old("tk_done", "executed"), _old("tk_waiting", "none"),
           _old("tk_doubt", "unknown")]


def _row(t: Ticket) -> dict[str, Any]:
    return {"id": t.id, "kind": t.kind, "status": t.status, "agent": t.action.agent, "action": t.action.name,
            "group_key": "g", "created_at": NOW, "decided_at": NOW, "body": ticket_to_json(t)}


def _executions(url: str) -> tuple[list[str], list[str]]:
    """Each ticket's execution after the upgrade and a sweep, and the runs the inbox lists as in doubt."""
    with Gate.open(policy=POLICY, store=url, sweep=False) as gate:
        gate._sync("sweep", gate.sweep())
        doubt = [t.id for t in gate._sync("in doubt", gate.runs_in_doubt())]
        return [gate.get_ticket_sync(t.id).execution for t in TICKETS], sorted(doubt)


def test_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version in range(1, 5):
        for stmt in split_sql(sql.migrations("sqlite")[version]):
            conn.execute(stmt)
    for t in TICKETS:
        r = _row(t)
        conn.execute("INSERT INTO tickets (id, kind, status, agent, action, group_key, created_at, decided_at, body) "
                     "VALUES (:id, :kind, :status, :agent, :action, :group_key, :created_at, :decided_at, :body)",
                     {**r, "created_at": NOW.timestamp(), "decided_at": NOW.timestamp()})
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    assert (["unknown", "executed", "none", "unknown"], ["tk_doubt", "tk_running"]) == _executions(f"sqlite:///{path}")


@pytest.mark.postgres
def test_postgres(pg_url: str) -> None:
    import psycopg

    migrations = sql.migrations("postgres")
    url = pg_database(pg_url, *(migrations[v] for v in range(1, 5)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (one, version) VALUES (true, 4)")
        for t in TICKETS:
            conn.execute("INSERT INTO tickets (id, kind, status, agent, action, group_key, created_at, decided_at, "
                         "body) VALUES (%(id)s, %(kind)s, %(status)s, %(agent)s, %(action)s, %(group_key)s, "
                         "%(created_at)s, %(decided_at)s, %(body)s)", _row(t))
    assert (["unknown", "executed", "none", "unknown"], ["tk_doubt", "tk_running"]) == _executions(url)
