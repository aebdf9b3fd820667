"""Tickets for the notification tests: plain records, no gate needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from signoff._model import Action, Level, Reason, Ticket
from signoff.notify import Message

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


class StaticLinks:
    """Links to a fixed base URL; ``decide`` answers from ``grants`` (email -> allowed) or None."""

    def __init__(self, base: str = "https://signoff.example", grants: dict[str, bool] | None = None) -> None:
        self.base = base
        self.grants = grants or {}

    def inbox(self) -> str:
        return self.base + "/"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.base}/tickets/{ticket_id}"

    async def decide(self, ticket_ids: Sequence[str], email: str, verdict: str) -> str | None:
        if not self.grants.get(email):
            return None
        return f"{self.base}/decide/{verdict}-{'+'.join(ticket_ids)}-{email}"


def message(*tickets: Ticket, type: str = "ticket.created", links: Any = None, **changes: Any) -> Message:
    """A message about ``tickets`` (default: one ``ticket()``)."""
    return Message(id=changes.pop("id", "msg_1"), type=type, at=NOW, channel=changes.pop("channel", "dev"),  # type: ignore[arg-type]
                   tickets=tickets or (ticket(),), links=links or StaticLinks(), **changes)
