"""Tickets for the notification tests: plain records, no gate needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from signoff._model import Action, Level, Reason, Ticket

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ticket(**changes: Any) -> Ticket:
    """A pending approval for ``deploy`` by ``agent-7``, deadline in 10 minutes; ``changes`` override."""
    action = changes.pop("action", None) or Action(
        name="deploy", agent="agent-7", args={"service": "api", "version": "1.2.3"},
        reasoning="Tests pass.", alternatives=("wait for Monday",), confidence=0.7)
    base: dict[str, Any] = dict(
        id="tk_1", kind="approval", action=action, status="pending", level=Level.APPROVE,
        reasons=(Reason(code="high_risk_action", rule="deploys", message="Deploys need a person",
                        level=Level.APPROVE),),
        rules=("deploys",), tier="senior", required_approvals=2, approvals=("alice",),
        deadline=NOW + timedelta(minutes=10), created_at=NOW - timedelta(minutes=1))
    base.update(changes)
    return Ticket(**base)
