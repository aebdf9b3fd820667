"""Reviewer endpoints: the inbox, decisions (one, many, a group, a batch), feeds, mode, insights, audit."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.responses import Response

from signoff._decisions import BatchResult
from signoff._errors import NotAuthorized, SignoffError
from signoff._model import Ticket
from signoff._wire import audit_entry_to_dict, insights_to_dict, surge_to_dict, ticket_to_dict, verify_to_dict
from signoff.insights import visible_reviewers
from signoff.review._grouping import MAX_GROUP_DECISION
from signoff.server._auth import AnyPrincipal, Principal, ReviewerPrincipal
from signoff.server._context import Ctx, ServerContext
from signoff.server._error_map import public_detail
from signoff.server.api._common import ERRORS, FastRoute, json_response, load_ticket
from signoff.server.api._models import (
    ApproveIn,
    AuditPage,
    BatchResultOut,
    DecideIn,
    DecideManyIn,
    InsightsOut,
    ModeIn,
    ModeOut,
    NoteIn,
    RecordExecutionIn,
    RejectIn,
    SurgeOut,
    TicketKindName,
    TicketOut,
    TicketPage,
    TicketStatusName,
    VerifyOut,
)

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["reviewers"])
TicketId = Annotated[str, Path(min_length=1, max_length=200, description="A ticket id (tk_...).")]
Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


def _as(principal: Principal, claimed: str | None) -> str:
    if claimed is not None and claimed != principal.name:
        raise NotAuthorized(f"this token decides as reviewer {principal.name!r}, not {claimed!r}")
    return principal.name


def _batch(result: BatchResult) -> Response:
    return json_response({"decided": [ticket_to_dict(t) for t in result.decided], "failed": result.failed})


@router.get("/tickets", response_model=TicketPage, summary="The inbox: tickets matching every filter")
async def list_tickets(
    principal: AnyPrincipal, ctx: Ctx,
    status: Annotated[list[TicketStatusName] | None, Query(description="One or more statuses.")] = None,
    kind: Annotated[TicketKindName | None, Query()] = None,
    agent: Filter = None, action: Filter = None, group: Filter = None, batch: Filter = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    newest_first: bool = False,
) -> Response:
    """Oldest first unless ``newest_first``. An agent token lists only its own agent's tickets."""
    if principal.is_agent:
        if agent is not None and agent != principal.name:
            raise NotAuthorized(f"this token sees only agent {principal.name!r}'s tickets")
        agent = principal.name
    limit = min(limit, ctx.settings.max_page_size)
    filters: dict[str, Any] = dict(status=tuple(status) if status else None, kind=kind, agent=agent, action=action,
                                   group=group, batch=batch)
    tickets = await ctx.gate.list_tickets(**filters, limit=limit, offset=offset, newest_first=newest_first)
    total = len(tickets) + offset if len(tickets) < limit else await ctx.gate.count_tickets(**filters)
    return json_response({"tickets": [ticket_to_dict(t) for t in tickets], "total": total, "limit": limit,
                          "offset": offset})


@router.get("/tickets/{ticket_id}", response_model=TicketOut, summary="One ticket")
async def get_ticket(ticket_id: TicketId, principal: AnyPrincipal, ctx: Ctx) -> Response:
    return json_response(ticket_to_dict(await load_ticket(ctx, principal, ticket_id)))


