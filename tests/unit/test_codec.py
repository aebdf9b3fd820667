"""The one record codec (signoff._codec): store bodies, wire JSON and OpenAPI shapes from the dataclasses."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, Decision, Level, Reason, Ticket, UserError
from signoff._codec import (
    ACTION,
    AUDIT_ENTRY,
    DECISION,
    OUTCOME,
    REASON,
    TICKET,
    RecordCodec,
    state_from_answer,
    state_from_request,
    state_to_answer,
    state_to_request,
    state_to_stored,
    stored_state,
    ticket_from_json,
    ticket_to_json,
)
from signoff._limits import MAX_DEPTH, placeholder
from signoff._model import Outcome, ReviewersRequired
from signoff._records import AuditEntry
from signoff._wire import RECOMMENDATION

BODIES = Path(__file__).parent / "codec_bodies"
"""Ticket bodies written by the store encoder before the codec (store/_records.py at e8aa7b2), and
that encoder's wire dicts (signoff/_wire.py) in wire.json: tests/unit/codec_bodies/README.md."""
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def body(name: str) -> str:
    return (BODIES / f"{name}.json").read_text(encoding="utf-8").strip()


FULL = Ticket(
    id="tk_full", kind="approval",
    action=Action(name="send_payment", args={"amount": 4611686018427387904, "to": ["ä", "b"], "memo": "naïve ✓",
                                             "nested": {"a": [1, 2.5, None, True]}},
                  confidence=0.8, reasoning="invoice 42", alternatives=("wait", "ask"), tags={"financial", "external"},
                  external=True, agent="bot", context={"run": 1}),
    status="approved", level=Level.APPROVE,
    reasons=(Reason(code="high_risk_action", rule="payments", message="pays money", level=Level.APPROVE),
             Reason(code="low_confidence", message="unsure")),
    rules=("payments",), tier="senior", required_approvals=2, approvals=("alice", "bob"),
    deadline=NOW + timedelta(hours=1), timeout_seconds=3600.0, on_timeout="retry", retries_left=1, escalations=2,
    group_key="send_payment~abc", batch_id="bt_1", idempotency_key="key-1", digest="d" * 64, fingerprint="fp",
    mode="incident", created_at=NOW, decided_at=NOW + timedelta(minutes=5), decided_by=("alice", "bob"),
    feedback="ok", explanation="two approvals", edited_args={"amount": 10, "to": ["a"]}, approved_digest="e" * 64,
    execution="executed", executor="gate-1", has_state=True)
MINIMAL = Ticket(id="tk_min", kind="notification", action=Action(name="ping"), status="notified",
                 level=Level.NOTIFY, created_at=NOW)
REASON_1 = Reason(code="high_risk_action", rule="payments", message="pays money", level=Level.APPROVE)


class TestStoredBodies:
    @pytest.mark.parametrize(("name", "ticket"), [("ticket_full", FULL), ("ticket_minimal", MINIMAL)])
    def test_a_body_the_old_encoder_wrote_loads_and_is_written_again_byte_for_byte(
            self, name: str, ticket: Ticket) -> None:
        """Existing databases read as before, and the codec writes the very same text for the same ticket."""
        assert (ticket, body(name)) == (ticket_from_json(body(name)), ticket_to_json(ticket))

    def test_a_body_from_before_a_field_existed_takes_its_default(self) -> None:
        """A ticket stored before ``executor`` existed loads with ``executor=None``."""
        assert MINIMAL == ticket_from_json(body("ticket_before_executor"))

    def test_a_stored_action_past_todays_limits_still_loads(self) -> None:
        """Limits refuse new actions, not old records: the renderers show those bounded."""
        deep: Any = "x"
        for _ in range(MAX_DEPTH + 5):
            deep = [deep]
        stored = json.loads(body("ticket_minimal"))
        stored["action"]["args"] = {"p": deep}
        assert {"p": deep} == ticket_from_json(json.dumps(stored)).action.args
        with pytest.raises(UserError):
            Action(name="ping", args={"p": deep})


