"""One codec for the records: how an Action, Reason, Outcome, Decision, Ticket or AuditEntry becomes JSON.

The store's body, the HTTP API's answers and its OpenAPI document used to list each record's
fields by hand, three times, and drifted. Here every record's JSON is derived from its frozen
dataclass in ``signoff._model`` (field names, types, defaults), so a field added there is stored,
sent, read back and documented without another edit. The rules, by field type:

* ``str``, numbers, ``bool``, literals: as they are;
* ``Level`` (an enum): its value; ``datetime``: ISO 8601 text; ``timedelta`` field ``x``: float
  seconds under the key ``x_seconds``; ``tuple``: a list; ``frozenset[str]``: a sorted list;
* a nested record: its own JSON; ``Mapping[str, Any]`` (arguments, context): a copy, which on the
  wire is ``bounded`` (parts too deep to show become a placeholder; see ``signoff._limits``);
* reading back, a missing key or a null for a field that is not optional takes the field's
  default, and unknown keys are ignored: a newer server, or an older store body, still loads.

The codec is on the hot path (every submission, every list), so each record's converters are
worked out once, at import, and compiled into one straight function per record and direction;
no type is inspected per call. pydantic only describes the wire shapes for the OpenAPI document
(:meth:`RecordCodec.model`, with each field's docstring as its description).

The agent's state, a variant with a ``kind`` (JSON or bytes), has its encoding here too
(``state_*``): the store, the request and the resume answer each used to write their own.
"""

from __future__ import annotations

import ast
import base64
import binascii
import dataclasses
import enum
import inspect
import itertools
import json
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from signoff import _model
from signoff._errors_root import UserError
from signoff._limits import MAX_STATE_DEPTH, bounded, check_value
from signoff._model import _UNCHECKED, Action, Decision, Outcome, Reason, ReviewersRequired, Ticket, canonical_json
from signoff._records import AuditEntry, StoredState

__all__ = [
    "ACTION",
    "AUDIT_ENTRY",
    "DECISION",
    "OUTCOME",
    "REASON",
    "REVIEWERS",
    "TICKET",
    "RecordCodec",
    "parse_datetime",
    "state_from_answer",
    "state_from_request",
    "state_to_answer",
    "state_to_request",
    "state_to_stored",
    "stored_state",
    "ticket_from_json",
    "ticket_to_json",
]

R = TypeVar("R")
Convert = Callable[[Any], Any]


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 timestamp; one without a zone is UTC (records only hold aware times)."""
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


def _to_timedelta(value: Any) -> timedelta:
    return timedelta(seconds=float(value))


def _bounded_copy(value: Mapping[str, Any]) -> Any:
    return bounded(dict(value))


@dataclasses.dataclass(frozen=True)
class _Field:
    """One field's way to JSON and back, worked out from its type once."""

    name: str
    """The dataclass field (or, for a computed one, the property)."""
    key: str
    """Its key in the JSON object."""
    store: Convert | None
    """To JSON as stored (None: the value is already JSON); never given None."""
    wire: Convert | None
    """To JSON as sent (differs from ``store`` only where a value is bounded for display)."""
    load: Convert | None
    """From JSON back to the field's type."""
    optional: bool
    """Whether null is a value of the field (otherwise a null reads as the default)."""
    wire_type: Callable[[], Any]
    """The JSON shape as a Python type, for the OpenAPI document (made only when a document is)."""
    omit_none: bool = False
    """Left out of the JSON while None (``field(metadata={"omit_none": True})``): a field added after
    records were stored leaves the bodies of the records that never use it byte for byte as they were."""


