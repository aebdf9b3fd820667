"""Retention: decided tickets and the oldest audit entries move to archive files; the chain still verifies.

Each test plans and commits through a second store object on the test's store (any kind), as
``signoff db archive`` does, while the gate that made the history stays open.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from signoff import Action, Gate, NotFound
from signoff._archives import read_archive, verify_series, write_archive
from signoff._errors import Conflict, UserError
from signoff.store import Store, open_store
from signoff.store._archive import ArchivePlan, archivable
from tests.contract.conftest import read_audit, run_in_new_loop

T = TypeVar("T")


def on_store(store_url: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(store_url)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return run_in_new_loop(main())


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


def archive(store_url: str, path: Path, before: datetime | None = None) -> ArchivePlan:
    """What ``signoff db archive`` does: plan, write the file, commit."""

    async def run(store: Store) -> ArchivePlan:
        plan = await store.archive_plan(before or soon())
        write_archive(path, plan)
        await store.archive_commit(plan, archive=str(path))
        return plan

    return on_store(store_url, run)


def verify(store_url: str, *paths: Path) -> Any:
    async def run(store: Store) -> Any:
        return verify_series([read_archive(p) for p in paths], await store.audit_entries(),
                             base=await store.audit_base(), head=await store.audit_head())

    return on_store(store_url, run)


async def refund(gate: Gate, amount: float) -> str:
    return (await gate.submit(Action(name="issue_refund", args={"amount": amount}, agent="bot"))).id


async def test_decided_tickets_and_a_prefix_of_the_chain_go(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """Approved and rejected tickets go with every entry before the first one of a ticket that stays;
    the pending ticket and its history stay, and the store's chain verifies from where the archive ends."""
    approved, rejected = await refund(gate, 1.0), await refund(gate, 2.0)
    await gate.approve(approved, reviewer="alice")
    await gate.reject(rejected, reviewer="alice", feedback="no")
    pending = await refund(gate, 3.0)
    before = read_audit(store_url)
    first_of_pending = min(e.seq for e in before if e.ticket_id == pending)

    plan = archive(store_url, tmp_path / "a1.jsonl")

    assert {t.id for t in plan.tickets} == {approved, rejected}
    assert [e.seq for e in plan.entries] == list(range(1, first_of_pending))
    for gone in (approved, rejected):
        with pytest.raises(NotFound):
            await gate.get_ticket(gone)
    assert (await gate.get_ticket(pending)).status == "pending"
    assert [e.seq for e in read_audit(store_url, pending)] == [e.seq for e in before if e.ticket_id == pending]
    stored = await gate.verify_audit()
    assert stored.ok, stored.problem
    series = verify(store_url, tmp_path / "a1.jsonl")
    assert (series.ok, series.count) == (True, len(read_audit(store_url)) + len(plan.entries))
    assert read_audit(store_url)[-1].kind == "archived"


