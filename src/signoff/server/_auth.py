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

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from signoff._errors import NotAuthorized
from signoff.server._context import ServerContext, get_context
from signoff.server._error_map import Unauthenticated
from signoff.server._principals import Authenticator, Principal, reviewer_from_token

__all__ = [
    "AgentPrincipal",
    "AnyPrincipal",
    "Authenticator",
    "Principal",
    "ReviewerPrincipal",
    "reviewer_from_token",
]


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
