"""The SQL of each database, kept in .sql files so that it reads as SQL.

Per dialect (``sqlite/``, ``postgres/``): ``schema.sql`` creates a new database at the latest
version; ``migrations/NNNN_what.sql`` brings a database from version NNNN-1 to NNNN (0001 is
the first released schema, kept for the migration test); ``queries.sql`` holds every
statement the store runs, as named, described blocks::

    -- get_ticket: a ticket's stored record
    -- (more description lines, optional)
    SELECT body FROM tickets WHERE id = :id

Parameters are named (``:name`` on SQLite, ``%(name)s`` on PostgreSQL); values always travel
as parameters. The text is the package's own, so the queries are typed ``LiteralString``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Literal, LiteralString, cast

__all__ = ["Dialect", "latest_version", "migrations", "queries", "schema"]

Dialect = Literal["sqlite", "postgres"]
_HEADER = re.compile(r"^-- ([a-z0-9_]+): .+\n(?:-- .*\n)*", re.MULTILINE)


def _read(dialect: Dialect, name: str) -> str:
    return resources.files(__name__).joinpath(dialect, name).read_text(encoding="utf-8")


def parse_queries(text: str) -> dict[str, LiteralString]:
    """The named blocks of a queries file (anything before the first name is its header)."""
    parts = _HEADER.split(text)
    out: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in out:
            raise ValueError(f"query {name!r} is defined twice")
        # The files ship inside the package: as trusted as a literal in the code.
        out[name] = cast(LiteralString, body.strip().rstrip(";"))
    return out


@functools.cache
def queries(dialect: Dialect) -> dict[str, LiteralString]:
    """Every statement of ``dialect``'s store, by name."""
    return parse_queries(_read(dialect, "queries.sql"))


def schema(dialect: Dialect) -> str:
    """The script that creates a new database at ``latest_version``."""
    return _read(dialect, "schema.sql")


@functools.cache
def migrations(dialect: Dialect) -> dict[int, str]:
    """Version -> the script that brings the previous version to it."""
    folder = resources.files(__name__).joinpath(dialect, "migrations")
    return {int(f.name.split("_", 1)[0]): f.read_text(encoding="utf-8")
            for f in folder.iterdir() if f.name.endswith(".sql")}


def latest_version(dialect: Dialect) -> int:
    """The schema version this signoff writes (the last migration's number)."""
    return max(migrations(dialect))