async def test_archives_chain_one_after_another(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """A second run continues where the first ended: both archives and the store verify as one chain,
    and leaving out the first archive is reported, not passed."""
    t1 = await refund(gate, 1.0)
    await gate.approve(t1, reviewer="alice")
    archive(store_url, tmp_path / "a1.jsonl.gz")
    t2 = await refund(gate, 2.0)
    await gate.reject(t2, reviewer="alice", feedback="no")
    second = archive(store_url, tmp_path / "a2.jsonl")

    assert [t.id for t in second.tickets] == [t2]
    assert second.base is not None and second.base == read_archive(tmp_path / "a1.jsonl.gz").end
    assert verify(store_url, tmp_path / "a1.jsonl.gz", tmp_path / "a2.jsonl").ok
    missing = verify(store_url, tmp_path / "a2.jsonl")
    assert not missing.ok and "pass every archive" in missing.problem
    alone = verify(store_url)
    assert alone.ok  # the store's own part verifies from its base


async def test_an_edited_archive_breaks_the_series(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """Changing an archived decision is caught, naming the archive."""
    t1 = await refund(gate, 1.0)
    await gate.approve(t1, reviewer="alice")
    path = tmp_path / "a1.jsonl"
    archive(store_url, path)
    lines = path.read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if '"approved"' in line and '"audit"' in line)
    entry = json.loads(lines[i])
    entry["audit"]["actor"] = "mallory"
    lines[i] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")

    result = verify(store_url, path)
    assert not result.ok and str(path) in result.problem and "changed" in result.problem


async def test_a_stale_plan_deletes_nothing(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """Two runs planned at once: the second commit is refused (Conflict) and deletes nothing."""
    t1 = await refund(gate, 1.0)
    await gate.approve(t1, reviewer="alice")
    t2 = await refund(gate, 2.0)
    await gate.approve(t2, reviewer="alice")

    async def race(store: Store) -> tuple[ArchivePlan, ArchivePlan]:
        return await store.archive_plan(soon()), await store.archive_plan(soon())

    first, second = on_store(store_url, race)
    on_store(store_url, lambda s: s.archive_commit(first))
    entries = read_audit(store_url)
    with pytest.raises(Conflict, match="archived by another run"):
        on_store(store_url, lambda s: s.archive_commit(second))
    assert read_audit(store_url) == entries


async def test_the_file_is_written_before_anything_is_deleted(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """An archive file that cannot be written (it exists) stops the run before the store changes."""
    t1 = await refund(gate, 1.0)
    await gate.approve(t1, reviewer="alice")
    taken = tmp_path / "a1.jsonl"
    taken.write_text("someone else's file\n")
    entries = read_audit(store_url)
    with pytest.raises(UserError, match="never overwritten"):
        archive(store_url, taken)
    assert read_audit(store_url) == entries
    assert (await gate.get_ticket(t1)).status == "approved"
    assert taken.read_text() == "someone else's file\n"


async def test_nothing_old_enough_is_nothing_taken(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """A cut-off before any decision takes no ticket and no entry."""
    t1 = await refund(gate, 1.0)
    await gate.approve(t1, reviewer="alice")
    plan = on_store(store_url, lambda s: s.archive_plan(datetime.now(UTC) - timedelta(days=1)))
    assert (plan.tickets, plan.entries) == ([], [])


async def test_tickets_that_can_still_change_stay(gate: Gate) -> None:
    """Pending, executing and unknown tickets never go, however old; a final one decided later than
    the cut-off waits for a later run."""
    t1 = await refund(gate, 1.0)
    ticket = await gate.approve(t1, reviewer="alice")
    later = soon()
    assert archivable(ticket, later)
    assert not archivable(ticket, ticket.decided_at or later)  # decided at the cut-off, not before it
    for execution in ("executing", "unknown"):
        assert not archivable(dataclasses.replace(ticket, execution=execution), later)
    pending = await gate.get_ticket(await refund(gate, 2.0))
    assert not archivable(pending, later)


async def test_feed_items_go_and_do_not_hold_the_chain_back(gate: Gate, store_url: str, tmp_path: Path) -> None:
    """A ``notify`` ticket (it ran when it was made, and has no decision) goes once made before the
    cut-off, so the chain's entries after it go too; an open suggestion stays, like a pending approval."""
    digest = await gate.submit(Action(name="send_digest", agent="bot"))
    approved = await refund(gate, 1.0)
    await gate.approve(approved, reviewer="alice")
    suggestion = await gate.submit(Action(name="iam.grant", agent="bot"))
    assert (digest.status, suggestion.status) == ("notified", "suggested")
    first_of_suggestion = min(e.seq for e in read_audit(store_url) if e.ticket_id == suggestion.id)

    plan = archive(store_url, tmp_path / "a1.jsonl")

    assert {t.id for t in plan.tickets} == {digest.id, approved}
    assert [e.seq for e in plan.entries] == list(range(1, first_of_suggestion))
    with pytest.raises(NotFound):
        await gate.get_ticket(digest.id)
    assert (await gate.get_ticket(suggestion.id)).status == "suggested"
    series = verify(store_url, tmp_path / "a1.jsonl")
    assert series.ok, series.problem
