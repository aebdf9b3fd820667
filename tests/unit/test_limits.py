"""The bounds on agent values (signoff._limits): refused at every door, harmless when stored earlier."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from signoff import Action, Gate, Ticket, UserError
from signoff._limits import INT_MAX, INT_MIN, MAX_DEPTH, MAX_NAME, MAX_SIZE, bounded, placeholder
from signoff._model import Level, utcnow
from signoff._wire import loads_exact, ticket_to_dict
from signoff.server.ui._render import args_preview, audit_details, count_hidden, hidden_counts, json_html
from signoff.store._records import encode_state, ticket_from_json, ticket_to_json

POLICY = {"version": 1, "defaults": {"level": "auto"},
          "rules": [{"name": "all", "match": {"action": "*"}, "level": "approve"}]}


def nested(depth: int, leaf: Any = "x") -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


def legacy(**fields: Any) -> Ticket:
    action = Action._unchecked(name=fields.pop("name", "deploy"), **fields)
    return Ticket(id="tk_old", kind="approval", action=action, status="pending", level=Level.APPROVE,
                  digest=action.digest(), created_at=utcnow())


class TestRefused:
    @pytest.mark.parametrize(("fields", "where", "limit"), [
        ({"args": {"p": nested(MAX_DEPTH)}}, "args['p']", str(MAX_DEPTH)),
        ({"args": {"p": nested(5000)}}, "args['p']", str(MAX_DEPTH)),
        ({"context": {"c": {"d": nested(MAX_DEPTH)}}}, "context['c']", str(MAX_DEPTH)),
        ({"args": {"n": 2**70}}, "args['n']", "64 bits"),
        ({"args": {"l": [1, {"n": INT_MIN - 1}]}}, "args['l'][1]['n']", "64 bits"),
        ({"args": {"s": "x" * (MAX_SIZE + 1)}}, "args", f"{MAX_SIZE:,}"),
        ({"name": "n" * (MAX_NAME + 1)}, "name", str(MAX_NAME)),
        ({"tags": {"t" * (MAX_NAME + 1)}}, "tags[0]", str(MAX_NAME)),
        ({"tags": {f"t{i}" for i in range(101)}}, "tags", "100"),
        ({"args": {"s": "\ud800"}}, "args['s']", "Unicode"),
    ])
    def test_action_refuses_naming_field_and_limit(self, fields: dict[str, Any], where: str, limit: str) -> None:
        """Every door makes an Action, so this is the check every door has."""
        with pytest.raises(UserError) as info:
            Action(name=fields.pop("name", "deploy"), **fields)
        assert f"Action.{where}" in str(info.value) and limit in str(info.value)

    def test_at_the_limits_is_accepted_and_exact(self) -> None:
        args = {"p": nested(MAX_DEPTH - 1), "max": INT_MAX, "min": INT_MIN, "f": 1e300}
        assert args == Action(name="deploy", args=args).args

    def test_local_gate_stores_nothing(self, tmp_path: Any) -> None:
        """A deep submission through a local Gate fails before the store sees it (and it fails closed)."""
        with Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/g.db", sweep=False) as gate:
            with pytest.raises(UserError):
                gate.submit_sync(Action(name="deploy", args={"p": nested(600)}))
            with pytest.raises(UserError, match="64 bits"):
                gate.submit_sync(Action(name="deploy", args={"amount": 10**30}))
            assert [] == gate.list_tickets_sync(status=None)

    def test_deep_state_is_refused(self) -> None:
        with pytest.raises(UserError, match="state"):
            encode_state({"s": nested(500)})
        assert encode_state({"s": nested(20)}) is not None

    def test_edited_arguments_are_bounded_too(self) -> None:
        """A reviewer's edit goes through Action.evolve: the same limits."""
        with pytest.raises(UserError, match="64 bits"):
            Action(name="deploy", args={"n": 1}).evolve(args={"n": 2**64})


class TestStoredEarlier:
    def test_store_codec_round_trips_a_legacy_ticket_exactly(self) -> None:
        t = legacy(args={"p": nested(600), "n": 2**70})
        back = ticket_from_json(ticket_to_json(t))
        assert (back.action.args["n"], back.digest) == (2**70, t.digest)
        assert back.action.digest() == t.digest

    def test_wire_dict_serializes_with_placeholder(self) -> None:
        t = legacy(args={"p": nested(600), "n": 2**70}, context={"c": nested(600)}).evolve(
            edited_args={"e": nested(600)})
        d = ticket_to_dict(t)
        text = orjson.dumps(d).decode()  # raised "Recursion limit reached" before
        assert placeholder(MAX_DEPTH) in text and '"1180591620717411303424"' in text

    def test_bounded_leaves_safe_values_alone(self) -> None:
        value = {"a": [1, 2, {"b": "c"}], "n": INT_MAX}
        assert bounded(value) is value

    def test_renderers_survive(self) -> None:
        # 900: deeper than orjson writes (255) and than Python's recursion allows a recursive renderer.
        t = legacy(args={"p": nested(900, "\u202e")}, context={"c": nested(900)}, tags=frozenset({"t"}))
        html = str(json_html(dict(t.action.args)))
        assert placeholder(MAX_DEPTH).replace("<", "&lt;").replace(">", "&gt;") in html
        assert 0 == count_hidden(dict(t.action.args))  # beyond the placeholder nothing is shown or counted
        assert str(args_preview(t.action.args)).endswith("…")


class TestExactIntegersOverHttpParsing:
    def test_big_integer_stays_exact(self) -> None:
        """orjson alone gives 1.2345678901234568e+29."""
        assert 123456789012345678901234567890 == loads_exact(b'{"a": 123456789012345678901234567890}')["a"]

    def test_floats_and_small_numbers_are_unchanged(self) -> None:
        assert {"f": 1e30, "i": 2**63 - 1, "s": "1234567890123456789012"} == loads_exact(
            b'{"f": 1e30, "i": 9223372036854775807, "s": "1234567890123456789012"}')

    def test_orjson_still_refuses_what_it_refuses(self) -> None:
        with pytest.raises(json.JSONDecodeError):
            loads_exact(b'{"a": NaN, "n": 12345678901234567890123}')


class TestQuotedKeysAndHiddenCounts:
    FAKE = 'amount=10.0, currency="USD", reason'

    def test_inbox_preview_quotes_keys(self) -> None:
        """A key cannot pass for several fields: it is quoted and its quotes escaped."""
        text = str(args_preview({self.FAKE: "x"}, width=200, per_value=200))
        assert text.startswith("&#34;amount=10.0, currency=\\&#34;USD\\&#34;, reason&#34;=")

    def test_audit_details_quote_keys_and_values(self) -> None:
        assert '"a=1 · b"="x · c=2" · "n"=3' == audit_details({"a=1 · b": "x · c=2", "n": 3})

    def test_tags_and_context_count_in_the_banner(self) -> None:
        t = legacy(tags=frozenset({"safe\u202e"}), context={"k": "v\u200b"})
        counts = hidden_counts(t)
        assert (1, 1) == (counts["tags"], counts["context"])
