"""Agent hooks: ``POST /api/v1/hooks/claude-code`` answers Claude Code's ``http`` hooks.

Claude Code posts the ``PreToolUse`` (or ``PermissionRequest``) hook input with the agent
token in ``Authorization: Bearer ...`` and reads the hook's JSON answer from a 2xx body;
``signoff.integrations.claude_code.answer_hook`` decides it with the gate's public methods,
as the token's agent. A malformed input is a 422 naming the field. Any failure past that
(the store down, a bug) answers ``deny``, never ``allow``: a hook that errors must not let the
call through (Claude Code treats a non-2xx answer as "no decision", not as a refusal).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from signoff._errors import SignoffError, public_message
from signoff.integrations.claude_code import HookInputError, answer_hook, hook_output, validate_hook_input
from signoff.server._auth import AgentPrincipal
from signoff.server._context import Ctx
from signoff.server.api._common import ERRORS, FastRoute, json_response, or_stop

__all__ = ["router"]

log = logging.getLogger("signoff.server")

router = APIRouter(route_class=FastRoute, responses=ERRORS, tags=["hooks"])


class ClaudeCodeHookIn(BaseModel):
    """A Claude Code hook input, as Claude Code sends it (other fields it adds are accepted)."""

    model_config = ConfigDict(extra="allow")

    hook_event_name: Literal["PreToolUse", "PermissionRequest"]
    tool_name: str = Field(min_length=1, max_length=200, examples=["Bash"])
    tool_input: dict[str, Any] = Field(examples=[{"command": "git push --force origin main"}])
    session_id: str = Field(min_length=1, max_length=1000, examples=["abc123"])
    tool_use_id: str | None = Field(default=None, max_length=1000)
    cwd: str | None = Field(default=None, max_length=10_000, examples=["/home/u/project"])
    transcript_path: str | None = Field(default=None, max_length=10_000)
    permission_mode: str | None = Field(default=None, max_length=100)


HookWait = Annotated[float | None, Query(ge=0.0, le=3600.0, description=(
    "Seconds to wait for a reviewer when the call needs approval; keep it below the hook's `timeout`. "
    "Capped, like every wait, by the server's long-poll cap (`signoff serve --max-wait`), its default."))]
OnPending = Annotated[Literal["deny", "ask"], Query(description=(
    "Still pending after `wait`: `deny` (Claude is told to try again later) or `ask` (Claude Code's own "
    "prompt decides; for PermissionRequest, an empty answer)."))]


@router.post("/hooks/claude-code", response_model=dict[str, Any],
             summary="Answer a Claude Code PreToolUse or PermissionRequest hook")
async def claude_code(body: ClaudeCodeHookIn, principal: AgentPrincipal, ctx: Ctx, wait: HookWait = None,
                      on_pending: OnPending = "deny") -> Response:
    """The tool call is the action (``tool_name``, ``tool_input`` as args), the token's agent the agent.
    ``auto``/``notify``: allow. ``deny``/``suggest``: deny with the reason shown to Claude.
    ``approve``: wait up to ``wait`` seconds, then allow (with the reviewer's ``updatedInput``) or
    deny with their feedback; still pending: deny "waiting for approval: ticket X, try again later"
    (or ``ask``). The same call again in the session finds its ticket."""
    payload = body.model_dump(exclude_none=True)
    event = validate_hook_input(payload)
    cap = ctx.settings.max_wait_seconds
    seconds = cap if wait is None else min(wait, cap)
    try:
        finished, out = await or_stop(ctx, ctx.gate.offload(
            answer_hook(ctx.gate, payload, agent=principal.name, wait=seconds, on_pending=on_pending)))
    except HookInputError:
        raise
    except Exception as exc:  # fail closed: whatever went wrong, the call does not run
        why = public_message(exc) if isinstance(exc, SignoffError) else "an internal error (the server's log has it)"
        log.warning("claude-code hook for agent %r failed; answered deny", principal.name, exc_info=True)
        return json_response(hook_output(event, "deny", f"signoff could not decide on this call, so it did not "
                                                        f"run: {why}. Try again later."))
    if not finished or out is None:
        out = hook_output(event, "deny", "the signoff server is shutting down, so the call did not run; try again "
                                         "in a moment.")
    return json_response(out)
