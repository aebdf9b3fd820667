"""Agent endpoints: evaluate, guard, submit, submit many, wait, resume, cancel, execution claims."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from signoff._codec import state_to_answer
from signoff._errors import Conflict, NotAuthorized, NotFound, StillPending
from signoff._model import Action, Decision
from signoff._wire import decision_to_dict, outcome_to_dict, ticket_to_dict
from signoff.server._auth import AgentPrincipal, AnyPrincipal, Principal
from signoff.server._context import Ctx, ServerContext, get_context
from signoff.server.api._common import (
    ERRORS,
    FastRoute,
    json_response,
    load_ticket,
    or_stop,
    state_from_body,
    to_action,
)
from signoff.server.api._models import (
    CancelIn,
    ClaimIn,
    EvaluateIn,
    FinishIn,
    GuardIn,
    GuardOut,
    OutcomeOut,
    ResumeOut,
    SubmitIn,
    SubmitManyIn,
    TicketOut,
    WaitOut,
)

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["agents"])
TicketId = Annotated[str, Path(min_length=1, max_length=200, description="A ticket id (tk_...).")]
WaitSeconds = Annotated[float | None, Query(ge=0.0, le=3600.0, description=(
    "Seconds to hold the request open for a decision (the server caps one long-poll; ask again after)."))]


async def _submit_one(ctx: ServerContext, principal: Principal, action: Action, *, state: Any,
                      key: str | None) -> Any:
    try:
        return await ctx.submissions.submit(action, state=state, idempotency_key=key)
    except Conflict as exc:
        raise await _own_conflict(ctx, principal, exc) from None


async def _own_conflict(ctx: ServerContext, principal: Principal, exc: Conflict) -> Conflict:
    """The Conflict as the local Gate raises it (naming the existing ticket) when that ticket is the
    agent's own, which it always is while keys are scoped per agent; an id of another agent's ticket
    is never revealed (the check stays should a key ever be found across agents)."""
    tid = getattr(exc, "ticket_id", None)
    if not principal.is_agent or tid is None:
        return exc
    try:
        owner = (await ctx.gate.get_ticket(str(tid))).action.agent
    except NotFound:
        owner = None
    if owner == principal.name:
        return exc
    return Conflict("this idempotency key was already used for another action; use a key of your own "
                    "(e.g. run id + step)")


@router.post("/evaluate", response_model=OutcomeOut, summary="What the policy says about an action")
async def evaluate(body: EvaluateIn, principal: AnyPrincipal, request: Request) -> Response:
    """Pure and fast: the level, the reasons, the matched rules and the reviewers needed. Stores nothing."""
    ctx = get_context(request)  # not the Ctx dependency: one dependency fewer to solve on a hot route
    return json_response(outcome_to_dict(ctx.gate.evaluate(to_action(principal, body.action))))


@router.post("/guard", response_model=GuardOut, summary="Evaluate, and submit if a human is needed")
async def guard(body: GuardIn, principal: AgentPrincipal, ctx: Ctx) -> Response:
    """The decision when no human is needed (auto, notify, suggest, deny) or one decided within ``wait``
    seconds; otherwise the pending ticket, to wait on with ``GET /tickets/{id}/wait``."""
    action = to_action(principal, body.action)
    state = state_from_body(body.state, body.state_b64)
    wait = min(body.wait, ctx.settings.max_wait_seconds)
    try:
        work = ctx.gate.offload(ctx.gate.guard(action, state=state, idempotency_key=body.idempotency_key, timeout=wait))
        finished, decision = await or_stop(ctx, work)
    except StillPending as exc:
        ticket = await ctx.gate.get_ticket(str(exc.ticket_id))  # type: ignore[attr-defined]
        return json_response({"decision": None, "ticket": ticket_to_dict(ticket)})
    except Conflict as exc:
        raise await _own_conflict(ctx, principal, exc) from None
    assert finished and isinstance(decision, Decision), "guard is only interrupted by a shutdown"
    return json_response({"decision": decision_to_dict(decision), "ticket": None})


@router.post("/tickets", response_model=TicketOut, status_code=201, summary="Submit an action for review")
async def submit(body: SubmitIn, principal: AgentPrincipal, request: Request) -> Response:
    """Queue the action durably and answer at once. The same ``idempotency_key`` returns the same ticket.
    Over the agent's pending quota: 429 with ``Retry-After``."""
    ctx = get_context(request)  # not the Ctx dependency: one dependency fewer to solve on a hot route
    action = to_action(principal, body.action)
    ticket = await _submit_one(ctx, principal, action, state=state_from_body(body.state, body.state_b64),
                               key=body.idempotency_key)
    return json_response(ticket_to_dict(ticket), 201)


@router.post("/tickets/batch", response_model=list[TicketOut], status_code=201,
             summary="Submit several actions as one batch")
async def submit_many(body: SubmitManyIn, principal: AgentPrincipal, ctx: Ctx) -> Response:
    """One transaction; the tickets share a ``batch_id`` and are reviewed together."""
    actions = [to_action(principal, item.action) for item in body.items]
    states = [state_from_body(item.state, item.state_b64) for item in body.items]
    keys = [item.idempotency_key for item in body.items]
    try:
        tickets = await ctx.gate.offload(ctx.gate.submit_many(
            actions, states=states, idempotency_keys=keys, require_review=[item.require_review for item in body.items]))
    except Conflict as exc:
        raise await _own_conflict(ctx, principal, exc) from None
    return json_response([ticket_to_dict(t) for t in tickets], 201)


