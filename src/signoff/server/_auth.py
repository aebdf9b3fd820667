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

from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from signoff._errors import NotAuthorized
from signoff.server._context import get_context
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


_DESCRIPTION = "An agent or reviewer token from `signoff token create`, sent as `Authorization: Bearer <token>`."


class _BearerPrincipal(HTTPBearer):
    """The principal a request's bearer token speaks for, in one dependency.

    Why a subclass of HTTPBearer: the OpenAPI document shows the ``token`` security scheme on
    every route that uses it, as with a plain HTTPBearer, while FastAPI resolves one dependency
    per request instead of a chain of three (scheme, token lookup, kind check), which cost
    about a third of a fast route's time in FastAPI's dependency solver.
    """

    def __init__(self, kind: Literal["agent", "reviewer"] | None) -> None:
        super().__init__(auto_error=False, scheme_name="token", description=_DESCRIPTION)
        self.kind = kind

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        authorization = request.headers.get("Authorization")
        scheme, token = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and token) or scheme.lower() != "bearer":
            raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>' with a token from "
                                  "`signoff token create`")
        principal = await get_context(request).auth.principal(token)
        if principal is None:
            raise Unauthenticated("the token is not valid: unknown, revoked, or its reviewer account is disabled")
        if self.kind == "agent" and principal.kind != "agent":
            raise NotAuthorized(f"this endpoint is for agents: use an agent token (this token belongs to reviewer "
                                f"{principal.name!r})")
        if self.kind == "reviewer" and principal.kind != "reviewer":
            raise NotAuthorized(f"this endpoint is for reviewers: use a reviewer token (this token belongs to agent "
                                f"{principal.name!r})")
        return principal


AnyPrincipal = Annotated[Principal, Depends(_BearerPrincipal(None))]
AgentPrincipal = Annotated[Principal, Depends(_BearerPrincipal("agent"))]
ReviewerPrincipal = Annotated[Principal, Depends(_BearerPrincipal("reviewer"))]
