"""``signoff policy check``, ``signoff explain`` and ``signoff policy diff``: a policy's problems, one
decision explained, and what a change would have done to the stored history.

Both are for people at a terminal and for CI: ``check`` prints one ``file:line:col: message``
line per problem (the format editors and CI annotators understand) and exits 1; ``explain``
shows what the gate would decide for one action and why, without a store. Neither ever
shows a traceback: a bad input is the user's to fix, so it gets a one-line message.

Exit codes: 0 fine, 1 the policy has problems, 2 bad usage (bad JSON, bad action, unknown mode).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from signoff._errors import PolicyError, Problem, UserError
from signoff._model import Action, Level, Outcome
from signoff._text import reveal, reveal_value
from signoff.policy import Policy, format_duration
from signoff.policy._compiled import LEVEL_WORDS
from signoff.review._transitions import tier_rank

__all__ = ["register"]

_LEVEL_COLOURS = {
    Level.AUTO: "green",
    Level.NOTIFY: "cyan",
    Level.APPROVE: "yellow",
    Level.SUGGEST: "magenta",
    Level.DENY: "red",
}
_ON_TIMEOUT_WORDS = {
    "retry": "then notify the reviewers again",
    "abort": "then abort (the agent is told why)",
}
_LABEL_WIDTH = 12


def register(group: click.Group) -> None:
    """Add ``policy check|diff`` and ``explain`` (also reachable as ``policy explain``) to ``group``."""
    group.add_command(policy_group)
    group.add_command(explain)


@click.group("policy")
def policy_group() -> None:
    """Check policy files, explain decisions, and replay a change on the stored history (diff)."""


def _paint(text: str, **style: Any) -> str:
    # click.echo strips the escape codes again when stdout is not a terminal (pipes, CI logs,
    # tests); NO_COLOR (https://no-color.org) turns them off on a terminal too.
    if os.environ.get("NO_COLOR"):
        return text
    return click.style(text, **style)


def _problem_line(problem: Problem) -> str:
    where = f"{problem.file}:{problem.line}:{problem.column}" if problem.line else problem.file
    return f"{_paint(where, bold=True)}: {problem.message}"


@policy_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check(files: Sequence[Path]) -> None:
    """Validate policy FILES: print each problem as file:line:col: message; exit 1 if any."""
    total = 0
    bad_files = 0
    for path in files:
        try:
            policy = Policy.load(path)
        except PolicyError as exc:
            problems = exc.problems or [Problem(str(path), 0, 0, exc.message)]
            for problem in sorted(problems, key=lambda p: (p.line, p.column)):
                click.echo(_problem_line(problem))
            total += len(problems)
            bad_files += 1
            continue
        except Exception as exc:  # never a traceback: name the file and what went wrong
            click.echo(_problem_line(Problem(str(path), 0, 0, f"cannot check: {type(exc).__name__}: {exc}")))
            total += 1
            bad_files += 1
            continue
        click.echo(f"{_paint(str(path), bold=True)}: {_paint('ok', fg='green')}: {_summary(policy)}")
    if total:
        plural = "s" if total != 1 else ""
        click.echo(f"{total} problem{plural} in {bad_files} of {len(files)} file{'s' if len(files) != 1 else ''}",
                   err=True)
        sys.exit(1)


def _summary(policy: Policy) -> str:
    n = len(policy.spec.rules)
    parts = [f"{n} rule{'s' if n != 1 else ''}"]
    if policy.tiers:
        parts.append(f"tiers: {', '.join(policy.tiers)}")
    parts.append(f"modes: {', '.join(policy.modes) if policy.modes else 'none'}")
    if policy.spec.novelty is not None:
        parts.append(f"novelty: {policy.spec.novelty.level.value}")
    notify = policy.spec.notifications
    if notify is not None:
        routes = len(notify.routes)
        channels = ", ".join(f"{name} ({c.kind})" for name, c in notify.channels.items()) or "no channels"
        parts.append(f"notifications: {channels}; {routes} route{'s' if routes != 1 else ''}")
    return ", ".join(parts)


@click.command("explain")
@click.option("--policy", "policy_path", required=True, envvar="SIGNOFF_POLICY", show_envvar=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The policy file (YAML).")
@click.option("--mode", default=None, help="Evaluate as if this mode (e.g. incident) were switched on.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON instead of text.")
@click.argument("action_json", metavar="ACTION_JSON")
def explain(policy_path: Path, mode: str | None, as_json: bool, action_json: str) -> None:
    """Show the level the policy gives an action, and why.

    ACTION_JSON is a JSON object with the action's fields (name, args, confidence, tags,
    external, agent, context...), or - to read it from stdin, or @FILE to read it from a file.

    \b
    Example:
      signoff explain --policy policy.yaml '{"name": "deploy_production", "confidence": 0.9}'
    """
    try:
        policy = Policy.load(policy_path)
    except PolicyError as exc:
        for problem in sorted(exc.problems or [Problem(str(policy_path), 0, 0, exc.message)],
                              key=lambda p: (p.line, p.column)):
            click.echo(_problem_line(problem), err=True)
        sys.exit(1)
    action = _read_action(action_json)
    if mode is not None and mode not in policy.modes:
        known = ", ".join(policy.modes) or "none"
        _fail(f"unknown mode {mode!r}; the policy defines: {known}")
    outcome = policy.evaluate(action, mode=mode)
    if as_json:
        data = outcome.to_dict()
        data["near_misses"] = [
            {"rule": name, "when": _condition(policy, name)} for name in outcome.near_misses
        ]
        data["novelty_checked"] = False
        click.echo(json.dumps(data, indent=2))  # ASCII: no agent-written control character reaches the terminal
        return
    for line in render(policy, action, outcome):
        click.echo(line)


policy_group.add_command(explain)


@policy_group.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "db", envvar="SIGNOFF_DB", required=True, metavar="URL",
              help="The store whose history to replay, e.g. sqlite:///signoff.db (env SIGNOFF_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of text.")
def diff(old: Path, new: Path, db: str, as_json: bool) -> None:
    """Replay the stored requests under OLD and NEW: what NEW would have done differently.

    Every stored approval and notification request is evaluated under both policies; where
    they disagree (level or matched rules), the reviewers' decision shows what the change
    would have cost: "the candidate would have auto-approved 12 requests, of which reviewers
    rejected 1". Actions that ran with no ticket (auto) are not stored, so a change that
    asks for more review shows only in a shadow run ('signoff serve --shadow-policy').

    \b
    Example:
      signoff policy diff policy.yaml candidate.yaml --db sqlite:///signoff.db
    """
    from signoff._shadow import compare, observations_from_replay
    from signoff.cli._comparison import comparison_json, print_comparison
    from signoff.cli._db import run_store, signoff_errors
    from signoff.insights import replay
    from signoff.store import Store, TicketQuery

    policies = [_load_or_exit(path) for path in (old, new)]

    async def read(store: Store) -> list[Any]:
        return [t for kind in ("approval", "notification")
                for t in await store.list_tickets(TicketQuery(kind=kind, limit=10_000_000))]

    with signoff_errors():
        tickets = run_store(db, read, existing=True)
    report = compare(observations_from_replay(tickets, policies[0], policies[1]), candidate=str(new),
                     evaluated=len(tickets))
    # And against what happened (the levels the requests were given: ``Gate.replay``'s question).
    happened = replay(tickets, policies[1].evaluate)
    if as_json:
        click.echo(json.dumps({**comparison_json(report), "replay": {
            "total": happened.total, "changed": happened.changed, "would_auto": happened.would_auto,
            "would_auto_rejected": happened.would_auto_rejected, "would_block": happened.would_block,
            "summary": str(happened)}}, indent=2))
        return
    print_comparison(report, title=f"{new} against {old}, over {len(tickets)} stored requests")
    click.echo()
    click.echo(f"against the levels the decided approval requests were given: {happened}")


def _load_or_exit(path: Path) -> Policy:
    """The policy at ``path``, or its problems as file:line:col lines on stderr and exit 1."""
    try:
        return Policy.load(path)
    except PolicyError as exc:
        for problem in sorted(exc.problems or [Problem(str(path), 0, 0, exc.message)],
                              key=lambda p: (p.line, p.column)):
            click.echo(_problem_line(problem), err=True)
        sys.exit(1)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")


def _fail(message: str) -> NoReturn:
    click.echo(f"{_paint('error', fg='red', bold=True)}: {message}", err=True)
    sys.exit(2)


def _read_action(text: str) -> Action:
    source = "ACTION_JSON"
    if text == "-":
        source = "stdin"
        text = sys.stdin.read()
    elif text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read {source}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(data, dict):
        _fail(f"{source} must be a JSON object with at least a \"name\", got {type(data).__name__}")
    problem = _check_fields(data)
    if problem:
        _fail(f"bad action: {problem}")
    try:
        return Action.from_dict(data)
    except (UserError, TypeError, ValueError) as exc:
        _fail(f"bad action: {exc}")


_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "args": ((dict,), "an object"),
    "context": ((dict,), "an object"),
    "reasoning": ((str,), "a string"),
    "agent": ((str,), "a string"),
    "external": ((bool,), "true or false"),
    "tags": ((list,), "a list of strings"),
    "alternatives": ((list,), "a list of strings"),
}


def _check_fields(data: Mapping[str, Any]) -> str | None:
    """The first field of the wrong JSON type, said plainly (Action itself checks the rest)."""
    for key, (types, words) in _FIELD_TYPES.items():
        if key in data and not isinstance(data[key], types):
            return f"{key!r} must be {words}, got {json.dumps(data[key])}"
    for key in ("tags", "alternatives"):
        if key in data and not all(isinstance(item, str) for item in data[key]):
            return f"{key!r} must be a list of strings"
    return None


def _condition(policy: Policy, rule_name: str) -> str:
    rule = policy.rule(rule_name)
    return rule.when if rule is not None and rule.when else ""


def _label(text: str) -> str:
    return _paint(text.ljust(_LABEL_WIDTH), dim=True)


def render(policy: Policy, action: Action, outcome: Outcome) -> list[str]:
    """The text ``explain`` prints: one aligned line per fact, reasons as a small table."""
    level = outcome.level
    lines = [
        _label("level") + _paint(level.value, fg=_LEVEL_COLOURS[level], bold=True) + f"  ({LEVEL_WORDS[level]})",
        _label("action") + _describe(action),
    ]
    if outcome.mode:
        lines.append(_label("mode") + outcome.mode)

    if outcome.reasons:
        code_w = max(len(r.code) for r in outcome.reasons)
        rule_w = max(len(r.rule or "-") for r in outcome.reasons)
        for i, reason in enumerate(outcome.reasons):
            head = _label("reasons" if i == 0 else "")
            lines.append(f"{head}{reason.code.ljust(code_w)}  {(reason.rule or '-').ljust(rule_w)}  "
                         f"{reveal(reason.message, one_line=True)}")
    else:
        lines.append(_label("reasons") + "none: no rule matched and the default is auto")

    matched = ", ".join(outcome.matched_rules) if outcome.matched_rules else "none (the default level applies)"
    lines.append(_label("matched") + matched)
    if outcome.near_misses:
        for i, name in enumerate(outcome.near_misses):
            when = _condition(policy, name)
            lines.append(_label("near misses" if i == 0 else "") + f"{name}: name matched, condition false: {when}")
    else:
        lines.append(_label("near misses") + "none")

    if level is Level.APPROVE:
        reviewers = outcome.reviewers
        who = f"{reviewers.count} distinct approver{'s' if reviewers.count != 1 else ''}"
        who += f" of tier {reviewers.tier} or above" if reviewers.tier else " of any tier"
        lines.append(_label("reviewers") + who)
        if outcome.timeout is not None:
            then = _ON_TIMEOUT_WORDS.get(outcome.on_timeout, f"then {outcome.on_timeout}")
            if outcome.on_timeout == "escalate":
                tiers = policy.tiers
                rank = tier_rank(tiers, reviewers.tier)
                then = (f"then escalate to {tiers[rank + 1]}" if rank + 1 < len(tiers)
                        else "then expire (no higher tier to escalate to)")
            if outcome.on_timeout == "retry":
                then += f" (up to {outcome.retries} times)"
            lines.append(_label("timeout") + f"{format_duration(outcome.timeout)}, {then}")

    novelty = policy.spec.novelty
    if novelty is not None:
        lines.append(
            _label("novelty")
            + f"not checked (needs a store): a first-time action would need {novelty.level.value}; "
            + f"fingerprint {outcome.fingerprint}"
        )
    return lines


def _describe(action: Action) -> str:
    """The action on one line; every agent-written part revealed (``signoff._text``), keys quoted."""
    parts = [_paint(reveal(action.name, one_line=True), bold=True)]
    if action.agent:
        parts.append(f"agent={reveal(action.agent, one_line=True)}")
    if action.confidence is not None:
        parts.append(f"confidence={action.confidence:g}")
    if action.tags:
        parts.append(f"tags={reveal(json.dumps(sorted(action.tags), ensure_ascii=False), one_line=True)}")
    if action.external:
        parts.append("external")
    if action.args:
        parts.append(f"args={reveal_value(dict(action.args), one_line=True)}")
    return "  ".join(parts)