def _field(name: str, tp: Any) -> _Field:
    """The converters for a field of type ``tp`` (the rules in the module docstring)."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"no JSON rule for {name}: {tp!r}")
        f = _field(name, inner[0])
        return dataclasses.replace(f, optional=True, wire_type=lambda: f.wire_type() | None)
    if tp in (str, int, float, bool, Any) or origin in (Literal, typing.Union, types.UnionType):
        return _Field(name, name, None, None, None, False, lambda: tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = tuple(m.value for m in tp)
        return _Field(name, name, _value, _value, tp, False, lambda: Literal[values])
    if tp is datetime:
        return _Field(name, name, datetime.isoformat, datetime.isoformat, parse_datetime, False, lambda: str)
    if tp is timedelta:
        return _Field(name, f"{name}_seconds", _seconds, _seconds, _to_timedelta, False, lambda: float)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        codec = _CODECS[tp]
        return _Field(name, name, codec.dump, codec.dump_wire, codec.load, False, lambda: codec.model)
    if origin is tuple:
        item = _field(name, args[0])
        return _Field(name, name, _each(item.store), _each(item.wire), _each(item.load, tuple), False,
                      lambda: list[item.wire_type()])  # type: ignore[misc]
    if origin is frozenset and args == (str,):
        return _Field(name, name, sorted, sorted, frozenset, False, lambda: list[str])
    if origin in (Mapping, dict):
        return _Field(name, name, dict, _bounded_copy, dict, False, lambda: dict[str, Any])
    raise TypeError(f"no JSON rule for {name}: {tp!r}")  # a new kind of field: add its rule above


def _value(member: enum.Enum) -> Any:
    return member.value


def _each(convert: Convert | None, into: Callable[[Any], Any] = list) -> Convert:
    if convert is None:
        return into
    if into is list:
        return lambda items: [convert(i) for i in items]
    return lambda items: into([convert(i) for i in items])


class RecordCodec(Generic[R]):
    """How one record type travels as JSON: ``dump`` (as stored), ``dump_wire`` (as the API sends
    it), ``load`` (either, back), ``model`` (its wire shape as a pydantic model, for OpenAPI).

    ``computed`` names properties the API sends beside the fields (``Decision.args``), read-only;
    ``make`` builds the record from its fields (default: the class itself).
    """

    def __init__(self, cls: type[R], *, computed: tuple[str, ...] = (), make: Callable[..., R] | None = None,
                 model_name: str | None = None) -> None:
        self.cls = cls
        self._make: Callable[..., R] = make or cls
        self._model_name = model_name or f"{cls.__name__}Out"
        _CODECS[cls] = self
        hints = typing.get_type_hints(cls)
        self.fields = tuple(
            dataclasses.replace(_field(f.name, hints[f.name]), omit_none=bool(f.metadata.get("omit_none")))
            for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        # A computed value is made afresh by its property: bounded as it is, not copied once more.
        self.computed = tuple(
            dataclasses.replace(f, wire=bounded) if f.wire is _bounded_copy else f
            for f in (_field(name, typing.get_type_hints(getattr(cls, name).fget)["return"]) for name in computed))
        self.dump: Callable[[R], dict[str, Any]] = _compile_dump(self.fields, "store")
        """The record as stored: every field, nothing bounded."""
        self.dump_wire: Callable[[R], dict[str, Any]] = _compile_dump(self.fields + self.computed, "wire")
        """The record as the API sends it: every field and the computed ones, free-form values bounded."""
        self.load: Callable[[Mapping[str, Any]], R] = _compile_load(self.fields, self._make)
        """The record from a stored body or a wire answer (see the module docstring for what is lenient)."""
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The wire shape as a pydantic model named ``<Record>Out`` (what /api/v1/openapi.json shows)."""
        if self._model is None:
            from pydantic import Field, create_model

            doc = (self.cls.__doc__ or "").strip().split("\n\n")[0]
            if doc.startswith(f"{self.cls.__name__}("):  # the signature dataclasses write when none is given
                doc = ""
            docs = _field_docs(self.cls)
            self._model = create_model(  # type: ignore[call-overload]
                self._model_name, __doc__=doc,
                **{f.key: (f.wire_type(), Field(None, description=docs.get(f.name)) if f.omit_none
                           else Field(description=docs.get(f.name))) for f in self.fields + self.computed})
        return self._model


