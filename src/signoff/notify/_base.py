"""What every notification channel shares: the message it sends, what it answers, how it fails.

A channel is small on purpose: it turns one ``Message`` (an event about one ticket, or a
coalesced batch of similar tickets) into one delivery and says how it went. Routing,
the outbox, retries with backoff, coalescing and who may decide all live outside the
channels (``signoff.notify._routing``, the store's outbox, the server's deliverer), so a
new channel is one module with one class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from signoff._errors import DeliveryFailed
from signoff._model import Ticket

__all__ = ["EVENT_TYPES", "Channel", "DeliveryFailed", "EventType", "Links", "Message", "Sent"]

EventType = Literal[
    "ticket.created",     # a ticket needs a human
    "ticket.escalated",   # its timeout passed and it moved to the next tier (new deadline)
    "ticket.expiring",    # ``expiring_at`` of its timeout has passed and it is still pending
    "ticket.decided",     # approved or rejected (by whom and how: ``Ticket.decided_by``, ``feedback``)
    "ticket.expired",     # timed out for good
    "ticket.aborted",     # aborted on timeout, with an explanation
    "ticket.cancelled",   # withdrawn by the agent or an admin
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


class Links(Protocol):
    """Where a message may point a reader (built from ``signoff serve --public-url``)."""

    def inbox(self) -> str:
        """The reviewer inbox."""
        ...

    def ticket(self, ticket_id: str) -> str:
        """One ticket's page in the inbox."""
        ...

    async def decide(self, ticket_ids: Sequence[str], email: str, verdict: Literal["approve", "reject"]) -> str | None:
        """A signed one-click link for the reviewer with this email address, or None.

        None when no reviewer has that address or that reviewer may not decide these
        tickets (tier, four eyes, their own request): the message then links to the inbox.
        The link opens a confirmation page (``GET /decide/{token}``); only its POST decides.
        """
        ...


@dataclass(frozen=True, kw_only=True)
class Message:
    """One notification for one channel: an event, the tickets it is about, where to link."""

    id: str
    """The event's id: the same on every retry, so receivers can drop duplicates (``webhook-id``)."""
    type: EventType
    at: datetime
    """When the event happened (timezone-aware)."""
    channel: str
    """The channel's name in the policy file."""
    tickets: tuple[Ticket, ...]
    """Their current state; one ticket, or several similar ones coalesced into one message."""
    links: Links
    previous: str | None = None
    """What this channel answered (``Sent.ref``) for the earlier message about these tickets,
    so a channel that can edit (Slack) updates it in place instead of posting anew."""
    attempt: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    """Event details: ``escalated_to`` (tier), ``decided_via`` ("inbox", "slack", "email", "api")."""


@dataclass(frozen=True)
class Sent:
    """A delivery that worked."""

    ref: str | None = None
    """What the channel needs to edit this message later (Slack: ``"C123:1700000000.000100"``)."""
    detail: str = ""
    """Shown on the ticket page and in ``signoff notifications list`` ("posted to #approvals")."""


@runtime_checkable
class Channel(Protocol):
    """One configured destination. ``send`` must not block the event loop and must time out."""

    name: str
    kind: str

    async def send(self, message: Message) -> Sent:
        """Deliver the message, or raise ``DeliveryFailed`` (any other error counts as retryable)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
