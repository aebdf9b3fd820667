"""Standing approvals over the API: allow (approve and always allow), confirm, revoke, list.

Reviewer tokens only; every check (tier, own request, any agent, four eyes) is the Gate's
(``signoff._gate_allowances``), so this door adds none of its own and drops none.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from signoff._errors import NotAuthorized
from signoff.server._auth import Principal, ReviewerPrincipal
from signoff.server._context import Ctx
from signoff.server.api._common import ERRORS, FastRoute, json_response

__all__ = ["router"]

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["allowances"])
Id = Annotated[str, Path(min_length=1, max_length=200)]


class AllowIn(BaseModel):
    model_config = {"extra": "forbid"}

    condition: str | None = Field(default=None, max_length=2000,
                                  description="CEL over args that must hold (null: any arguments).")
    expires: Literal["1h", "1d", "7d", "never"] = Field(default="1d", description="never: until revoked.")
    any_agent: bool = Field(default=False, description="Every agent, not only the ticket's (top tier only).")
    comment: str = Field(default="", max_length=20_000)
    reviewer: str | None = Field(default=None, max_length=200,
                                 description="Optional; must be the token's reviewer when given.")


class ReviewerIn(BaseModel):
    model_config = {"extra": "forbid"}

    reviewer: str | None = Field(default=None, max_length=200)


class AllowanceOut(BaseModel):
    id: str
    action: str
    agent: str | None
    condition: str | None
    tier: str | None
    required: int
    reviewers: list[str]
    ticket_id: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None
    comment: str
    status: Literal["pending", "active", "expired", "revoked"]
    uses: int | None = Field(default=None, description="How many requests it let through (its allowance_used "
                             "audit entries in the store). In lists; absent where not counted (allow, confirm, "
                             "revoke).")
    last_used_at: str | None = Field(default=None, description="When it last let a request through (null: never).")


class AllowancePage(BaseModel):
    allowances: list[AllowanceOut]


def _as(principal: Principal, claimed: str | None) -> str:
    if claimed is not None and claimed != principal.name:
        raise NotAuthorized(f"this token acts as reviewer {principal.name!r}, not {claimed!r}")
    return principal.name


@router.post("/tickets/{ticket_id}/allow", response_model=AllowanceOut,
             summary="Approve and always allow: the ticket's agent may repeat its action without asking")
async def allow(ticket_id: Id, body: AllowIn, principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Approves the ticket if it is pending. A ticket needing N approvers gives an allowance that stands
    once N reviewers gave it (``/allowances/{id}/confirm``)."""
    made = await ctx.gate.allow(ticket_id, reviewer=_as(principal, body.reviewer), condition=body.condition,
                                expires=body.expires, any_agent=body.any_agent, comment=body.comment)
    return json_response(made.to_dict())


@router.post("/allowances/{allowance_id}/confirm", response_model=AllowanceOut,
             summary="Give an allowance as a further reviewer (four eyes)")
async def confirm(allowance_id: Id, principal: ReviewerPrincipal, ctx: Ctx,
                  body: ReviewerIn | None = None) -> Response:
    made = await ctx.gate.confirm_allowance(allowance_id, reviewer=_as(principal, body.reviewer if body else None))
    return json_response(made.to_dict())


@router.post("/allowances/{allowance_id}/revoke", response_model=AllowanceOut, summary="End an allowance now")
async def revoke(allowance_id: Id, principal: ReviewerPrincipal, ctx: Ctx, body: ReviewerIn | None = None) -> Response:
    made = await ctx.gate.revoke_allowance(allowance_id, reviewer=_as(principal, body.reviewer if body else None))
    return json_response(made.to_dict())


@router.get("/allowances", response_model=AllowancePage,
            summary="Standing and pending allowances, with how many requests each let through")
async def list_allowances(principal: ReviewerPrincipal, ctx: Ctx,
                          include_ended: Annotated[bool, Query()] = False) -> Response:
    found: list[Any] = await ctx.gate.list_allowances(include_ended=include_ended)
    return json_response({"allowances": [a.to_dict() for a in found]})
