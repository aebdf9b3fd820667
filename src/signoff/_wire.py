"""The JSON shapes of signoff's values on the wire, shared by the server and ``Gate.remote``.

One module so both ends cannot drift apart: the server turns tickets, decisions and
errors into plain dicts here, and the client turns the same dicts back into the very
types a local Gate returns (``Ticket``, ``Decision``, ``Outcome``...) and the very
exception classes it raises. The records' JSON itself is ``signoff._codec``'s (the same
definition the store and the OpenAPI document use); these names are the API's doors to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from signoff import _errors
from signoff._codec import ACTION, AUDIT_ENTRY, DECISION, OUTCOME, TICKET, RecordCodec
from signoff._errors import NotAllowed, PolicyError, Problem, SignoffError
from signoff._model import Action, Decision, Outcome, Ticket
from signoff._records import AuditEntry
from signoff._shadow import comparison_from_dict, comparison_to_dict
from signoff.audit import VerifyResult
from signoff.insights import Insights, Recommendation, ReviewerStat, Stat
from signoff.review._flood import Surge

STAT = RecordCodec(Stat, computed=("approval_rate",))
REVIEWER_STAT = RecordCodec(ReviewerStat, computed=("approval_rate", "quick_share"))
RECOMMENDATION = RecordCodec(Recommendation)
"""Insights' records on the wire (here, not in ``_codec``: insights sits above the model the codec serves)."""

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
    "surge_from_dict",
    "surge_to_dict",
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


# -- records: one codec (signoff._codec) for the store, the wire and the OpenAPI document --------
def action_from_dict(data: Mapping[str, Any]) -> Action:
    """An Action from its wire dict; unknown keys are ignored (a newer server may add some).

    The server checked the limits when the action came in (and shows older, unchecked ones
    bounded), so they are not checked again here: a stored ticket must always load."""
    return ACTION.load(data)


def action_to_dict(a: Action) -> dict[str, Any]:
    """The action's wire dict, safe to serialize whatever is stored (see ``signoff._limits.bounded``)."""
    return ACTION.dump_wire(a)


def outcome_to_dict(o: Outcome) -> dict[str, Any]:
    return OUTCOME.dump_wire(o)


def outcome_from_dict(d: Mapping[str, Any]) -> Outcome:
    return OUTCOME.load(d)


def ticket_to_dict(t: Ticket) -> dict[str, Any]:
    return TICKET.dump_wire(t)


def ticket_from_dict(d: Mapping[str, Any]) -> Ticket:
    return TICKET.load(d)


def decision_to_dict(dec: Decision) -> dict[str, Any]:
    return DECISION.dump_wire(dec)


def decision_from_dict(d: Mapping[str, Any]) -> Decision:
    return DECISION.load(d)


# -- insights, audit ------------------------------------------------------------------------
def insights_to_dict(ins: Insights) -> dict[str, Any]:
    return {
        "total": ins.total,
        "rules": [STAT.dump_wire(s) for s in ins.rules],
        "actions": [STAT.dump_wire(s) for s in ins.actions],
        "recommendations": [RECOMMENDATION.dump_wire(r) for r in ins.recommendations],
        "timeline": {rule: [{"day": day, "approved": a, "decided": n} for day, a, n in days]
                     for rule, days in ins.timeline.items()},
        "shadow": comparison_to_dict(ins.shadow) if ins.shadow is not None else None,
        "reviewers": [REVIEWER_STAT.dump_wire(r) for r in ins.reviewers],
    }


def insights_from_dict(d: Mapping[str, Any]) -> Insights:
    return Insights(
        total=int(d.get("total", 0)),
        rules=[STAT.load(s) for s in d.get("rules", ())], actions=[STAT.load(s) for s in d.get("actions", ())],
        recommendations=[RECOMMENDATION.load(r) for r in d.get("recommendations", ())],
        timeline={rule: [(c["day"], int(c["approved"]), int(c["decided"])) for c in days]
                  for rule, days in (d.get("timeline") or {}).items()},
        shadow=comparison_from_dict(d["shadow"]) if d.get("shadow") else None,
        reviewers=[REVIEWER_STAT.load(r) for r in d.get("reviewers", ())],
    )


def audit_entry_to_dict(e: AuditEntry) -> dict[str, Any]:
    return AUDIT_ENTRY.dump_wire(e)


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


def surge_to_dict(s: Surge) -> dict[str, Any]:
    """A flood-guard flag (``Gate.surges``) on the wire; ``message`` is the sentence reviewers read."""
    return {"agent": s.agent, "recent": s.recent, "usual": s.usual, "window_seconds": s.window.total_seconds(),
            "history_seconds": s.history.total_seconds(), "message": s.describe()}


def surge_from_dict(d: Mapping[str, Any]) -> Surge:
    return Surge(agent=str(d["agent"]), recent=int(d["recent"]), usual=float(d["usual"]),
                 window=timedelta(seconds=float(d["window_seconds"])),
                 history=timedelta(seconds=float(d["history_seconds"])))