async def _wait(ctx: ServerContext, ticket_id: str, timeout: float | None) -> Decision | None:
    seconds = ctx.settings.max_wait_seconds if timeout is None else min(timeout, ctx.settings.max_wait_seconds)
    try:
        finished, decision = await or_stop(ctx, ctx.gate.wait(ticket_id, timeout=seconds))
    except StillPending:
        return None
    return decision if finished else None


@router.get("/tickets/{ticket_id}/wait", response_model=WaitOut, summary="Long-poll for the decision")
async def wait(ticket_id: TicketId, principal: AnyPrincipal, ctx: Ctx, timeout: WaitSeconds = None) -> Response:
    """Answers as soon as the ticket is decided (woken by the decision itself, not by polling), or with
    ``decided: false`` when ``timeout`` (capped by the server) passes first."""
    await load_ticket(ctx, principal, ticket_id)
    decision = await _wait(ctx, ticket_id, timeout)
    return json_response({"decided": decision is not None, "ticket_id": ticket_id,
                          "decision": decision_to_dict(decision) if decision is not None else None})


@router.get("/tickets/{ticket_id}/resume", response_model=ResumeOut, summary="The decision and the stored state")
async def resume(ticket_id: TicketId, principal: AnyPrincipal, ctx: Ctx, timeout: WaitSeconds = None) -> Response:
    """Like ``wait``, and once decided also the state saved at submission (``state`` for JSON,
    ``state_b64`` for bytes): an agent resumes from any process, after a restart too."""
    await load_ticket(ctx, principal, ticket_id)
    decision = await _wait(ctx, ticket_id, timeout)
    state = None
    if decision is not None:
        _, state = await ctx.gate.resume(ticket_id)  # decided: answers at once
    return json_response({"decided": decision is not None, "ticket_id": ticket_id,
                          "decision": decision_to_dict(decision) if decision is not None else None,
                          **state_to_answer(state)})


@router.get("/idempotency-keys/{key:path}", response_model=TicketOut, summary="The ticket submitted under a key")
async def find_ticket(key: Annotated[str, Path(min_length=1, max_length=200)], principal: AnyPrincipal, ctx: Ctx,
                      agent: Annotated[str | None, Query(max_length=200, description=(
                          "Whose key (reviewer tokens); an agent token always means its own agent."))] = None,
                      ) -> Response:
    """How a restarted agent finds its request. Keys belong to one agent: an agent token finds only
    its own agent's tickets (another agent's key answers 404, as if unused)."""
    if principal.is_agent:
        if agent is not None and agent != principal.name:
            raise NotAuthorized(f"this token sees only agent {principal.name!r}'s tickets")
        agent = principal.name
    ticket = await ctx.gate.find_ticket(idempotency_key=key, agent=agent or "")
    if ticket is None:
        raise NotFound(f"no ticket under idempotency key {key!r}")
    return json_response(ticket_to_dict(ticket))


@router.post("/tickets/{ticket_id}/cancel", response_model=TicketOut, summary="Withdraw a pending ticket")
async def cancel(ticket_id: TicketId, principal: AgentPrincipal, ctx: Ctx, body: CancelIn | None = None) -> Response:
    await load_ticket(ctx, principal, ticket_id)
    reason = body.reason if body else ""
    ticket = await ctx.gate.offload(ctx.gate.cancel(ticket_id, actor=principal.name, reason=reason))
    return json_response(ticket_to_dict(ticket))


@router.post("/tickets/{ticket_id}/execution/claim", response_model=TicketOut,
             summary="Claim the one run of an approved action")
async def claim(ticket_id: TicketId, body: ClaimIn, principal: AgentPrincipal, ctx: Ctx) -> Response:
    """An approval runs at most once: the first claim wins, a second gets 409. The same ``claim_id`` again
    (a retry whose answer was lost) is answered with the same claim, 200. ``action`` must be what the
    reviewer approved (name, arguments, agent), or 409. ``execution: unknown`` in the answer means a
    claim by another instance never reported back: a human must check."""
    await load_ticket(ctx, principal, ticket_id)
    action = to_action(principal, body.action)
    ticket = await ctx.gate.offload(ctx.gate.claim_execution(ticket_id, action=action, instance=body.instance,
                                                             claim_id=body.claim_id, lease=body.lease))
    return json_response(ticket_to_dict(ticket))


@router.post("/tickets/{ticket_id}/execution/finish", response_model=TicketOut,
             summary="Report how the run of an approved action ended")
async def finish(ticket_id: TicketId, body: FinishIn, principal: AgentPrincipal, ctx: Ctx) -> Response:
    await load_ticket(ctx, principal, ticket_id)
    ticket = await ctx.gate.offload(ctx.gate.finish_execution(ticket_id, ok=body.ok, error=body.error,
                                                              claim_id=body.claim_id))
    return json_response(ticket_to_dict(ticket))
