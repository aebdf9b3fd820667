"""Archive files: what a retention run took out of the store, in a form that verifies on its own.

JSON Lines, gzipped when the name ends in ``.gz``. The first line is the header: the format
version, the cut-off, the segment of the audit chain it holds (``base``: the entry it links to,
``end``: its last entry) and the chain's head when it was written. Then one line per ticket
(``{"ticket": <the stored record>}``) and one per audit entry (``{"audit": {...}}``), oldest
first. The series of archives of a store, oldest first, and the store itself verify as one chain
from the genesis to the head (``verify_series``), so deleting history never hides a change to it.

A file is written beside its final name, synced, then renamed: a crash leaves no half archive
under the final name, and an existing file is never overwritten.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, cast

from signoff._errors import UserError
from signoff._model import Ticket, canonical_json, utcnow
from signoff._records import AuditEntry
from signoff.audit import VerifyResult, parse_head, verify_chain
from signoff.store._archive import ArchivePlan
from signoff.store._records import ticket_from_json, ticket_to_json

__all__ = ["Archive", "read_archive", "verify_series", "write_archive"]

FORMAT = "signoff-archive/1"


@dataclass(frozen=True)
class Archive:
    """An archive file read back."""

    path: str
    before: str
    base: tuple[int, str] | None
    end: tuple[int, str] | None
    head: tuple[int, str] | None
    tickets: list[Ticket]
    entries: list[AuditEntry]


def _mark(point: tuple[int, str] | None) -> str | None:
    return f"{point[0]}:{point[1]}" if point else None


def _open(path: Path, mode: str, *, gz: bool) -> IO[str]:
    if gz:
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8"))
    return open(path, mode, encoding="utf-8")


def write_archive(path: str | Path, plan: ArchivePlan) -> None:
    """Write ``plan`` to ``path`` (never over an existing file), durably, before anything is deleted."""
    final = Path(path)
    if final.exists():
        raise UserError(f"{final} exists: an archive is never overwritten (choose another name)")
    if not final.parent.is_dir():
        raise UserError(f"{final.parent} is not a directory")
    tmp = final.with_name(f".{final.name}.partial")
    header = {"format": FORMAT, "written_at": utcnow().isoformat(), "before": plan.before.isoformat(),
              "base": _mark(plan.base), "end": _mark(plan.end), "head": _mark(plan.head),
              "tickets": len(plan.tickets), "entries": len(plan.entries)}
    with _open(tmp, "w", gz=final.suffix == ".gz") as out:
        out.write(json.dumps(header, sort_keys=True) + "\n")
        for t in plan.tickets:
            out.write('{"ticket":' + ticket_to_json(t) + "}\n")
        for e in plan.entries:
            out.write(canonical_json({"audit": asdict(e) | {"data": dict(e.data)}}) + "\n")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path, "r", gz=path.suffix == ".gz") as f:
        for n, line in enumerate(f, 1):
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise UserError(f"{path}:{n}: not an archive line ({exc})") from None
            if not isinstance(value, dict):
                raise UserError(f"{path}:{n}: not an archive line (a JSON object was expected)")
            yield n, value


def read_archive(path: str | Path) -> Archive:
    """Read an archive file; UserError naming the file and line for anything that is not one."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such archive file")
    try:
        lines = _lines(p)
        first = next(lines, None)
        if first is None or first[1].get("format") != FORMAT:
            raise UserError(f"{p}:1: not a signoff archive (expected a header with format {FORMAT!r})")
        header = first[1]
        tickets: list[Ticket] = []
        entries: list[AuditEntry] = []
        for n, value in lines:
            if "ticket" in value:
                tickets.append(ticket_from_json(json.dumps(value["ticket"])))
            elif "audit" in value:
                try:
                    entries.append(AuditEntry(**value["audit"]))
                except TypeError as exc:
                    raise UserError(f"{p}:{n}: a malformed audit entry ({exc})") from None
            else:
                raise UserError(f"{p}:{n}: neither a ticket nor an audit entry")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"{p}: cannot read the archive ({exc})") from None
    return Archive(path=str(p), before=str(header.get("before", "")), base=parse_head(header.get("base")),
                   end=parse_head(header.get("end")), head=parse_head(header.get("head")),
                   tickets=tickets, entries=entries)


def verify_series(archives: Sequence[Archive], stored: Iterable[AuditEntry], *, base: tuple[int, str] | None,
                  head: tuple[int, str] | None) -> VerifyResult:
    """Verify archives (oldest first) and the store's chain (from ``base`` to ``head``) as one chain."""
    count = 0
    linked: tuple[int, str] | None = None
    for a in archives:
        if a.base != linked:
            where = f"after entry {a.base[0]}" if a.base else "at the first entry"
            want = f"after entry {linked[0]}" if linked else "at the first entry"
            return VerifyResult(False, count, (linked[0] + 1) if linked else 1,
                                f"{a.path} starts {where}, but the chain continues {want}: "
                                "pass every archive, oldest first")
        result = verify_chain(a.entries, a.end, a.base)
        if not result.ok:
            return VerifyResult(False, count + result.count, result.first_bad, f"{a.path}: {result.problem}")
        count += result.count
        linked = a.end
    if archives and base != linked:
        stored_from, archived_to = base[0] if base else 0, linked[0] if linked else 0
        return VerifyResult(False, count, archived_to + 1, "the store's chain does not continue where the last "
                            f"archive ends (store: after entry {stored_from}; archive: up to entry {archived_to})")
    result = verify_chain(stored, head, base)
    return VerifyResult(result.ok, count + result.count, result.first_bad, result.problem)