class TestWire:
    def test_the_wire_dicts_are_those_the_old_encoder_sent(self) -> None:
        """The public API's JSON is unchanged for tickets, decisions and outcomes (wire.json was captured before)."""
        action = Action(name="send_payment", args={"amount": 12.5, "deep": [[[1]]]}, tags={"b", "a"}, agent="bot")
        sent = {
            "ticket_full": TICKET.dump_wire(FULL), "ticket_minimal": TICKET.dump_wire(MINIMAL),
            "decision": DECISION.dump_wire(Decision(
                status="approved", approved=True, action=action, feedback="fine", reviewers=("alice",),
                reasons=(REASON_1,), level=Level.APPROVE, ticket_id="tk_1", edited=True, created_at=NOW,
                decided_at=NOW)),
            "decision_auto": DECISION.dump_wire(Decision(status="auto", approved=True, action=Action(name="read"))),
            "outcome": OUTCOME.dump_wire(Outcome(
                level=Level.APPROVE, reasons=(REASON_1,), matched_rules=("payments",), near_misses=("x",),
                reviewers=ReviewersRequired(tier="senior", count=2), timeout=timedelta(minutes=90),
                on_timeout="retry", retries=2, mode="incident", fingerprint="fp", novel=True,
                require_reasoning=True)),
            "outcome_auto": OUTCOME.dump_wire(Outcome(level=Level.AUTO)),
        }
        assert json.loads(body("wire")) == json.loads(json.dumps(sent))

    def test_reading_is_lenient_where_a_newer_or_older_peer_differs(self) -> None:
        """Unknown keys are ignored, a missing key or a null for a non-optional field takes the default,
        an explicit null stays null."""
        data = {"level": "approve", "surprise": 1, "reasons": None, "mode": None, "timeout_seconds": 90}
        assert Outcome(level=Level.APPROVE, timeout=timedelta(seconds=90)) == OUTCOME.load(data)
        assert Reason(code="x", rule=None) == REASON.load({"code": "x", "rule": None, "level": None})

    def test_free_form_values_are_bounded_on_the_wire_only(self) -> None:
        """What is too deep to show becomes a placeholder when sent, and is stored whole."""
        deep: Any = 1
        for _ in range(MAX_DEPTH + 1):
            deep = [deep]
        action = Action._unchecked(name="x", args={"p": deep})
        assert (deep, True) == (ACTION.dump(action)["args"]["p"],
                                placeholder(MAX_DEPTH) in json.dumps(ACTION.dump_wire(action)["args"]))

    def test_the_action_codec_agrees_with_action_to_dict(self) -> None:
        """``Action.to_dict`` (public) and the codec give the same JSON."""
        assert FULL.action.to_dict() == ACTION.dump(FULL.action)
        assert REASON_1.to_dict() == REASON.dump(REASON_1)


