"""The wire codec: what the server sends comes back in the client as the very same values and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from signoff import Action, Conflict, Decision, Gate, Level, PolicyError, Problem, Reason, Rejected, Ticket
from signoff._codec import TICKET
from signoff._model import Outcome, ReviewersRequired
from signoff._records import AuditEntry
from signoff._wire import (
    audit_entry_to_dict,
    decision_from_dict,
    decision_to_dict,
    error_attrs,
    error_from_problem,
    outcome_from_dict,
    outcome_to_dict,
    ticket_from_dict,
    ticket_to_dict,
)
from signoff.server import ServerSettings, create_app
from signoff.server._error_map import status_for

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ACTION = Action(name="send_payment", args={"amount": 12.5, "to": ["a", "b"]}, confidence=0.8, reasoning="invoice",
                alternatives=("wait",), tags={"financial"}, external=True, agent="bot", context={"run": 1})
REASON = Reason(code="high_risk_action", rule="payments", message="pays money", level=Level.APPROVE)


def through_json(value: object) -> object:
    """What actually crosses the network: JSON text."""
    return json.loads(json.dumps(value))


class TestWire:
    def test_a_ticket_survives_the_round_trip(self) -> None:
        """Every field of a decided, edited ticket comes back equal."""
        ticket = Ticket(id="tk_1", kind="approval", action=ACTION, status="approved", level=Level.APPROVE,
                        reasons=(REASON,), rules=("payments",), tier="senior", required_approvals=2,
                        approvals=("alice", "bob"), deadline=NOW + timedelta(hours=1), timeout_seconds=3600.0,
                        on_timeout="abort", group_key="send_payment~abc", batch_id="bt_1", idempotency_key="k",
                        digest="d", created_at=NOW, decided_at=NOW, decided_by=("alice", "bob"), feedback="ok",
                        edited_args={"amount": 10.0, "to": ["a"]}, approved_digest="e", has_state=True)
        assert ticket == ticket_from_dict(through_json(ticket_to_dict(ticket)))  # type: ignore[arg-type]

    def test_a_decision_survives_the_round_trip(self) -> None:
        """Status, the (edited) action, feedback, reviewers, reasons and times come back equal."""
        decision = Decision(status="rejected", approved=False, action=ACTION, feedback="no", explanation="why",
                            reviewers=("alice",), reasons=(REASON,), level=Level.APPROVE, ticket_id="tk_1",
                            created_at=NOW, decided_at=NOW)
        assert decision == decision_from_dict(through_json(decision_to_dict(decision)))  # type: ignore[arg-type]

    def test_an_outcome_survives_the_round_trip(self) -> None:
        """The level, reasons, rules, reviewers and timeout come back equal."""
        outcome = Outcome(level=Level.APPROVE, reasons=(REASON,), matched_rules=("payments",), near_misses=("x",),
                          reviewers=ReviewersRequired(tier="senior", count=2), timeout=timedelta(minutes=90),
                          on_timeout="retry", retries=2, mode="incident", fingerprint="fp", novel=True,
                          require_reasoning=True)
        assert outcome == outcome_from_dict(through_json(outcome_to_dict(outcome)))  # type: ignore[arg-type]

    def test_errors_come_back_as_their_own_class_with_their_attributes(self) -> None:
        """Conflict keeps ticket_id, Rejected its decision and feedback, PolicyError its located problems."""
        decision = Decision(status="rejected", approved=False, action=ACTION, feedback="use staging")
        sent = [Conflict("already approved", ticket_id="tk_1", status="approved"),
                Rejected("send_payment: rejected", decision=decision),
                PolicyError(problems=[Problem("p.yaml", 3, 5, "unknown key 'levle'")])]
        back = [error_from_problem(status_for(e), through_json({"error": type(e).__name__, "detail": str(e),
                                                                "attrs": error_attrs(e)}),  # type: ignore[arg-type]
                                   fallback=Conflict) for e in sent]
        assert [Conflict, Rejected, PolicyError] == [type(e) for e in back]
        assert ("tk_1", "use staging", 3, "p.yaml:3:5: unknown key 'levle'") == (
            back[0].ticket_id, back[1].feedback, back[2].line, str(back[2]))  # type: ignore[attr-defined]

    def test_an_unknown_error_name_falls_back_to_the_status_class(self) -> None:
        """A name that is not a signoff exception (a newer server, a proxy) gives the fallback class."""
        error = error_from_problem(409, {"error": "os.system", "detail": "x"}, fallback=Conflict)
        assert (Conflict, "x") == (type(error), str(error))

    def test_the_openapi_document_shows_the_records_as_they_are_sent(self, tmp_path: Path) -> None:
        """TicketOut, DecisionOut, OutcomeOut and AuditEntryOut list exactly the keys the API sends
        (one codec writes both), and the ticket's enums are the model's."""
        policy = tmp_path / "policy.yaml"
        policy.write_text("version: 1\n", encoding="utf-8")
        with Gate.open(policy=str(policy), store="memory://openapi-wire", sweep=False) as gate:
            schemas = create_app(gate, settings=ServerSettings()).openapi()["components"]["schemas"]
        ticket = Ticket(id="tk_1", kind="approval", action=ACTION, status="pending", level=Level.APPROVE)
        decision = Decision(status="approved", approved=True, action=ACTION)
        entry = AuditEntry(seq=1, at=NOW.isoformat(), kind="submitted", ticket_id="tk_1", actor="bot", data={},
                           prev_hash="", hash="h")
        sent = {"TicketOut": ticket_to_dict(ticket), "DecisionOut": decision_to_dict(decision),
                "OutcomeOut": outcome_to_dict(Outcome(level=Level.AUTO)), "AuditEntryOut": audit_entry_to_dict(entry)}
        # ``claim_id`` and ``lease_until`` are sent only once a run is claimed (``omit_none`` in signoff._codec).
        later = {"TicketOut": {f.key for f in TICKET.fields if f.omit_none}}
        assert {"claim_id", "lease_until"} == later["TicketOut"]
        assert {name: set(body) for name, body in sent.items()} == {
            name: set(schemas[name]["properties"]) - later.get(name, set()) for name in sent}
        assert ["approval", "notification", "suggestion"] == schemas["TicketOut"]["properties"]["kind"]["enum"]
