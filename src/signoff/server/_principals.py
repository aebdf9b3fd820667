"""Who a token speaks for: token lookup (by SHA-256), a short-lived cache of principals, and
a bounded memory of recently verified tokens that answers while the store cannot.

Why the memory: an ``auto`` action needs no store, but its agent's token check does; without
it, a database outage turns every auto action into a 503 once the short cache lapses. It is
used only while the store fails (``StoreUnavailable``), only for tokens the store itself
verified within ``outage_seconds``, so a revocation is honoured as soon as the store answers
again, and a token never seen is refused (503) as before. Nothing a reviewer does works
without the store, so this keeps no human-needing action alive: the gate still fails closed.

Apart from ``_auth`` (the FastAPI dependencies) so the server context can hold an
Authenticator without the two modules importing each other.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from signoff._errors import StoreUnavailable
from signoff._tokens import hash_token
from signoff.store._records import Reviewer, TokenRecord

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = ["Authenticator", "Principal", "reviewer_from_token"]

log = logging.getLogger("signoff.server")


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
    sprayer a database read each and fills nothing. While the store is unavailable, a token
    the store verified within ``outage_seconds`` is still honoured (see the module); the store
    is then asked again by one request at a time, at most every ``recheck_seconds``; meanwhile
    the others are answered at once (a known token from memory, any other with 503) instead of
    each waiting for the store's own timeout.
    """

    def __init__(self, gate: Gate, *, ttl: float, max_entries: int = 10_000, outage_seconds: float = 600.0,
                 recheck_seconds: float = 1.0) -> None:
        self._gate = gate
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._outage_seconds = outage_seconds
        self._recheck = recheck_seconds
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()  # token hash -> (when, who)
        self._down = False  # the last lookup failed with StoreUnavailable
        self._probing = False  # a request is asking the store right now (while down)
        self._next_probe = 0.0

    async def principal(self, token: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        if self._down and (self._probing or now < self._next_probe):
            known = self._recent(token, now)
            if known is None:  # someone is asking the store already, or it failed a moment ago: 503 now
                raise StoreUnavailable("the store did not answer a moment ago; the token cannot be checked")
            return known
        self._probing = True
        try:
            found = await _lookup(self._gate, token)
        except StoreUnavailable:
            now = time.monotonic()
            if not self._down:
                log.warning("the store is unavailable: honouring API tokens it verified in the last %g s",
                            self._outage_seconds)
            self._down, self._next_probe = True, now + self._recheck
            known = self._recent(token, now)
            if known is None:
                raise  # never seen, or seen too long ago: 503, nothing is let through
            return known
        finally:
            self._probing = False
        self._down = False
        if found is None:
            self._cache.pop(token, None)
            self._verified.pop(hash_token(token), None)
            return None
        record, reviewer = found
        principal = Principal(kind=record.kind, name=record.name, reviewer=reviewer)
        if self._ttl > 0:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[token] = (now + self._ttl, principal)
        if self._outage_seconds > 0:
            key = hash_token(token)
            self._verified[key] = (now, principal)
            self._verified.move_to_end(key)
            while len(self._verified) > self._max:
                self._verified.popitem(last=False)  # the least recently verified
        return principal

    def _recent(self, token: str, now: float) -> Principal | None:
        """The principal the store verified for ``token`` within ``outage_seconds``, else None."""
        seen = self._verified.get(hash_token(token)) if self._outage_seconds > 0 else None
        if seen is None or now - seen[0] > self._outage_seconds:
            return None
        return seen[1]

    def forget(self) -> None:
        self._cache.clear()
        self._verified.clear()