class TestDerived:
    def test_the_api_takes_the_fields_the_codec_sends(self) -> None:
        """``ActionIn`` stays a request model of its own (it adds the limits a request is held to, in
        the OpenAPI document), but it names exactly the codec's fields of an Action, in its order."""
        from signoff.server.api._models import ActionIn

        assert [f.key for f in ACTION.fields] == list(ActionIn.model_fields)

    def test_a_dataclass_without_a_docstring_documents_no_signature(self) -> None:
        """A record without a docstring has no description, not the signature dataclasses write for it."""
        assert "description" not in RECOMMENDATION.model.model_json_schema()

    def test_a_field_added_to_a_record_is_stored_sent_read_and_documented(self) -> None:
        """Nothing but the dataclass names the fields: a new one travels everywhere without another edit."""

        @dataclass(frozen=True, kw_only=True)
        class TicketWithMore(Ticket):
            second_look: datetime | None = None
            """When someone looked again."""
            watchers: tuple[str, ...] = ()

        codec = RecordCodec(TicketWithMore, model_name="TicketWithMoreOut")
        ticket = TicketWithMore(**{f.name: getattr(FULL, f.name) for f in fields(Ticket)}, second_look=NOW,
                                watchers=("carol",))
        stored = codec.dump(ticket)
        sent = json.loads(json.dumps(codec.dump_wire(ticket)))
        schema = codec.model.model_json_schema()
        assert (NOW.isoformat(), ["carol"]) == (stored["second_look"], stored["watchers"])
        assert ticket == codec.load(stored) == codec.load(sent)
        assert {"second_look", "watchers"} <= set(schema["properties"]) & set(schema["required"])
        assert "When someone looked again." == schema["properties"]["second_look"]["description"]

    def test_the_openapi_shapes_have_the_wire_keys(self) -> None:
        """Every key the API sends is documented, and nothing else (computed ones included)."""
        decision = Decision(status="auto", approved=True, action=Action(name="read"))
        entry = AuditEntry(seq=1, at="now", kind="submitted", ticket_id=None, actor="bot", data={}, prev_hash="",
                           hash="")
        cases: list[tuple[RecordCodec[Any], Any]] = [
            (TICKET, FULL), (DECISION, decision), (OUTCOME, Outcome(level=Level.AUTO)), (AUDIT_ENTRY, entry)]
        for codec, record in cases:
            schema = codec.model.model_json_schema()
            # A field left out while None (``omit_none``: added after records were stored) is documented, not required.
            omitted = {f.key for f in codec.fields if f.omit_none}
            assert set(codec.dump_wire(record)) == set(schema["properties"]) - omitted == set(schema["required"])

    def test_a_claimed_run_travels_with_its_claim_and_lease(self) -> None:
        """``claim_id`` and ``lease_until`` (left out while None) are stored, sent and read back when set."""
        claimed = FULL.evolve(execution="executing", claim_id="cl_1", lease_until=NOW + timedelta(minutes=15))
        stored, sent = TICKET.dump(claimed), TICKET.dump_wire(claimed)
        assert ("cl_1", "2026-11-24T12:15:00+00:00") == (stored["claim_id"], sent["lease_until"])
        assert claimed == TICKET.load(stored) == TICKET.load(sent) == ticket_from_json(ticket_to_json(claimed))

    def test_an_audit_entry_is_sent_as_before_with_its_data_bounded(self) -> None:
        """The audit page's entries keep their keys; data too deep to show becomes a placeholder."""
        deep: Any = 1
        for _ in range(MAX_DEPTH + 1):
            deep = [deep]
        entry = AuditEntry(seq=1, at="2026-11-24T12:00:00+00:00", kind="approved", ticket_id="tk_1", actor="alice",
                           data={"deep": deep}, prev_hash="0" * 64, hash="f" * 64)
        sent = AUDIT_ENTRY.dump_wire(entry)
        assert ["seq", "at", "kind", "ticket_id", "actor", "data", "prev_hash", "hash"] == list(sent)
        assert placeholder(MAX_DEPTH) in json.dumps(sent["data"])

    def test_a_timedelta_travels_as_seconds_and_an_enum_as_its_value(self) -> None:
        """Outcome.timeout is ``timeout_seconds`` (a float); Level is its string."""
        sent = OUTCOME.dump_wire(Outcome(level=Level.DENY, timeout=timedelta(minutes=2)))
        assert ("deny", 120.0, False) == (sent["level"], sent["timeout_seconds"], sent["needs_human"])

    def test_the_api_level_names_are_levels(self) -> None:
        """The OpenAPI literal of level names is the Level enum."""
        from signoff.server.api._models import LevelName

        assert [lv.value for lv in Level] == list(typing.get_args(LevelName))


class TestState:
    @pytest.mark.parametrize("state", [{"step": 3, "notes": ["ä"]}, b"\x00\xffpickled", [1, None]])
    def test_a_state_comes_back_as_it_went_in(self, state: Any) -> None:
        """Agent -> request -> server -> store -> resume answer -> agent: JSON stays JSON, bytes stay bytes."""
        request = json.loads(json.dumps(state_to_request(state)))
        received = state_from_request(request.get("state"), request.get("state_b64"))
        stored = state_to_stored(received)
        assert stored is not None
        row = stored_state(stored.kind, stored.data)
        assert row is not None
        answer = json.loads(json.dumps(state_to_answer(row.value())))
        assert (state, "bytes" if isinstance(state, bytes) else "json") == (
            state_from_answer(answer), answer["state_kind"])

    def test_no_state_is_no_fields(self) -> None:
        """Without a state a request has no state fields and an answer says so with nulls."""
        assert ({}, None, {"state": None, "state_b64": None, "state_kind": None}) == (
            state_to_request(None), state_to_stored(None), state_to_answer(None))

    @pytest.mark.parametrize(("call", "message"), [
        (lambda: state_to_request({"x": float("nan")}), "JSON-serialisable"),
        (lambda: state_to_request({"x": object()}), "JSON-serialisable"),
        (lambda: state_to_stored({"x": object()}), "JSON-serialisable"),
        (lambda: state_from_request(None, "not base64!"), "state_b64 is not valid base64"),
    ])
    def test_a_state_that_cannot_travel_is_refused_with_its_reason(self, call: Any, message: str) -> None:
        """A UserError says what is wrong instead of a failure deeper down."""
        with pytest.raises(UserError, match=message):
            call()
