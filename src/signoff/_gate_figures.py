"""What the local Gate reads back from the store's history: ``insights``, ``replay``,
``verify_audit`` and the flood guard's ``surges``.

Each reads decided tickets, the audit log or recent activity and hands them to a pure
function (``signoff.insights``, ``signoff.audit``, ``review._flood``); none changes anything.
``Gate`` inherits them; they live apart so ``gate.py`` stays about gating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signoff._model import Ticket, utcnow
from signoff._shadow import ShadowRecorder, flush, shadow_report
from signoff.audit import VerifyResult, verify_chain
from signoff.insights import Insights, ReplayReport, compute_insights, replay, reviewer_stats, with_changes
from signoff.policy import Policy, PolicySpec
from signoff.review import _flood as flood
from signoff.review._flood import Surge

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.store import Store

__all__ = ["Figures"]

_DECIDED_STATUSES = ("approved", "rejected", "expired", "aborted", "cancelled")
_SURGE_CACHE = timedelta(seconds=5)
"""How long the flood guard's counts are reused (a read of the store's recent tickets)."""


class Figures:
    """Mixed into ``Gate``; relies on its policy, store, engine, shadow and ``list_tickets``."""

    _surges: tuple[datetime, dict[str, Surge]] | None = None  # the flood guard's last count

    if TYPE_CHECKING:
        policy: Policy
        store: Store
        _engine: Engine
        _shadow: ShadowRecorder | None

        async def list_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                               agent: str | None = None, action: str | None = None, group: str | None = None,
                               batch: str | None = None, limit: int = 500, offset: int = 0,
                               newest_first: bool = False) -> list[Ticket]: ...

    async def surges(self) -> dict[str, Surge]:
        """Agents submitting far above their own usual rate (the policy's ``defaults.flood_guard``), by name.

        Counted from the store (every server's tickets) at most every few seconds."""
        guard = self.policy.spec.defaults.flood_guard
        if not guard.enabled:
            return {}
        now = utcnow()
        cached = self._surges
        if cached is not None and now - cached[0] < _SURGE_CACHE:
            return cached[1]
        since, recent = flood.windows(guard, now)
        found = flood.surges(await self._engine.run(self.store.agent_activity(since, recent)), guard)
        self._surges = (now, found)
        return found

    async def insights(self, *, min_volume: int = 20) -> Insights:
        """Approval rates per rule and action, time to decision, and recommendations."""
        tickets = await self.list_tickets(kind="approval", status=_DECIDED_STATUSES, limit=1_000_000)
        if self._shadow is not None:
            await self._engine.run(flush(self._shadow, self.store))
        entries = await self._engine.run(self.store.audit_entries())
        report = replace(compute_insights(tickets, min_volume=min_volume), reviewers=reviewer_stats(entries),
                         shadow=shadow_report(entries, tickets, live=self._shadow))
        return with_changes(report, self.policy, tickets)  # each recommendation as a diff, replayed

    async def replay(self, policy: Policy | PolicySpec | Mapping[str, Any] | str | Path) -> ReplayReport:
        """What ``policy`` would have done with the decided requests in the store."""
        new = Policy.coerce(policy)
        tickets = await self.list_tickets(kind="approval", status=_DECIDED_STATUSES, limit=1_000_000)
        return replay(tickets, new.evaluate)

    async def verify_audit(self) -> VerifyResult:
        entries = await self._engine.run(self.store.audit_entries())
        head = await self._engine.run(self.store.audit_head())
        base = await self._engine.run(self.store.audit_base())
        return verify_chain(entries, head, base)
