"""Backups of the embedded SQLite store, with SQLite's online backup API.

The backup API copies a consistent snapshot while servers keep working (it restarts when a
writer changes a page it has copied; small steps let the writers in between). A backup is
written beside its final name and renamed when complete and checked, so a half backup never
carries the name. Restoring copies a backup into the store's file the same way, after checking
that it is a signoff database; the servers on that file must be stopped first.

PostgreSQL has its own tools (``pg_dump``, base backups with WAL archiving): signoff does not
wrap them, and says so (docs/backups.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from signoff._errors import UserError
from signoff.store import sql

__all__ = ["backup_sqlite", "restore_sqlite", "sqlite_path"]

_PAGES_PER_STEP = 1024
PG_HINT = ("PostgreSQL is backed up with its own tools: `pg_dump --format=custom --file FILE URL` "
           "(restore: `pg_restore --clean --if-exists --dbname URL FILE`), or base backups with WAL "
           "archiving; see docs/backups.md")


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///`` URL; UserError for anything else."""
    if url.startswith(("postgresql:", "postgres:")):
        raise UserError(PG_HINT)
    from signoff.store.sqlite import SQLiteStore

    if not url.startswith("sqlite:"):
        raise UserError(f"unsupported store URL {url!r}: backups are for sqlite:///path/to/file.db")
    path = SQLiteStore(url).path
    if path == ":memory:":
        raise UserError("an in-memory SQLite store has nothing to back up")
    return Path(path).expanduser()


def _check_signoff_db(conn: sqlite3.Connection, what: str) -> int:
    """The schema version of a signoff database, or UserError saying what ``what`` is not."""
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{what} is not a SQLite database ({exc})") from None
    if problems != ["ok"]:
        raise UserError(f"{what} is damaged: {'; '.join(problems[:3])}")
    if version == 0 or not {"tickets", "audit", "settings"} <= tables:
        raise UserError(f"{what} is not a signoff database")
    if version > sql.latest_version("sqlite"):
        raise UserError(f"{what} has schema version {version}, newer than this signoff "
                        f"({sql.latest_version('sqlite')}): upgrade signoff")
    return version


def backup_sqlite(url: str, dest: str | Path) -> int:
    """Copy the store at ``url`` to ``dest`` (a new file) while it is in use; returns the schema version."""
    src_path = sqlite_path(url)
    final = Path(dest)
    if not src_path.is_file():
        raise UserError(f"{src_path}: no such database file")
    if final.exists():
        raise UserError(f"{final} exists: a backup is never written over a file (choose another name)")
    if not final.parent.is_dir():
        raise UserError(f"{final.parent} is not a directory")
    tmp = final.with_name(f".{final.name}.partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=10)
    try:
        _check_signoff_db(src, str(src_path))
        out = sqlite3.connect(tmp)
        try:
            src.backup(out, pages=_PAGES_PER_STEP)
            out.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            version = _check_signoff_db(out, f"the backup of {src_path}")
        finally:
            out.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return version


def restore_sqlite(backup: str | Path, url: str, *, force: bool = False) -> int:
    """Copy ``backup`` into the store at ``url``; returns the backup's schema version.

    A store that holds tickets is only replaced with ``force``. The servers on it must be stopped:
    the copy replaces the file's content under them."""
    src_path = Path(backup)
    dest_path = sqlite_path(url)
    if not src_path.is_file():
        raise UserError(f"{src_path}: no such backup file")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    try:
        version = _check_signoff_db(src, str(src_path))
        if dest_path.exists() and not force:
            dest = sqlite3.connect(f"file:{dest_path}?mode=ro", uri=True)
            try:
                has = dest.execute("SELECT name FROM sqlite_master WHERE name = 'tickets'").fetchone()
                n = dest.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] if has else 0
            except sqlite3.DatabaseError:
                n = -1
            finally:
                dest.close()
            if n != 0:
                held = f"holds {n} tickets" if n > 0 else "is not an empty signoff database"
                raise UserError(f"{dest_path} {held}: pass --force to replace it with the backup "
                                "(stop the servers on it first)")
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        out = sqlite3.connect(dest_path, timeout=10)
        try:
            src.backup(out, pages=_PAGES_PER_STEP)
            _check_signoff_db(out, f"{dest_path} after the restore")
        finally:
            out.close()
    finally:
        src.close()
    return version
