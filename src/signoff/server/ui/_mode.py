"""Switching a mode on or off from the inbox (only the policy's top tier may: the gate checks)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from signoff._errors import NotAuthorized
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer, local_path

__all__ = ["set_mode"]


async def set_mode(ui: InboxUI, request: Request, viewer: Viewer, form: Mapping[str, str]) -> Response:
    mode = form.get("mode", "")
    new = None if mode in ("", "off", "normal") else mode
    if new is not None and new not in ui.gate.policy.modes:
        raise HTTPProblem(400, f"Unknown mode {mode!r}; the policy defines "
                               f"{', '.join(ui.gate.policy.modes) or 'no modes'}.")
    try:
        await ui.gate.set_mode_async(new, reviewer=viewer.name)
    except NotAuthorized as exc:
        raise HTTPProblem(403, f"{exc.message[:1].upper()}{exc.message[1:]}. Nothing was changed.",
                          title="Not allowed for your tier") from None
    msg = f"Mode switched to {new}." if new else "Mode switched off: normal rules apply."
    return ui.done(request, msg, to=local_path(form.get("back"), "/"), mode=new)
