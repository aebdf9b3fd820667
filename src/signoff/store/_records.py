"""The storage codec: tickets to JSON rows and back, agent states to stored bytes.

Both are defined once in ``signoff._codec`` (which also gives the API its JSON); the names here
are the ones the stores use. The records themselves (Reviewer, AuditDraft, Change, ...) live in
``signoff._records``; they are re-exported here for the modules that import them from the store.
"""

from __future__ import annotations

from signoff._codec import state_to_stored as encode_state
from signoff._codec import stored_state as decode_state
from signoff._codec import ticket_from_json, ticket_to_json
from signoff._records import (
    AuditDraft,
    AuditEntry,
    Change,
    Event,
    Reviewer,
    StoredState,
    TicketQuery,
    TokenRecord,
)

__all__ = [
    "AuditDraft",
    "AuditEntry",
    "Change",
    "Event",
    "Reviewer",
    "StoredState",
    "TicketQuery",
    "TokenRecord",
    "decode_state",
    "encode_state",
    "ticket_from_json",
    "ticket_to_json",
]
