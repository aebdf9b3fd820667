"""The audit log's hash chain: how an entry's hash is made, and how a chain is verified.

Each entry's hash covers every stored field but the hash itself, including the
previous entry's hash, so an edit, an insertion or a deletion breaks the chain at
the first bad entry. A deletion at the tail is caught by the head record the store
keeps in the same transaction, and stays caught after more entries are appended: the
next entry links to the recorded head (``chain_end``), not to whatever row is last, so
the deleted entry leaves a gap in seq.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from signoff._model import canonical_json, utcnow
from signoff._records import AuditDraft, AuditEntry

__all__ = ["GENESIS", "VerifyResult", "chain_end", "entry_hash", "link", "parse_head", "verify_chain"]

GENESIS = "0" * 64


def entry_hash(*, seq: int, at: str, kind: str, ticket_id: str | None, actor: str,
               data: Mapping[str, Any], prev_hash: str) -> str:
    body = canonical_json({"seq": seq, "at": at, "kind": kind, "ticket_id": ticket_id, "actor": actor,
                           "data": dict(data), "prev_hash": prev_hash})
    return hashlib.sha256(body.encode()).hexdigest()


def parse_head(value: object) -> tuple[int, str] | None:
    """The head record as stored (``'<seq>:<hash>'``; empty or None: no head yet)."""
    if not value:
        return None
    seq, _, h = str(value).partition(":")
    return int(seq), h


def chain_end(head: tuple[int, str] | None, last: tuple[int, str] | None) -> tuple[int, str] | None:
    """What the next entry links to, given the recorded head and the last stored row (seq, hash).

    The head, so that entries deleted from the end leave a gap in seq (and a forged tail a
    broken link) that ``verify_chain`` reports; numbered past any row beyond the head, so an
    append never collides with it. No head (an old database): the last row."""
    if head is None:
        return last
    if last is not None and last[0] > head[0]:
        return last[0], head[1]
    return head


def link(draft: AuditDraft, last: tuple[int, str] | None) -> AuditEntry:
    """The entry that appends ``draft`` after ``last`` (the chain's last seq and hash; None: empty),
    timed now. Stores that hash in Python call it under their write lock."""
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = utcnow().isoformat()
    data = dict(draft.data)
    return AuditEntry(seq=seq, at=at, kind=draft.kind, ticket_id=draft.ticket_id, actor=draft.actor, data=data,
                      prev_hash=prev, hash=entry_hash(seq=seq, at=at, kind=draft.kind, ticket_id=draft.ticket_id,
                                                      actor=draft.actor, data=data, prev_hash=prev))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    first_bad: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.count} entries, hash chain verified"
        return f"audit log BROKEN at entry {self.first_bad}: {self.problem}"


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None,
                 base: tuple[int, str] | None = None) -> VerifyResult:
    """Check hashes, links and sequence; ``head`` is the (seq, hash) the store recorded last,
    ``base`` the archived entry the first one links to (None: the genesis; see store/_archive.py)."""
    prev_hash = base[1] if base else GENESIS
    expected_seq = base[0] + 1 if base else 1
    count = 0
    last: AuditEntry | None = None
    for e in entries:
        count += 1
        if e.seq != expected_seq:
            what = "missing" if e.seq > expected_seq else "duplicated or reordered"
            return VerifyResult(False, count, expected_seq, f"entry {expected_seq} is {what} (found {e.seq})")
        if e.prev_hash != prev_hash:
            return VerifyResult(False, count, e.seq, "its link to the previous entry does not match "
                                "(an entry before it was changed, inserted or deleted)")
        recomputed = entry_hash(seq=e.seq, at=e.at, kind=e.kind, ticket_id=e.ticket_id, actor=e.actor,
                                data=e.data, prev_hash=e.prev_hash)
        if recomputed != e.hash:
            return VerifyResult(False, count, e.seq, "its contents were changed after it was written")
        prev_hash = e.hash
        expected_seq += 1
        last = e
    if head is not None:
        head_seq, head_hash = head
        if last is None and head_seq > (base[0] if base else 0):
            return VerifyResult(False, 0, expected_seq, f"the log is empty but {head_seq} entries were written")
        if last is not None and (last.seq != head_seq or last.hash != head_hash):
            if last.seq < head_seq:
                return VerifyResult(False, count, last.seq + 1,
                                    f"entries {last.seq + 1}..{head_seq} were deleted from the end")
            if last.seq > head_seq:
                return VerifyResult(False, count, head_seq + 1,
                                    f"entries {head_seq + 1}..{last.seq} were added outside signoff "
                                    f"(the recorded head is entry {head_seq})")
            return VerifyResult(False, count, last.seq, "the last entry does not match the recorded head")
    return VerifyResult(True, count)
