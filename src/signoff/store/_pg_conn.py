"""The PostgreSQL store's connection plumbing: its URL, connection names, and whether a
connection is dead, which decides when a transaction may safely run again."""

from __future__ import annotations

import os
import re
import select
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection

from signoff._errors import UserError

__all__ = ["app_name", "closed_while_idle", "commit_option", "connection_lost", "pool_option", "redact", "split_url"]


def app_name(role: str) -> str:
    """``signoff-<role>/<pid>``: which process holds which connection, in pg_stat_activity."""
    return f"signoff-{role}/{os.getpid()}"


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


_POOL_OPTIONS = ("pool_min_size", "pool_max_size", "pool_timeout", "commit", "lock_timeout")


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL and signoff's own options (pool sizes, ``commit``) taken out of its query string."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise UserError(f"bad PostgreSQL URL {redact(url)!r}: it must start with postgresql://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _POOL_OPTIONS}
    rest = [(k, v) for k, v in query if k not in _POOL_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


def pool_option(options: dict[str, str], key: str, default: float, url: str) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        value = -1
    if value <= 0:
        raise UserError(f"bad PostgreSQL URL {redact(url)!r}: {key} must be a positive number, "
                        f"got {options[key]!r}")
    return value


COMMIT_MODES = ("each", "grouped")


def commit_option(options: dict[str, str], url: str) -> bool:
    """``commit=grouped``: True (store/_pg_tx.py ``PgTx.commit``); ``each`` (the default): False."""
    value = options.get("commit", "each")
    if value not in COMMIT_MODES:
        raise UserError(f"bad PostgreSQL URL {redact(url)!r}: commit must be one of {', '.join(COMMIT_MODES)}, "
                        f"got {value!r}")
    return value == "grouped"


def closed_while_idle(conn: AsyncConnection[Any]) -> bool:
    """An idle pooled connection has nothing to read unless the server ended it (a FATAL message
    and EOF after a restart or pg_terminate_backend). One local poll, no round trip: a write then
    never starts on a connection known dead, where a failure would leave its outcome in doubt."""
    if conn.closed or conn.broken:
        return True
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


def connection_lost(exc: BaseException) -> bool:
    """An error of the connection itself (no server answer), not one the server reported."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))
