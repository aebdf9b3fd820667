"""``signoff db backup|restore|archive``: keep the store's data safe, and its size in check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from signoff._archives import write_archive
from signoff._errors import NotFound, UserError
from signoff._records import TicketQuery
from signoff.audit import verify_chain
from signoff.cli._db import db_option, fail, run_store, signoff_errors
from signoff.policy._durations import format_duration, parse_duration
from signoff.store import Store
from signoff.store._archive import ArchivePlan
from signoff.store._backup import backup_sqlite, restore_sqlite

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``db`` to ``group``."""
    group.add_command(db)


@click.group("db")
def db() -> None:
    """Back up, restore and archive the store."""


async def _verified(store: Store) -> tuple[str, str]:
    entries = await store.audit_entries()
    result = verify_chain(entries, await store.audit_head(), await store.audit_base())
    n = await store.count_tickets(TicketQuery(limit=1_000_000_000))
    return f"{n} ticket{'' if n == 1 else 's'}", str(result)


def _parent_exists(file: str) -> None:
    """Refuse, before any work, a FILE whose folder does not exist: say so and how to make it."""
    parent = Path(file).expanduser().parent
    if not parent.exists():
        raise UserError(f"{file}: the folder {parent} does not exist (create it first: mkdir -p {parent})")


@db.command("backup")
@db_option
@click.argument("file", type=click.Path(dir_okay=False))
def backup(db: str, file: str) -> None:
    """Copy a SQLite store to FILE while servers keep running, then check the copy.

    PostgreSQL: use pg_dump (the command says how)."""
    with signoff_errors():
        _parent_exists(file)
        version = backup_sqlite(db, file)
        tickets, audit = run_store(f"sqlite:///{file}", _verified)
    click.echo(f"backup written: {file} (schema {version}, {tickets}; {audit})")
    if "BROKEN" in audit:
        fail(f"the backup's {audit}", 1)


@db.command("restore")
@db_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--force", is_flag=True, help="Replace a store that holds tickets.")
def restore(db: str, file: str, force: bool) -> None:
    """Copy a backup FILE into a SQLite store (stop its servers first), then verify its audit log."""
    with signoff_errors():
        restore_sqlite(file, db, force=force)
        tickets, audit = run_store(db, _verified)
    click.echo(f"restored {file} into {db}: {tickets}; {audit}")
    if "BROKEN" in audit:
        fail(audit, 1)


@db.command("archive")
@db_option
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Archive tickets decided longer ago than this: 90d, 12h, ...")
@click.option("--to", "to", type=click.Path(dir_okay=False), metavar="FILE",
              help="The archive file to write (.jsonl, or .jsonl.gz to compress); never overwritten.")
@click.option("--dry-run", is_flag=True, help="Say what would be archived; change nothing.")
def archive(db: str, older_than: str, to: str | None, dry_run: bool) -> None:
    """Move decided tickets and the oldest audit entries out of the store into an archive file.

    The file is written and synced before anything is deleted; the store and its archives,
    oldest first, verify as one chain: `signoff audit verify --archive FILE ...`."""
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        fail(f"--older-than: {exc}", 2)
    if age.total_seconds() <= 0:
        fail("--older-than must be a positive duration, e.g. 90d", 2)
    if to is None and not dry_run:
        fail("--to FILE is required (or --dry-run)", 2)
    if to is not None and not dry_run:
        with signoff_errors():
            _parent_exists(to)
    before = datetime.now(UTC) - age

    async def run(store: Store) -> tuple[ArchivePlan, int | None, str]:
        plan = await store.archive_plan(before)
        held = await _held_at(store, plan)
        if dry_run or (not plan.tickets and not plan.entries):
            return plan, None, held
        assert to is not None
        write_archive(to, plan)
        return plan, await store.archive_commit(plan, actor="admin", archive=to), held

    with signoff_errors():
        try:
            plan, done, held = run_store(db, run, existing=True)
        except OSError as exc:
            raise UserError(f"cannot write the archive: {exc}") from None
    span = f"audit entries {plan.entries[0].seq}..{plan.entries[-1].seq}" if plan.entries else "no audit entries"
    n = len(plan.tickets)
    what = f"{n} ticket{'' if n == 1 else 's'} decided over {format_duration(age)} ago, {span}"
    if dry_run:
        click.echo(f"would archive {what}")
    elif done is None:
        click.echo(f"nothing to archive: no ticket decided over {format_duration(age)} ago")
    else:
        click.echo(f"archived {what} to {to}")
    if held:
        click.echo(held)


async def _held_at(store: Store, plan: ArchivePlan) -> str:
    """Why the audit segment stops before the cut-off, if it does: the entry of a ticket that stays.

    The segment is a prefix and every ticket in the store keeps its whole history, so one ticket
    that cannot go (one still pending, an open suggestion) holds back every entry after its first."""
    after = plan.end[0] if plan.end else 0
    following = await store.audit_entries(after=after, limit=1)
    if not following or datetime.fromisoformat(following[0].at) >= plan.before:
        return ""
    entry, tid = following[0], following[0].ticket_id
    if tid is None:
        return ""
    try:
        status = (await store.get_ticket(tid)).status
    except NotFound:
        return ""
    return (f"  audit entries from {entry.seq} on stay in the store: entry {entry.seq} is about ticket "
            f"{tid} ({status}), which stays, and an archive takes the log only up to it")
