"""What the store-backed commands share: ``--db``/``--policy`` options, running a store call,
aligned tables, and turning signoff's errors into one-line messages and exit codes.

Exit codes for every store command: 0 done, 1 refused or failed (a conflict, not authorised,
the store unavailable, a broken audit chain), 2 bad usage (bad URL, bad JSON, unknown name).
"""

from __future__ import annotations

import asyncio
import sys
import unicodedata
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from signoff._errors import (
    Conflict,
    InvalidAction,
    NotAuthorized,
    NotFound,
    PolicyError,
    SignoffError,
    StoreUnavailable,
    UserError,
)
from signoff._text import reveal
from signoff.store import Store, open_store

__all__ = ["db_option", "fail", "policy_option", "print_table", "run_store", "signoff_errors", "when"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    return click.option("--db", "db", envvar="SIGNOFF_DB", required=True, metavar="URL",
                        help="Store URL, e.g. sqlite:///signoff.db (env SIGNOFF_DB).")(fn)


def policy_option(required: bool, purpose: str = "for tier checks and re-evaluating edits") -> Callable[[F], F]:
    """``--policy FILE``; ``purpose`` says in its help what this command reads the policy for."""

    def deco(fn: F) -> F:
        return click.option("--policy", "policy", envvar="SIGNOFF_POLICY", required=required, metavar="FILE",
                            type=click.Path(dir_okay=False),
                            help=f"Policy file, {purpose} (env SIGNOFF_POLICY).")(fn)

    return deco


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"{click.style('error', fg='red', bold=True)}: {message}", err=True)
    sys.exit(code)


@contextmanager
def signoff_errors() -> Iterator[None]:
    """Print signoff's errors as one line and exit 1 (refused/failed) or 2 (bad usage)."""
    try:
        yield
    except PolicyError as exc:
        # A problem with no position (a missing file) reads "file: what", not "file:0:0: what".
        fail("\n".join(f"{p.file}: {p.message}" if (p.line, p.column) == (0, 0) else str(p)
                       for p in exc.problems) or str(exc), 2)
    except (UserError, NotFound) as exc:
        fail(reveal(str(exc)), 2)
    except (Conflict, NotAuthorized, InvalidAction, StoreUnavailable) as exc:
        fail(reveal(str(exc)), 1)
    except SignoffError as exc:
        fail(reveal(f"{type(exc).__name__}: {exc}"), 1)


def run_store(db: str, fn: Callable[[Store], Coroutine[Any, Any, T]], *, existing: bool = False) -> T:
    """Open the store at ``db``, run ``fn(store)``, close it (no gate, no sweeper).

    ``existing``: the command only reads what is there (verify, insights, listings), so a SQLite
    file that does not exist is a mistyped ``--db``, refused by name; opening it would create an
    empty store and answer "ok: 0 entries" about a database nobody has."""
    if existing and db.startswith("sqlite:"):
        from signoff.store.sqlite import SQLiteStore

        path = SQLiteStore(db).path
        if path != ":memory:" and not Path(path).expanduser().exists():
            raise UserError(f"{path}: no such database file (check --db or SIGNOFF_DB; this command reads a "
                            "store and does not create one)")

    async def main() -> T:
        store = open_store(db)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


def when(dt: datetime | None, *, now: datetime | None = None) -> str:
    """A time as people read it in a table: ``12:04:31`` today, else ``2026-11-24 12:04``."""
    if dt is None:
        return "-"
    local = dt.astimezone()
    now = (now or datetime.now(UTC)).astimezone()
    return local.strftime("%H:%M:%S") if local.date() == now.date() else local.strftime("%Y-%m-%d %H:%M")


def span(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``; negative spans read ``overdue``."""
    if seconds < 0:
        return "overdue"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                colours: Mapping[int, Callable[[str], str | None]] | None = None) -> None:
    """Aligned columns. Every cell is revealed (agent text may hide characters or carry escapes);
    ``colours`` maps a column to a function giving a cell's colour, applied after revealing."""
    cells = [[reveal(c, one_line=True) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], display_width(c))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()
    click.echo(click.style(line, bold=True))
    colours = colours or {}
    for row in cells:
        out = []
        for i, c in enumerate(row):
            padded = c + " " * (widths[i] - display_width(c))
            colour = colours[i](c) if i in colours else None
            out.append(click.style(padded, fg=colour) if colour else padded)
        click.echo("  ".join(out).rstrip())


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK, emoji) characters count 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width