_CODECS: dict[type, RecordCodec[Any]] = {}


def _field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of ``cls`` and its bases (they describe the API's fields too)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (a builtin, a class made at run time)
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


# The hot path: each record's dump and load are compiled once into one straight function, as if
# written by hand (``{"id": r.id, "action": c2(r.action), "level": r.level.value, ...}``): about a
# sixth faster than a loop over the fields, on every submission and every list (benchmarks/).
_INLINE: dict[Any, str] = {_value: "{}.value", _seconds: "{}.total_seconds()"}
"""Converters written out in place (a call of a Python function costs more than the work)."""


def _compile_dump(fields: tuple[_Field, ...], which: Literal["store", "wire"]) -> Callable[[Any], dict[str, Any]]:
    namespace: dict[str, Any] = {}
    items = []
    omitted = []
    for i, f in enumerate(fields):
        convert = f.store if which == "store" else f.wire
        if convert is not None:
            namespace[f"c{i}"] = convert
        call = "{}" if convert is None else _INLINE.get(convert, f"c{i}({{}})")
        if f.omit_none:
            omitted += [f"if (v{i} := r.{f.name}) is not None: d[{f.key!r}] = {call.format(f'v{i}')}"]
        elif convert is None:
            items.append(f"{f.key!r}: r.{f.name}")
        elif f.optional:
            items.append(f"{f.key!r}: None if (v{i} := r.{f.name}) is None else {call.format(f'v{i}')}")
        else:
            items.append(f"{f.key!r}: {call.format(f'r.{f.name}')}")
    body = ["d = {" + ", ".join(items) + "}", *omitted, "return d"] if omitted else [
        "return {" + ", ".join(items) + "}"]
    dump: Callable[[Any], dict[str, Any]] = _define("dump", "r", body, namespace)
    return dump


def _compile_load(fields: tuple[_Field, ...], make: Callable[..., Any]) -> Callable[[Mapping[str, Any]], Any]:
    namespace: dict[str, Any] = {"make": make}
    lines = ["kw = {}", "get = d.get"]
    for i, f in enumerate(fields):
        value = "v"
        if f.load is not None:
            namespace[f"c{i}"] = f.load
            value = f"c{i}(v)"
        lines += [f"v = get({f.key!r})", f"if v is not None: kw[{f.name!r}] = {value}"]
        if f.optional:  # an explicit null stays null; a missing key takes the default
            lines.append(f"elif {f.key!r} in d: kw[{f.name!r}] = None")
    lines.append("return make(**kw)")
    load: Callable[[Mapping[str, Any]], Any] = _define("load", "d", lines, namespace)
    return load


def _define(name: str, arg: str, body: list[str], namespace: dict[str, Any]) -> Any:
    source = f"def {name}({arg}):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<signoff._codec {name}>", "exec"), namespace)  # only our own field names
    return namespace[name]


def _stored_action(**fields: Any) -> Action:
    # Stored and sent actions were checked when they came in; one stored before the limits existed
    # must still load (the renderers show it bounded), so the limits are not checked again here
    # (what ``Action.from_dict(check_limits=False)`` does, without its per-call field checks).
    token = _UNCHECKED.set(True)
    try:
        return Action(**fields)
    finally:
        _UNCHECKED.reset(token)


ACTION = RecordCodec(Action, make=_stored_action)
REASON = RecordCodec(Reason)
REVIEWERS = RecordCodec(ReviewersRequired, model_name="ReviewersOut")
OUTCOME = RecordCodec(Outcome, computed=("needs_human",))
DECISION = RecordCodec(Decision, computed=("args",))
TICKET = RecordCodec(Ticket)
AUDIT_ENTRY = RecordCodec(AuditEntry)

# The model's ``to_dict`` methods are these codecs (installed here: ``_model`` cannot import this module,
# which imports it).
_model.RECORD_DUMPS.update(action=ACTION.dump, reason=REASON.dump, outcome=OUTCOME.dump_wire)


