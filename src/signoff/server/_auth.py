"""Bearer-token authentication for the JSON API.

``Authorization: Bearer <token>``. The store keeps only SHA-256 hashes of tokens
(``signoff token create``), so a token is looked up by its hash. Two kinds:

- an **agent** token speaks for one agent: what it submits is that agent's, it sees
  only that agent's tickets, and it cannot decide anything;
- a **reviewer** token speaks for one reviewer account: it decides tickets as that
  reviewer, and the gate's transitions check the tier, the four eyes and "not your own".

Missing or unknown credentials are a 401 (``Unauthenticated``); a valid token used for
what its kind may not do is a 403 (``NotAuthorized``). Neither carries any data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from signoff._errors import NotAuthorized
from signoff._tokens import hash_token
from signoff.server._context import ServerContext, get_context
from signoff.server._problems import Unauthenticated
from signoff.store._records import Reviewer, TokenRecord

if TYPE_CHECKING:
    from signoff.gate import Gate

__all__ = [
    "AgentPrincipal",
    "AnyPrincipal",
    "Authenticator",
    "Principal",
    "ReviewerPrincipal",
    "reviewer_from_token",
]


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
    record = await gate._engine.run(gate.store.find_token(hash_token(token)))
    if record is None or record.revoked:
        return None
    if record.kind != "reviewer":
        return record, None
    reviewer = await gate._engine.run(gate.store.get_reviewer(record.name))
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


_bearer = HTTPBearer(
    auto_error=False, scheme_name="token",
    description="An agent or reviewer token from `signoff token create`, sent as `Authorization: Bearer <token>`.",
)


async def _principal(request: Request,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None:
        raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>' with a token from "
                              "`signoff token create`")
    ctx: ServerContext = get_context(request)
    principal = await ctx.auth.principal(creds.credentials)
    if principal is None:
        raise Unauthenticated("the token is not valid: unknown, revoked, or its reviewer account is disabled")
    return principal


async def _agent(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.kind != "agent":
        raise NotAuthorized(f"this endpoint is for agents: use an agent token (this token belongs to reviewer "
                            f"{principal.name!r})")
    return principal


async def _reviewer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.kind != "reviewer":
        raise NotAuthorized(f"this endpoint is for reviewers: use a reviewer token (this token belongs to agent "
                            f"{principal.name!r})")
    return principal


AnyPrincipal = Annotated[Principal, Depends(_principal)]
AgentPrincipal = Annotated[Principal, Depends(_agent)]
ReviewerPrincipal = Annotated[Principal, Depends(_reviewer)]
