"""A new database (schema.sql) and one migrated from the first release (0001 + every migration)
have the same schema, on SQLite and on PostgreSQL: tables, columns, types, defaults, indexes,
constraints, functions and triggers, compared from each database's own catalog."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from signoff.store import sql
from signoff.store.sqlite import split_sql


def _norm(text: str | None) -> str | None:
    return re.sub(r"\s+", " ", text).strip() if text is not None else None


# -- SQLite ---------------------------------------------------------------------------------------

def sqlite_catalog(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every object's shape, by name: columns (pragma table_info), indexes with their columns,
    uniqueness, origin (constraint or CREATE INDEX) and WHERE clause."""
    out: dict[str, Any] = {}
    objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                           "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name").fetchall()
    for kind, name, table, text in objects:
        if kind == "table":
            cols = [tuple(r[1:]) for r in conn.execute(f'PRAGMA table_info("{name}")')]
            indexes = sorted((r[1].startswith("sqlite_autoindex"), r[2], r[3], r[4],
                              tuple(c[2] for c in conn.execute(f'PRAGMA index_info("{r[1]}")')))
                             for r in conn.execute(f'PRAGMA index_list("{name}")'))
            out[f"table {name}"] = (cols, indexes)
        elif kind == "index":
            where = _norm(text.split(" WHERE ", 1)[1]) if text and " WHERE " in text else None
            out[f"index {name}"] = (table, where)
        else:  # trigger, view
            out[f"{kind} {name}"] = (table, _norm(text))
    return out


def sqlite_fresh(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in split_sql(sql.schema("sqlite")):
        conn.execute(stmt)
    return conn


def sqlite_migrated(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for version in sorted(sql.migrations("sqlite")):
        for stmt in split_sql(sql.migrations("sqlite")[version]):
            conn.execute(stmt)
    return conn


class TestSQLite:
    def test_fresh_equals_migrated(self, tmp_path: Path) -> None:
        """schema.sql and 0001 + the migrations give the same catalog."""
        assert sqlite_catalog(sqlite_migrated(tmp_path / "m.db")) == sqlite_catalog(sqlite_fresh(tmp_path / "f.db"))

    def test_the_comparison_sees_a_difference(self, tmp_path: Path) -> None:
        """A missing index, or one that lost its WHERE clause, shows in the catalog."""
        fresh = sqlite_catalog(sqlite_fresh(tmp_path / "f.db"))
        dropped = sqlite_fresh(tmp_path / "d.db")
        dropped.execute("DROP INDEX tickets_agent_idempotency")
        dropped.execute("CREATE UNIQUE INDEX tickets_agent_idempotency ON tickets (agent, idempotency_key)")
        assert fresh != sqlite_catalog(dropped)

    def test_versions_are_numbered_without_gaps(self) -> None:
        """Migrations run 1, 2, ... latest: a missing number would skip a step."""
        assert list(range(1, sql.latest_version("sqlite") + 1)) == sorted(sql.migrations("sqlite"))


# -- PostgreSQL -----------------------------------------------------------------------------------

PG_CATALOG = {
    "columns": "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default, "
               "is_identity, identity_generation FROM information_schema.columns "
               "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
               "ORDER BY indexname",
    "constraints": "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
                   "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                   "WHERE n.nspname = current_schema() ORDER BY 1, 2",
    "functions": "SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid) "
                 "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                 "WHERE n.nspname = current_schema() ORDER BY 1, 2",
    "triggers": "SELECT event_object_table, trigger_name, action_timing, event_manipulation, action_statement "
                "FROM information_schema.triggers WHERE trigger_schema = current_schema() ORDER BY 1, 2, 4",
    "sequences": "SELECT sequence_name, data_type, start_value, increment FROM information_schema.sequences "
                 "WHERE sequence_schema = current_schema() ORDER BY 1",
}


def pg_catalog(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return {name: conn.execute(query).fetchall() for name, query in PG_CATALOG.items()}  # type: ignore[arg-type]


def pg_database(pg_url: str, *scripts: str) -> str:
    import psycopg

    from tests.postgres_server import create_database

    url = create_database(pg_url)
    with psycopg.connect(url, autocommit=True) as conn:
        for script in scripts:
            conn.execute(script.encode())
    return url


@pytest.mark.postgres
class TestPostgres:
    def test_fresh_equals_migrated(self, pg_url: str) -> None:
        """schema.sql and 0001 + the migrations give the same catalog."""
        migrations = sql.migrations("postgres")
        fresh = pg_database(pg_url, sql.schema("postgres"))
        migrated = pg_database(pg_url, *(migrations[v] for v in sorted(migrations)))
        assert pg_catalog(migrated) == pg_catalog(fresh)

    def test_the_comparison_sees_a_difference(self, pg_url: str) -> None:
        """A column type, or a function body, that differs shows in the catalog."""
        fresh = pg_catalog(pg_database(pg_url, sql.schema("postgres")))
        changed = pg_database(pg_url, sql.schema("postgres"), "ALTER TABLE settings ALTER COLUMN value TYPE varchar")
        assert fresh != pg_catalog(changed)

    def test_versions_are_numbered_without_gaps(self) -> None:
        """Migrations run 1, 2, ... latest: a missing number would skip a step."""
        assert list(range(1, sql.latest_version("postgres") + 1)) == sorted(sql.migrations("postgres"))
