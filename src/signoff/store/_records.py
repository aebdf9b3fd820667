"""Records the stores keep besides tickets, and the codec between tickets and JSON rows."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from signoff._limits import MAX_STATE_DEPTH, check_value
from signoff._model import Action, Level, Reason, Ticket, canonical_json

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
    "submitted_audit_data",
    "ticket_from_json",
    "ticket_to_json",
]


@dataclass(frozen=True, kw_only=True)
class Reviewer:
    """A person who may decide tickets, with a tier from the policy's ``tiers`` list."""

    name: str
    tier: str | None = None
    password_hash: str | None = None
    disabled: bool = False


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    """An API token, stored hashed; ``kind`` says whether it speaks for an agent or a reviewer."""

    token_hash: str
    kind: Literal["agent", "reviewer"]
    name: str
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True, kw_only=True)
class StoredState:
    """The agent's state saved with a ticket: JSON, or raw bytes (a framework's serialized run)."""

    kind: Literal["json", "bytes"]
    data: bytes

    def value(self) -> Any:
        return json.loads(self.data) if self.kind == "json" else self.data


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


@dataclass(frozen=True, kw_only=True)
class TicketQuery:
    """Filters for listing tickets; None means any."""

    status: str | tuple[str, ...] | None = None
    kind: str | None = None
    agent: str | None = None
    action: str | None = None
    group: str | None = None
    batch: str | None = None
    idempotency_key: str | None = None
    limit: int = 500
    offset: int = 0
    newest_first: bool = False


@dataclass(frozen=True, kw_only=True)
class AuditDraft:
    """An audit entry to append in the same transaction as the change it records."""

    kind: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ticket_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One link of the hash chain: ``hash`` covers every other field, ``prev_hash`` links back."""

    seq: int
    at: str
    kind: str
    ticket_id: str | None
    actor: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """What a transition wants written: the new ticket, its audit entries, a fingerprint learnt."""

    ticket: Ticket
    audit: tuple[AuditDraft, ...] = ()
    learn_fingerprint: str | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    """A committed change, as waiters and live pages see it (built from the audit entry)."""

    seq: int
    kind: str
    ticket_id: str | None
    data: Mapping[str, Any]


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def submitted_audit_data(t: Ticket) -> dict[str, Any]:
    """What the audit records for a submission, the same on every store (verify and events read it)."""
    return {"status": t.status, "action": t.action.name, "agent": t.action.agent, "digest": t.digest,
            "level": t.level.value, "rules": list(t.rules), "tier": t.tier, "batch": t.batch_id,
            "group": t.group_key, "deadline": t.deadline.isoformat() if t.deadline else None}


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