@router.post("/tickets/{ticket_id}/approve", response_model=TicketOut, summary="Approve (optionally with edits)")
async def approve(ticket_id: TicketId, body: ApproveIn, principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Edited ``args`` are checked by the policy again (they may need a higher tier). With several
    approvers required, the ticket stays pending until enough distinct reviewers approved."""
    ticket = await ctx.gate.approve(ticket_id, reviewer=_as(principal, body.reviewer), args=body.args,
                                    comment=body.comment)
    return json_response(ticket_to_dict(ticket))


@router.post("/tickets/{ticket_id}/reject", response_model=TicketOut, summary="Reject with feedback")
async def reject(ticket_id: TicketId, body: RejectIn, principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """The feedback reaches the waiting agent as ``Decision.feedback``."""
    ticket = await ctx.gate.reject(ticket_id, reviewer=_as(principal, body.reviewer), feedback=body.feedback)
    return json_response(ticket_to_dict(ticket))


@router.post("/tickets/decide", response_model=BatchResultOut, summary="Decide several tickets, each its own way")
async def decide_many(body: DecideManyIn, principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Each decision is applied on its own: one that fails (already decided, wrong tier) is listed in
    ``failed`` and does not stop the others. Approving several at once leaves out the tickets of agents
    the flood guard flags (``GET /surges``), as ``Gate.decide_many`` does."""
    reviewer = _as(principal, body.reviewer)
    decided: list[Ticket] = []
    failed: dict[str, str] = {}
    hold = await ctx.gate.surges() if sum(d.approve for d in body.decisions) > 1 else {}
    for d in body.decisions:
        try:
            if d.approve:
                decided.append(await ctx.gate._approve(d.ticket_id, reviewer=reviewer, args=d.args,
                                                       comment=d.feedback, hold=hold))
            else:
                decided.append(await ctx.gate.reject(d.ticket_id, reviewer=reviewer, feedback=d.feedback))
        except SignoffError as exc:
            failed[d.ticket_id] = public_detail(exc, "/api/v1/tickets/decide")
    return _batch(BatchResult(decided=decided, failed=failed))


class DecideGroupIn(DecideIn):
    """A group decision names the tickets the reviewer was shown: those, and only those, are decided."""

    ticket_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_GROUP_DECISION,
        description="The group's tickets the reviewer was shown. Tickets that joined the group since are "
                    "not decided.")


