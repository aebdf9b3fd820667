"""The storage codec: tickets to JSON rows and back, agent states to stored bytes.

The records themselves (Reviewer, AuditDraft, Change, ...) live in ``signoff._records``; they
are re-exported here for the modules that import them from the store.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from signoff._limits import MAX_STATE_DEPTH, check_value
from signoff._model import Action, Level, Reason, Ticket, canonical_json
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


def encode_state(state: Any) -> StoredState | None:
    if state is None:
        return None
    if isinstance(state, (bytes, bytearray, memoryview)):
        return StoredState(kind="bytes", data=bytes(state))
    # Bounded like the action's values: the agent gets the state back through orjson (255 levels).
    check_value(state, "state", max_depth=MAX_STATE_DEPTH, max_size=None, owner="the ")
    try:
        return StoredState(kind="json", data=json.dumps(state, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        from signoff._errors import UserError

        raise UserError(f"state must be JSON-serialisable or bytes: {exc}") from None


def decode_state(kind: str | None, data: bytes | None) -> StoredState | None:
    if kind is None or data is None:
        return None
    return StoredState(kind="bytes" if kind == "bytes" else "json", data=bytes(data))


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ticket_to_json(t: Ticket) -> str:
    return canonical_json({
        "id": t.id, "kind": t.kind, "action": t.action.to_dict(), "status": t.status,
        "level": t.level.value, "reasons": [r.to_dict() for r in t.reasons], "rules": list(t.rules),
        "tier": t.tier, "required_approvals": t.required_approvals, "approvals": list(t.approvals),
        "deadline": _dt(t.deadline), "timeout_seconds": t.timeout_seconds, "on_timeout": t.on_timeout,
        "retries_left": t.retries_left, "escalations": t.escalations, "group_key": t.group_key,
        "batch_id": t.batch_id, "idempotency_key": t.idempotency_key, "digest": t.digest,
        "fingerprint": t.fingerprint, "mode": t.mode, "created_at": _dt(t.created_at),
        "decided_at": _dt(t.decided_at), "decided_by": list(t.decided_by), "feedback": t.feedback,
        "explanation": t.explanation,
        "edited_args": dict(t.edited_args) if t.edited_args is not None else None,
        "approved_digest": t.approved_digest, "execution": t.execution, "has_state": t.has_state,
        "executor": t.executor,
    })


def ticket_from_json(text: str | bytes) -> Ticket:
    """A stored ticket. Its action loads even if it breaks today's limits (signoff._limits): it
    may have been stored by a version without them, and the renderers show it safely."""
    try:
        d = json.loads(text)
    except RecursionError:  # deeper than Python's json reads; orjson (the server's) reads 1024 levels
        d = _loads_deep(text)
    return Ticket(
        id=d["id"], kind=d["kind"], action=Action.from_dict(d["action"], check_limits=False), status=d["status"],
        level=Level(d["level"]), reasons=tuple(Reason.from_dict(r) for r in d["reasons"]),
        rules=tuple(d["rules"]), tier=d["tier"], required_approvals=d["required_approvals"],
        approvals=tuple(d["approvals"]), deadline=_parse_dt(d["deadline"]),
        timeout_seconds=d["timeout_seconds"], on_timeout=d["on_timeout"], retries_left=d["retries_left"],
        escalations=d["escalations"], group_key=d["group_key"], batch_id=d["batch_id"],
        idempotency_key=d["idempotency_key"], digest=d["digest"], fingerprint=d["fingerprint"],
        mode=d["mode"], created_at=_parse_dt(d["created_at"]),  # type: ignore[arg-type]
        decided_at=_parse_dt(d["decided_at"]), decided_by=tuple(d["decided_by"]), feedback=d["feedback"],
        explanation=d["explanation"], edited_args=d["edited_args"], approved_digest=d["approved_digest"],
        execution=d["execution"], has_state=d["has_state"], executor=d.get("executor"),
    )


def _loads_deep(text: str | bytes) -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - the server extra brings orjson
        from signoff._errors import StoreUnavailable

        raise StoreUnavailable("a stored ticket is nested too deeply to read without orjson") from None
    return orjson.loads(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
