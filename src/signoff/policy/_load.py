"""Turn a policy document (YAML text or Python data) into a validated PolicySpec.

Every problem is collected and located (file, line, column) before anything is
raised, so ``signoff policy check`` shows them all at once. Never a parser traceback.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from signoff._errors import PolicyError, Problem
from signoff.policy._cel import ConditionSyntaxError, compile_condition
from signoff.policy._spec import PolicySpec
from signoff.policy._yaml import Located, load_located


def load_text(text: str, filename: str = "<policy>") -> tuple[PolicySpec, Located]:
    located = load_located(text, filename)
    if not isinstance(located.data, dict):
        raise PolicyError(
            problems=[Problem(filename, 1, 1, "a policy must be a mapping (version, defaults, rules...)")]
        )
    return validate(located.data, filename, located), located


def load_file(path: str | FsPath) -> tuple[PolicySpec, Located]:
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(problems=[Problem(str(p), 0, 0, "no such policy file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(problems=[Problem(str(p), 0, 0, f"cannot read policy file: {exc}")]) from None
    return load_text(text, str(p))


def validate(data: Mapping[str, Any], filename: str = "<policy>", located: Located | None = None) -> PolicySpec:
    loc = located or Located(data=data)
    try:
        spec = PolicySpec.model_validate(dict(data))
    except ValidationError as exc:
        raise PolicyError(problems=_from_pydantic(exc, filename, loc)) from None
    problems = _cross_check(spec, filename, loc)
    if problems:
        raise PolicyError(problems=problems)
    return spec


def _fmt_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _from_pydantic(exc: ValidationError, filename: str, loc: Located) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        raw = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        path = _drop_tags(raw)
        etype = err["type"]
        if etype in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx", {})
            kinds = str(ctx.get("expected_tags", "")).replace("'", "")
            given = f"unknown {ctx.get('discriminator', 'kind')} {ctx['tag']!r}" if "tag" in ctx else "no 'kind'"
            msg = f"{_fmt_path(path)}: {given.replace(chr(39) + 'kind' + chr(39), 'kind')}: use one of {kinds}"
            line, col = loc.where(path)
        elif etype == "extra_forbidden":
            key = path[-1]
            allowed = _allowed_keys(raw[:-1])
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            msg = f"unknown key {key!r} in {_fmt_path(path[:-1]) or 'the policy'}"
            msg += f"; did you mean {hint[0]!r}?" if hint else f"; valid keys: {', '.join(allowed)}"
            line, col = loc.where(path, key=True)
        elif etype == "missing":
            msg = f"{_fmt_path(path[:-1]) or 'the policy'} needs the key {path[-1]!r}"
            line, col = loc.where(path[:-1])
        else:
            text = err["msg"]
            text = text.removeprefix("Value error, ")
            if etype == "literal_error" and path == ("version",):
                text = "unsupported policy version: only version 1 exists"
            msg = f"{_fmt_path(path)}: {text}"
            line, col = loc.where(path)
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        problems.append(Problem(filename, line, col, msg))
    return problems


def _walk(path: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """Follow ``path`` from PolicySpec: the path without the tags pydantic adds for a tagged union
    (``channels.ops-hook.webhook.url`` is ``channels.ops-hook.url`` in the file), and the type reached."""
    tp: Any = PolicySpec
    clean: list[Any] = []
    for part in path:
        tp = _unwrap(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and isinstance(part, str):
            tagged = [a for a in map(_unwrap, typing.get_args(tp)) if isinstance(a, type) and issubclass(a, BaseModel)
                      and "kind" in a.model_fields and typing.get_args(a.model_fields["kind"].annotation) == (part,)]
            if tagged:
                tp = tagged[0]
                continue
        clean.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            tp = field.annotation if field is not None else Any
        else:
            args = typing.get_args(tp)
            tp = args[-1] if args else Any
    return tuple(clean), tp


def _drop_tags(path: tuple[Any, ...]) -> tuple[Any, ...]:
    return _walk(path)[0]


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """The valid keys (as written in the file: aliases) of the model found at ``path``."""
    tp = _unwrap(_walk(path)[1])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp


def _cross_check(spec: PolicySpec, filename: str, loc: Located) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: tuple[Any, ...], msg: str, *, key: bool = False) -> None:
        problems.append(Problem(filename, *loc.where(path, key=key), msg))

    tiers = spec.tiers
    if len(set(tiers)) != len(tiers):
        add(("tiers",), "tiers: a tier is listed twice")

    def check_tier(path: tuple[Any, ...], tier: str | None) -> None:
        if tier is not None and tier not in tiers:
            known = ", ".join(tiers) if tiers else "none are declared (add a 'tiers:' list)"
            hint = difflib.get_close_matches(tier, tiers, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            add((*path, "tier"), f"unknown tier {tier!r}{extra} (tiers: {known})")

    check_tier(("defaults", "reviewers"), spec.defaults.reviewers.tier)
    names: dict[str, int] = {}
    for i, rule in enumerate(spec.rules):
        if rule.name in names:
            add(("rules", i, "name"), f"duplicate rule name {rule.name!r} (first used by rules[{names[rule.name]}])")
        else:
            names[rule.name] = i
        if rule.reviewers is not None:
            check_tier(("rules", i, "reviewers"), rule.reviewers.tier)
        for mode_name in rule.modes or []:
            if mode_name not in spec.modes:
                add(("rules", i, "modes"),
                    f"rule {rule.name!r} names mode {mode_name!r}, which is not defined under 'modes:'")
        if rule.when is not None:
            try:
                compile_condition(rule.when)
            except ConditionSyntaxError as exc:
                line, col = _condition_position(loc, ("rules", i, "when"), exc)
                problems.append(Problem(filename, line, col, f"rules[{i}] ({rule.name}) when: {exc.message}"))
    for mname, mode in spec.modes.items():
        for rname, override in mode.rules.items():
            if rname not in names:
                hint = difflib.get_close_matches(rname, list(names), n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                add(("modes", mname, "rules", rname),
                    f"mode {mname!r} overrides unknown rule {rname!r}{extra}", key=True)
            if override.reviewers is not None:
                check_tier(("modes", mname, "rules", rname, "reviewers"), override.reviewers.tier)
    if spec.notifications is not None:
        _check_routes(spec, names, add)
    if spec.oidc is not None:
        for tier, values in spec.oidc.tiers.items():
            if tier not in tiers:
                known = ", ".join(tiers) if tiers else "none are declared (add a 'tiers:' list)"
                hint = difflib.get_close_matches(tier, tiers, n=1)
                add(("oidc", "tiers", tier), f"oidc.tiers: unknown tier {tier!r}"
                    f"{f'; did you mean {hint[0]!r}?' if hint else ''} (tiers: {known})", key=True)
            elif not values:
                add(("oidc", "tiers", tier),
                    f"oidc.tiers.{tier}: list the values of the {spec.oidc.claim!r} claim that earn it")
    return problems


def _check_routes(spec: PolicySpec, rules: Mapping[str, int], add: Callable[..., None]) -> None:
    """Every route sends to channels that exist and matches tiers and rules that exist."""
    assert spec.notifications is not None
    channels = list(spec.notifications.channels)
    for i, route in enumerate(spec.notifications.routes):
        for name in route.to or []:
            if name not in channels:
                hint = difflib.get_close_matches(name, channels, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                known = ", ".join(channels) if channels else "none are declared under notifications.channels"
                add(("notifications", "routes", i, "to"), f"route sends to unknown channel {name!r}{extra} "
                    f"(channels: {known})")
        match = route.match
        for tier in (match.tier if match and match.tier else []):
            if tier not in spec.tiers:
                add(("notifications", "routes", i, "match", "tier"), f"unknown tier {tier!r} (tiers: "
                    f"{', '.join(spec.tiers) or 'none are declared'})")
        for rule in (match.rule if match and match.rule else []):
            if rule not in rules:
                hint = difflib.get_close_matches(rule, list(rules), n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                add(("notifications", "routes", i, "match", "rule"), f"unknown rule {rule!r}{extra}")


def _condition_position(loc: Located, path: tuple[Any, ...], exc: ConditionSyntaxError) -> tuple[int, int]:
    node = loc.nodes.get(path)
    line, col = loc.where(path)
    if node is None:
        return line, col
    style = getattr(node, "style", None)
    if style in ("|", ">"):
        # The text starts on the line after the indicator, indented by the block's indentation.
        return line + exc.line, _block_indent(node, line) + exc.column
    quote = 1 if style in ("'", '"') else 0
    if exc.line == 1:
        return line, col + quote + exc.column - 1
    return line + exc.line - 1, exc.column


def _block_indent(node: Any, line: int) -> int:
    """How many columns a block scalar's lines are indented (from the first non-blank line)."""
    buffer = getattr(node.start_mark, "buffer", None)
    if not isinstance(buffer, str):
        return 0
    for text in buffer.split("\n")[line:]:
        if text.strip():
            return len(text) - len(text.lstrip(" "))
    return 0
