"""The audit log, newest first with its chain check, and the insights (rates and recommendations)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signoff._model import Level
from signoff.insights import QUICK_SECONDS, StandingOption, standing_options, visible_reviewers
from signoff.server.ui._base import HTTPProblem, InboxUI, Viewer
from signoff.server.ui._chart import day_range

__all__ = ["audit", "insights"]

AUDIT_PAGE = 100
"""Audit entries per page."""
STANDING_WINDOW = 5000
"""Latest approvals read to offer a standing approval beside a "consider notify" recommendation."""


async def audit(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    head = await ui.gate.audit_head()
    last = head[0] if head else 0
    try:
        before = int(request.query_params.get("before", last + 1))
    except ValueError:
        raise HTTPProblem(400, "before must be an entry number") from None
    before = max(1, min(before, last + 1))
    after = max(0, before - 1 - AUDIT_PAGE)
    entries = await ui.gate.audit_entries(after=after, limit=before - 1 - after) if before > 1 else []
    if ui.verified is None or ui.verified[0] != last:
        ui.verified = (last, await ui.gate.verify_audit())
    return ui.render(request, "audit.html", viewer, entries=list(reversed(entries)),
                     verified=ui.verified[1], older=after + 1 if after > 0 else None,
                     newer=before + AUDIT_PAGE if before <= last else None, pending=await ui.pending_count())


async def insights(ui: InboxUI, request: Request, viewer: Viewer) -> Response:
    try:
        min_volume = max(1, int(request.query_params.get("min_volume", "20") or 20))
    except ValueError:
        raise HTTPProblem(400, "min_volume must be a whole number of decisions (e.g. 20)") from None
    report = await ui.gate.insights(min_volume=min_volume)
    options: dict[str, list[StandingOption]] = {}
    if any(r.rule and r.suggest_level is Level.NOTIFY for r in report.recommendations):
        approved = await ui.gate.list_tickets(kind="approval", status="approved", limit=STANDING_WINDOW,
                                              newest_first=True)
        options = standing_options(report, approved)
    tiers = ui.gate.policy.tiers
    reviewers = visible_reviewers(report.reviewers, viewer.name, viewer.reviewer.tier, tiers)
    return ui.render(request, "insights.html", viewer, report=report, span=day_range(report.timeline),
                     pending=await ui.pending_count(), reviewers=reviewers, quick=QUICK_SECONDS,
                     sees_all=not tiers or viewer.reviewer.tier == tiers[-1], standing=options)