# -- the store's body: a ticket as canonical JSON text --------------------------------------------
def ticket_to_json(ticket: Ticket) -> str:
    """The body a store saves (sorted keys: the same ticket is always the same text)."""
    return canonical_json(TICKET.dump(ticket))


def ticket_from_json(text: str | bytes) -> Ticket:
    """A stored ticket, whichever version wrote it (tests/unit/codec_bodies holds older bodies).
    Its action loads even if it breaks today's limits (see ``_stored_action``)."""
    try:
        data = json.loads(text)
    except RecursionError:  # deeper than Python's json reads; orjson (the server's) reads 1024 levels
        data = _loads_deep(text)
    return TICKET.load(data)


def _loads_deep(text: str | bytes) -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - the server extra brings orjson
        from signoff._errors import StoreUnavailable

        raise StoreUnavailable("a stored ticket is nested too deeply to read without orjson") from None
    return orjson.loads(text)


# -- the agent's state: JSON or bytes, in the store and on the wire -----------------------------
# A state is a variant with a ``kind`` (``StoredState.kind``, the API's ``state_kind``): bytes (a
# framework's serialized run) travel as base64 in ``state_b64``, anything else as JSON in ``state``.
def _is_bytes(state: Any) -> bool:
    return isinstance(state, (bytes, bytearray, memoryview))


def _state_json(state: Any, *, strict: bool) -> bytes:
    """The state as JSON, or a UserError naming why it cannot be. ``strict`` also refuses what a
    server would (NaN, lone surrogates); the store's own format keeps the stdlib's defaults."""
    try:
        if strict:
            return json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        return json.dumps(state, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise UserError(f"state must be JSON-serialisable or bytes: {exc}") from None


def state_to_stored(state: Any) -> StoredState | None:
    """What a store saves with a ticket."""
    if state is None:
        return None
    if _is_bytes(state):
        return StoredState(kind="bytes", data=bytes(state))
    # Bounded like the action's values: the agent gets the state back through orjson (255 levels).
    check_value(state, "state", max_depth=MAX_STATE_DEPTH, max_size=None, owner="the ")
    return StoredState(kind="json", data=_state_json(state, strict=False))


def stored_state(kind: str | None, data: bytes | None) -> StoredState | None:
    """A state read back from a store's row (its kind column and its bytes)."""
    if kind is None or data is None:
        return None
    return StoredState(kind="bytes" if kind == "bytes" else "json", data=bytes(data))


def state_to_request(state: Any) -> dict[str, Any]:
    """The state fields of a submission (``state`` or ``state_b64``; none without a state)."""
    if state is None:
        return {}
    if _is_bytes(state):
        return {"state_b64": base64.b64encode(bytes(state)).decode()}
    _state_json(state, strict=True)
    return {"state": state}


def state_from_request(state: Any, state_b64: str | None) -> Any:
    """The state a submission carries, bytes when it came as ``state_b64``."""
    if state_b64 is None:
        return state
    try:
        return base64.b64decode(state_b64, validate=True)
    except (binascii.Error, ValueError):
        raise UserError("state_b64 is not valid base64") from None


def state_to_answer(state: Any) -> dict[str, Any]:
    """The state fields of a resume answer: ``state_kind`` says which of ``state``/``state_b64`` holds it."""
    if state is None:
        return {"state": None, "state_b64": None, "state_kind": None}
    if _is_bytes(state):
        return {"state": None, "state_b64": base64.b64encode(bytes(state)).decode(), "state_kind": "bytes"}
    # Bounded: a state stored before the limits existed may be deeper than orjson writes.
    return {"state": bounded(state, MAX_STATE_DEPTH), "state_b64": None, "state_kind": "json"}


def state_from_answer(data: Mapping[str, Any]) -> Any:
    """The state of a resume answer (bytes when the agent saved bytes)."""
    if data.get("state_b64") is not None:
        return base64.b64decode(data["state_b64"])
    return data.get("state")
