"""Notifications: tickets reach reviewers in Slack, by email, on a signed webhook or the console.

One module per channel behind ``Channel`` (``_base``); routing from the policy file's
``notifications:`` section; delivery from the store's outbox by the server, at least once.
"""

from signoff._errors import DeliveryFailed
from signoff.notify._base import EVENT_TYPES, Channel, EventType, Links, Message, Sent

__all__ = ["EVENT_TYPES", "Channel", "DeliveryFailed", "EventType", "Links", "Message", "Sent"]
