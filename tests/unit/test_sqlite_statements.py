"""The SQLite driver binds named queries by position: ``:name`` becomes ``?`` once, at import."""

from __future__ import annotations

import sqlite3

from signoff.store import sql
from signoff.store.sqlite import STATEMENTS, _statement, split_sql


def test_names_become_positions_in_order_outside_literals_and_comments() -> None:
    stmt = _statement("SELECT ':kept', x -- :also kept\nFROM t WHERE a = :a AND b = :b OR a = :a")
    assert (stmt.text, stmt.names, stmt.where) == (
        "SELECT ':kept', x -- :also kept\nFROM t WHERE a = ? AND b = ? OR a = ?", ("a", "b", "a"), False)


def test_a_where_query_keeps_its_names() -> None:
    stmt = _statement("SELECT body FROM tickets {where} LIMIT :limit")
    assert (stmt.text, stmt.where) == ("SELECT body FROM tickets {where} LIMIT :limit", True)


def test_every_positional_query_prepares_with_its_parameters() -> None:
    """Each statement of the file, rewritten, is valid SQL on the schema and takes exactly its names."""
    conn = sqlite3.connect(":memory:")
    for stmt_text in split_sql(sql.schema("sqlite")):
        conn.execute(stmt_text)
    for stmt in STATEMENTS.values():
        if stmt.where or stmt.text.lstrip().upper().startswith("PRAGMA"):
            continue
        conn.execute("EXPLAIN " + stmt.text, (None,) * len(stmt.names))  # raises on a wrong count
    conn.close()
