"""The JSON shapes of signoff's values on the wire, shared by the server and ``Gate.remote``.

One module so both ends cannot drift apart: the server turns tickets, decisions and
errors into plain dicts here, and the client turns the same dicts back into the very
types a local Gate returns (``Ticket``, ``Decision``, ``Outcome``...) and the very
exception classes it raises.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from signoff import _errors
from signoff._errors import NotAllowed, PolicyError, Problem, SignoffError
from signoff._limits import bounded
from signoff._model import Action, Decision, Level, Outcome, Reason, ReviewersRequired, Ticket
from signoff.audit import VerifyResult
from signoff.insights import Insights, Recommendation, Stat
from signoff.store._records import AuditEntry

__all__ = [
    "action_from_dict",
    "action_to_dict",
    "audit_entry_to_dict",
    "decision_from_dict",
    "decision_to_dict",
    "error_attrs",
    "error_from_problem",
    "insights_from_dict",
    "insights_to_dict",
    "loads_exact",
    "outcome_from_dict",
    "outcome_to_dict",
    "ticket_from_dict",
    "ticket_to_dict",
    "verify_from_dict",
    "verify_to_dict",
]


# -- reading request bodies ----------------------------------------------------------------
_LONG_NUMBER = re.compile(rb"[0-9]{19}")
"""An integer of 19 digits or more may not fit in 64 bits; with 18 or fewer it always does."""


def loads_exact(body: bytes) -> Any:
    """JSON with integers kept exact, at orjson's speed in the common case.

    orjson turns an integer beyond 64 bits into a float without a word, and the reviewer
    would approve a number the agent never sent. When the body holds a run of 19 digits or
    more, it is read again with Python's json (exact integers), and the Action's limits then
    refuse the integer with a 422 naming its field. orjson still decides what is valid JSON
    (it refuses lone surrogates and NaN, which Python's json would let through).
    """
    import orjson

    value = orjson.loads(body)
    if _LONG_NUMBER.search(body) is None:
        return value
    try:
        return json.loads(body)
    except RecursionError:  # deeper than Python's json reads: the depth limit refuses it anyway
        return value


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# -- actions, reasons, outcomes -------------------------------------------------------------
def action_from_dict(data: Mapping[str, Any]) -> Action:
    """An Action from its wire dict; unknown keys are ignored (a newer server may add some).

    The server checked the limits when the action came in (and shows older, unchecked ones
    bounded), so they are not checked again here: a stored ticket must always load."""
    return Action.from_dict({k: v for k, v in data.items()
                             if k in _ACTION_FIELDS and (v is not None or k == "confidence")}, check_limits=False)


_ACTION_FIELDS = frozenset(f.name for f in dataclasses.fields(Action))


def action_to_dict(a: Action) -> dict[str, Any]:
    """The action's wire dict, safe to serialize whatever is stored (see ``signoff._limits.bounded``)."""
    d = a.to_dict()
    d["args"] = bounded(d["args"])
    d["context"] = bounded(d["context"])
    return d


def outcome_to_dict(o: Outcome) -> dict[str, Any]:
    d = o.to_dict()
    d["require_reasoning"] = o.require_reasoning
    d["needs_human"] = o.needs_human
    return d


def outcome_from_dict(d: Mapping[str, Any]) -> Outcome:
    rv = d.get("reviewers") or {}
    timeout = d.get("timeout_seconds")
    return Outcome(
        level=Level(d["level"]), reasons=tuple(Reason.from_dict(r) for r in d.get("reasons", ())),
        matched_rules=tuple(d.get("matched_rules", ())), near_misses=tuple(d.get("near_misses", ())),
        reviewers=ReviewersRequired(tier=rv.get("tier"), count=int(rv.get("count", 1))),
        timeout=timedelta(seconds=float(timeout)) if timeout is not None else None,
        on_timeout=d.get("on_timeout", "escalate"), retries=int(d.get("retries", 0)), mode=d.get("mode"),
        fingerprint=d.get("fingerprint", ""), novel=bool(d.get("novel", False)),
        require_reasoning=bool(d.get("require_reasoning", False)),
    )


# -- tickets --------------------------------------------------------------------------------
# Built from the dataclass fields, so a field the lead adds to Ticket travels without an edit here.
_TICKET_FIELDS = tuple(f.name for f in dataclasses.fields(Ticket))
_DT_FIELDS = frozenset({"created_at", "decided_at", "deadline"})
_TUPLE_FIELDS = frozenset({"rules", "approvals", "decided_by"})
_TO: dict[str, Callable[[Any], Any]] = {
    "action": action_to_dict,
    "level": lambda lv: lv.value,
    "reasons": lambda rs: [r.to_dict() for r in rs],
    "edited_args": lambda e: bounded(dict(e)) if e is not None else None,
    **{name: _dt for name in _DT_FIELDS},
    **{name: list for name in _TUPLE_FIELDS},
}
_FROM: dict[str, Callable[[Any], Any]] = {
    "action": action_from_dict,
    "level": Level,
    "reasons": lambda rs: tuple(Reason.from_dict(r) for r in rs),
    "edited_args": lambda e: dict(e) if e is not None else None,
    **{name: _parse_dt for name in _DT_FIELDS},
    **{name: tuple for name in _TUPLE_FIELDS},
}


def ticket_to_dict(t: Ticket) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TICKET_FIELDS:
        value = getattr(t, name)
        conv = _TO.get(name)
        out[name] = conv(value) if conv is not None else value
    return out


def ticket_from_dict(d: Mapping[str, Any]) -> Ticket:
    kwargs: dict[str, Any] = {}
    for name in _TICKET_FIELDS:
        if name not in d:
            continue
        value = d[name]
        conv = _FROM.get(name)
        kwargs[name] = conv(value) if conv is not None and (value is not None or name == "level") else value
    return Ticket(**kwargs)


# -- decisions ------------------------------------------------------------------------------
def decision_to_dict(dec: Decision) -> dict[str, Any]:
    return {
        "status": dec.status, "approved": dec.approved, "action": action_to_dict(dec.action),
        "args": bounded(dict(dec.action.args)), "feedback": dec.feedback, "explanation": dec.explanation,
        "reviewers": list(dec.reviewers), "reasons": [r.to_dict() for r in dec.reasons],
        "level": dec.level.value, "ticket_id": dec.ticket_id, "edited": dec.edited,
        "created_at": _dt(dec.created_at), "decided_at": _dt(dec.decided_at),
    }


def decision_from_dict(d: Mapping[str, Any]) -> Decision:
    return Decision(
        status=d["status"], approved=bool(d["approved"]), action=action_from_dict(d["action"]),
        feedback=d.get("feedback", ""), explanation=d.get("explanation", ""),
        reviewers=tuple(d.get("reviewers", ())), reasons=tuple(Reason.from_dict(r) for r in d.get("reasons", ())),
        level=Level(d.get("level", "auto")), ticket_id=d.get("ticket_id"), edited=bool(d.get("edited", False)),
        created_at=_parse_dt(d.get("created_at")), decided_at=_parse_dt(d.get("decided_at")),
    )


# -- insights, audit ------------------------------------------------------------------------
def _stat_to_dict(s: Stat) -> dict[str, Any]:
    d = dataclasses.asdict(s)
    d["approval_rate"] = s.approval_rate
    return d


def insights_to_dict(ins: Insights) -> dict[str, Any]:
    return {
        "total": ins.total,
        "rules": [_stat_to_dict(s) for s in ins.rules],
        "actions": [_stat_to_dict(s) for s in ins.actions],
        "recommendations": [{"rule": r.rule, "action": r.action, "suggest_level": r.suggest_level.value,
                             "message": r.message} for r in ins.recommendations],
        "timeline": {rule: [{"day": day, "approved": a, "decided": n} for day, a, n in days]
                     for rule, days in ins.timeline.items()},
    }


def insights_from_dict(d: Mapping[str, Any]) -> Insights:
    stat_fields = {f.name for f in dataclasses.fields(Stat)}

    def stat(s: Mapping[str, Any]) -> Stat:
        return Stat(**{k: v for k, v in s.items() if k in stat_fields})

    return Insights(
        total=int(d.get("total", 0)),
        rules=[stat(s) for s in d.get("rules", ())], actions=[stat(s) for s in d.get("actions", ())],
        recommendations=[Recommendation(rule=r.get("rule"), action=r.get("action"),
                                        suggest_level=Level(r["suggest_level"]), message=r.get("message", ""))
                         for r in d.get("recommendations", ())],
        timeline={rule: [(c["day"], int(c["approved"]), int(c["decided"])) for c in days]
                  for rule, days in (d.get("timeline") or {}).items()},
    )


def audit_entry_to_dict(e: AuditEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at, "kind": e.kind, "ticket_id": e.ticket_id, "actor": e.actor,
            "data": bounded(dict(e.data)), "prev_hash": e.prev_hash, "hash": e.hash}


def verify_to_dict(v: VerifyResult) -> dict[str, Any]:
    return {"ok": v.ok, "count": v.count, "first_bad": v.first_bad, "problem": v.problem, "message": str(v)}


def verify_from_dict(d: Mapping[str, Any]) -> VerifyResult:
    return VerifyResult(bool(d["ok"]), int(d["count"]), d.get("first_bad"), d.get("problem", ""))


# -- errors ---------------------------------------------------------------------------------
_PRIMITIVES = (str, int, float, bool, type(None))
_RESERVED = frozenset({"message", "args", "with_traceback", "add_note"})


def error_attrs(exc: SignoffError) -> dict[str, Any]:
    """The attributes of ``exc`` that survive JSON (ticket_id, agent, decision, problems...)."""
    out: dict[str, Any] = {}
    for key, value in getattr(exc, "_attrs", {}).items():
        if key.startswith("_"):
            continue
        if isinstance(value, Decision):
            out[key] = decision_to_dict(value)
        elif key == "problems" and isinstance(value, list):
            out[key] = [{"file": p.file, "line": p.line, "column": p.column, "message": p.message}
                        for p in value if isinstance(p, Problem)]
        elif isinstance(value, _PRIMITIVES):
            out[key] = value
    return out


def _error_class(name: str) -> type[SignoffError] | None:
    cls = getattr(_errors, name, None) if name in _errors.__all__ else None
    if isinstance(cls, type) and issubclass(cls, SignoffError):
        return cls
    return None


def error_from_problem(status: int, body: Mapping[str, Any], *, fallback: type[SignoffError]) -> SignoffError:
    """Rebuild the signoff exception a server described in a problem+json body."""
    cls = _error_class(str(body.get("error", ""))) or fallback
    message = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    raw = body.get("attrs")
    attrs = {k: v for k, v in (raw.items() if isinstance(raw, Mapping) else ())
             if isinstance(k, str) and k.isidentifier() and not k.startswith("_") and k not in _RESERVED}
    if issubclass(cls, PolicyError):
        problems = [Problem(file=p.get("file", ""), line=int(p.get("line", 0)), column=int(p.get("column", 0)),
                            message=p.get("message", "")) for p in attrs.get("problems", ())]
        return PolicyError(message, problems=problems)
    if issubclass(cls, NotAllowed):
        raw = attrs.pop("decision", None)
        decision = decision_from_dict(raw) if isinstance(raw, Mapping) else None
        return cls(message, decision=decision, **attrs)
    return cls(message, **attrs)
