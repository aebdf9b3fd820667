"""Who a token speaks for: token lookup (by SHA-256) and a short-lived cache of principals.

Apart from ``_auth`` (the FastAPI dependencies) so the server context can hold an
Authenticator without the two modules importing each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from signoff.store._records import Reviewer, TokenRecord

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = ["Authenticator", "Principal", "reviewer_from_token"]


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for: an agent (by name) or a reviewer (with their account)."""

    kind: Literal["agent", "reviewer"]
    name: str
    reviewer: Reviewer | None = None

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


async def _lookup(gate: Gate, token: str) -> tuple[TokenRecord, Reviewer | None] | None:
    """The live token record (and reviewer account) for ``token``, or None when it must not be honoured."""
    if not token or len(token) > 512:
        return None
    record = await gate.find_token(token)
    if record is None or record.revoked:
        return None
    if record.kind != "reviewer":
        return record, None
    reviewer = await gate.get_reviewer(record.name)
    if reviewer is None or reviewer.disabled:
        return None
    return record, reviewer


async def reviewer_from_token(gate: Gate, token: str) -> Reviewer | None:
    """The enabled reviewer account a reviewer token belongs to; None for anything else.

    Reusable outside the API (the inbox accepts reviewer tokens too); no caching here.
    """
    found = await _lookup(gate, token)
    if found is None or found[0].kind != "reviewer":
        return None
    return found[1]


class Authenticator:
    """Turns tokens into principals, trusting a looked-up token for ``ttl`` seconds.

    Only tokens that exist are cached (bounded), so spraying random tokens costs the
    sprayer a database read each and fills nothing.
    """

    def __init__(self, gate: Gate, *, ttl: float, max_entries: int = 10_000) -> None:
        self._gate = gate
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def principal(self, token: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await _lookup(self._gate, token)
        if found is None:
            self._cache.pop(token, None)
            return None
        record, reviewer = found
        principal = Principal(kind=record.kind, name=record.name, reviewer=reviewer)
        if self._ttl > 0:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[token] = (now + self._ttl, principal)
        return principal

    def forget(self) -> None:
        self._cache.clear()