@router.post("/groups/{group_key}/decide", response_model=BatchResultOut, summary="Decide a group of similar tickets")
async def decide_group(group_key: Annotated[str, Path(min_length=1, max_length=400)], body: DecideGroupIn,
                       principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Exactly the tickets named in ``ticket_ids``, each on its own: one that is not in this group
    (same action, rules, argument shape and magnitudes) or no longer pending is listed in ``failed``."""
    return _batch(await ctx.gate.decide_group(group_key, ticket_ids=body.ticket_ids,
                                              reviewer=_as(principal, body.reviewer), approve=body.approve,
                                              feedback=body.feedback))


@router.post("/batches/{batch_id}/decide", response_model=BatchResultOut, summary="Decide a submitted batch")
async def decide_batch(batch_id: Annotated[str, Path(min_length=1, max_length=200)], body: DecideIn,
                       principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    return _batch(await ctx.gate.decide_batch(batch_id, reviewer=_as(principal, body.reviewer), approve=body.approve,
                                              feedback=body.feedback))


@router.post("/suggestions/{ticket_id}/done", response_model=TicketOut, summary="A human executed the suggestion")
async def suggestion_done(ticket_id: TicketId, principal: ReviewerPrincipal, ctx: Ctx,
                          body: NoteIn | None = None) -> Response:
    ticket = await ctx.gate.resolve_suggestion(ticket_id, reviewer=_as(principal, body.reviewer if body else None),
                                               done=True, note=body.note if body else "")
    return json_response(ticket_to_dict(ticket))


@router.post("/suggestions/{ticket_id}/dismiss", response_model=TicketOut, summary="Decide against a suggestion")
async def suggestion_dismiss(ticket_id: TicketId, principal: ReviewerPrincipal, ctx: Ctx,
                             body: NoteIn | None = None) -> Response:
    ticket = await ctx.gate.resolve_suggestion(ticket_id, reviewer=_as(principal, body.reviewer if body else None),
                                               done=False, note=body.note if body else "")
    return json_response(ticket_to_dict(ticket))


@router.get("/surges", response_model=list[SurgeOut], summary="Agents submitting far above their usual rate")
async def surges(principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """The flood guard (the policy's ``defaults.flood_guard``): agents whose approval tickets surge far above
    their own usual rate. Their tickets are held back from group approval (``failed`` says so)."""
    return json_response([surge_to_dict(s) for s in (await ctx.gate.surges()).values()])


@router.get("/executions/in-doubt", response_model=list[TicketOut], summary="Approved runs that never reported back")
async def in_doubt(principal: ReviewerPrincipal, ctx: Ctx,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """Approved tickets whose run is ``unknown`` (its lease ran out with no finish), oldest first: each
    waits for a reviewer to record what happened (``POST /tickets/{id}/execution/record``)."""
    return json_response([ticket_to_dict(t) for t in await ctx.gate.runs_in_doubt(limit=limit)])


@router.post("/tickets/{ticket_id}/execution/record", response_model=TicketOut,
             summary="Record what happened to a run in doubt")
async def record_execution(ticket_id: TicketId, body: RecordExecutionIn, principal: ReviewerPrincipal,
                           ctx: Ctx) -> Response:
    """A run whose claim never reported back (``execution: unknown``): it ``ran``, it did ``not_run``, or
    ``reapprove`` (a new approval; the agent runs it only by executing again). The ticket's tier applies."""
    ticket = await ctx.gate.record_execution(ticket_id, reviewer=_as(principal, body.reviewer),
                                             outcome=body.outcome, note=body.note)
    return json_response(ticket_to_dict(ticket))


@router.post("/notifications/{ticket_id}/flag", response_model=TicketOut, summary="Flag an action that ran")
async def flag(ticket_id: TicketId, principal: ReviewerPrincipal, ctx: Ctx, body: NoteIn | None = None) -> Response:
    """For actions that ran under ``notify``: mark one for a closer look (audited)."""
    ticket = await ctx.gate.flag(ticket_id, reviewer=_as(principal, body.reviewer if body else None),
                                 note=body.note if body else "")
    return json_response(ticket_to_dict(ticket))


def _mode(ctx: ServerContext) -> dict[str, Any]:
    return {"mode": ctx.gate.mode, "modes": list(ctx.gate.policy.modes)}


@router.get("/mode", response_model=ModeOut, summary="The mode in force")
async def get_mode(principal: AnyPrincipal, ctx: Ctx) -> Response:
    return json_response(_mode(ctx))


@router.put("/mode", response_model=ModeOut, summary="Switch a mode on or off (audited)")
async def put_mode(body: ModeIn, principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Only a reviewer of the policy's top tier may switch (403 otherwise): a mode applies to every agent."""
    await ctx.gate.offload(ctx.gate.set_mode_async(body.mode, reviewer=_as(principal, body.reviewer)))
    return json_response(_mode(ctx))


@router.get("/insights", response_model=InsightsOut, summary="Approval rates and recommendations")
async def insights(principal: ReviewerPrincipal, ctx: Ctx,
                   min_volume: Annotated[int, Query(ge=1, le=1_000_000)] = 20) -> Response:
    """Per reviewer figures (``reviewers``): your own; everyone's for the policy's top tier."""
    report, me = await asyncio.gather(ctx.gate.insights(min_volume=min_volume), ctx.gate.get_reviewer(principal.name))
    shown = visible_reviewers(report.reviewers, principal.name, me.tier if me else None, ctx.gate.policy.tiers)
    return json_response(insights_to_dict(dataclasses.replace(report, reviewers=shown)))


@router.get("/audit", response_model=AuditPage, summary="The audit log, oldest first")
async def audit(principal: ReviewerPrincipal, ctx: Ctx,
                after: Annotated[int, Query(ge=0, le=2**62, description="Entries after this sequence number.")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                ticket_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None) -> Response:
    entries = await ctx.gate.audit_entries(after=after, limit=limit, ticket_id=ticket_id)
    return json_response({"entries": [audit_entry_to_dict(e) for e in entries],
                          "next_after": entries[-1].seq if len(entries) == limit else None})


@router.get("/audit/verify", response_model=VerifyOut, summary="Check the audit hash chain")
async def audit_verify(principal: ReviewerPrincipal, ctx: Ctx) -> Response:
    """Recomputes every entry's hash and link; names the first bad entry."""
    return json_response(verify_to_dict(await ctx.gate.verify_audit()))
