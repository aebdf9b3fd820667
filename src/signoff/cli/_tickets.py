"""``signoff tickets list|show|approve|reject|record-run``: review the queue from a terminal, without the server.

Everything an agent wrote (names, arguments, reasoning) goes through ``signoff._text.reveal``
before it reaches the terminal: escape sequences cannot drive it, and hidden characters
(bidi overrides, zero-width, tags) show as ``<U+XXXX>``. Deciding needs the policy: tiers
are checked, and edited arguments are evaluated again, exactly as through the API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from signoff._limits import bounded
from signoff._model import Ticket, utcnow
from signoff._text import has_hidden, reveal, reveal_value
from signoff._via import decided_via
from signoff.cli._db import db_option, fail, policy_option, print_table, run_store, signoff_errors, span, when
from signoff.notify._summary import AGENT_WORDS
from signoff.policy import Policy
from signoff.policy._spec import FloodGuard
from signoff.review import _flood as flood
from signoff.review._flood import Surge
from signoff.review._grouping import MAX_GROUP_DECISION, spread
from signoff.store import Store, TicketQuery
from signoff.store._records import ticket_to_json

__all__ = ["register"]

_STATUS_COLOURS = {"pending": "yellow", "approved": "green", "rejected": "red", "expired": "magenta",
                   "aborted": "magenta", "cancelled": "bright_black", "flagged": "red", "notified": "cyan",
                   "suggested": "blue", "done": "green", "dismissed": "bright_black"}


def register(group: click.Group) -> None:
    """Add ``tickets`` to ``group``."""
    group.add_command(tickets)


@click.group("tickets")
def tickets() -> None:
    """List, inspect and decide tickets in the review queue."""


@tickets.command("list")
@db_option
@click.option("--status", default="pending", show_default=True,
              help="A status, several separated by commas, or 'all'.")
@click.option("--kind", type=click.Choice(["approval", "notification", "suggestion"]))
@click.option("--agent")
@click.option("--action")
@click.option("--group", help="A group key (similar tickets decided together).")
@click.option("--batch", help="A batch id (tickets submitted together).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket, for scripts.")
@click.option("--in-doubt", "in_doubt", is_flag=True,
              help="Only approved tickets whose run never reported back (record them with record-run).")
@policy_option(required=False, purpose="for its flood guard settings (without it, the guard's defaults)")
def list_cmd(db: str, status: str, kind: str | None, agent: str | None, action: str | None, group: str | None,
             batch: str | None, limit: int, as_json: bool, in_doubt: bool, policy: str | None) -> None:
    """Tickets, oldest first (pending ones by default). Agents the flood guard flags (the policy's
    'defaults.flood_guard', its defaults without --policy) are named above the list."""
    statuses: str | tuple[str, ...] | None = None if status == "all" else tuple(s.strip() for s in status.split(","))
    query = TicketQuery(status=statuses, kind=kind, agent=agent, action=action, group=group, batch=batch,
                        limit=limit)
    if in_doubt:
        status = "in-doubt"

    with signoff_errors():
        guard = Policy.load(policy).spec.defaults.flood_guard if policy else FloodGuard()

    async def fetch(store: Store) -> tuple[list[Ticket], int, dict[str, Surge]]:
        since, recent = flood.windows(guard, utcnow())
        surging = flood.surges(await store.agent_activity(since, recent), guard) if not as_json else {}
        if in_doubt:
            doubts = await store.in_doubt(limit + 1)
            return doubts[:limit], len(doubts), surging
        return await store.list_tickets(query), await store.count_tickets(query), surging

    with signoff_errors():
        found, total, surging = run_store(db, fetch, existing=True)
    for s in surging.values():  # agent names are the agent's words: revealed
        click.echo(click.style("flood guard: ", fg="red", bold=True)
                   + reveal(f"agent {s.agent!r} is submitting far above its usual rate ({s.describe()}); "
                            "its tickets are held back from group approval", one_line=True), err=True)
    if as_json:
        for t in found:
            click.echo(_json_line(t))
        return
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}tickets")
        return
    now = utcnow()
    rows = []
    for t in found:
        due = span((t.deadline - now).total_seconds()) if t.deadline and t.status == "pending" else "-"
        needs = f"{len(t.approvals)}/{t.required_approvals}" if t.kind == "approval" else "-"
        why = ", ".join(f"{r.code}" + (f" ({r.rule})" if r.rule else "") for r in t.reasons) or ", ".join(t.rules)
        rows.append([t.id, "in doubt" if t.execution == "unknown" else t.status, t.action.name,
                     t.action.agent or "-", t.tier or "any", needs,
                     span((now - t.created_at).total_seconds()), due,
                     _flag_hidden(t) + reveal(why, one_line=True, max_len=60)])
    print_table(["ID", "STATUS", "ACTION", "AGENT", "TIER", "OK", "AGE", "DUE", "WHY"], rows,
                colours={1: _STATUS_COLOURS.get})
    if total > len(found):
        more = f"more than {len(found)}" if in_doubt else str(total)
        click.echo(f"({len(found)} of {more} shown; use --limit)")


def _json_line(t: Ticket) -> str:
    """The stored record as one line of JSON, ASCII only: a script gets the same value, and a
    terminal never receives a raw C1 control or bidi character from an agent."""
    return json.dumps(json.loads(ticket_to_json(t)), sort_keys=True, separators=(",", ":"))


def _agent_texts(t: Ticket) -> list[str]:
    """Everything the agent wrote, as text (values bounded: a ticket stored before the limits loads too)."""
    a = t.action
    return [a.name, a.agent, a.reasoning, *a.alternatives, *map(str, a.tags), t.group_key,
            json.dumps(bounded(dict(a.args)), ensure_ascii=False, default=str),
            json.dumps(bounded(dict(a.context)), ensure_ascii=False, default=str)]


def _flag_hidden(t: Ticket) -> str:
    return "[hidden chars] " if any(has_hidden(x) for x in _agent_texts(t)) else ""


def _one(text: object) -> str:
    return reveal(str(text), one_line=True)


def _key(key: object) -> str:
    """An argument name quoted like a string value: ``a=1, b`` as one key cannot pass for two."""
    return reveal(json.dumps(str(key), ensure_ascii=False), one_line=True)


@tickets.command("show")
@db_option
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True, help="The ticket as JSON.")
def show(db: str, ticket_id: str, as_json: bool) -> None:
    """Everything about one ticket: the action, why it needs a human, who decided, and its history."""

    async def fetch(store: Store) -> tuple[Ticket, Any, list[Any]]:
        t = await store.get_ticket(ticket_id)
        return t, await store.get_state(ticket_id), await store.audit_entries(ticket_id=ticket_id)

    with signoff_errors():
        t, state, history = run_store(db, fetch, existing=True)
    if as_json:
        click.echo(_json_line(t))
        return
    for line in render_ticket(t, state, history):
        click.echo(line)


def _label(text: str, *, pad: bool = True) -> str:
    return click.style(f"{text + ':':<13}" if pad else text + ":", bold=True)


def render_ticket(t: Ticket, state: Any, history: Sequence[Any]) -> list[str]:
    """The ``tickets show`` page, as lines (agent text revealed)."""
    a = t.action
    now = utcnow()
    out = [f"{_label('ticket')}{_one(t.id)}  {click.style(_one(t.status), fg=_STATUS_COLOURS.get(t.status), bold=True)}"
           f"  ({_one(t.kind)})"]
    out.append(f"{_label('action')}{_one(a.name)}")
    out.append(f"{_label('agent')}{_one(a.agent or '-')}")
    out.append(_label("arguments", pad=False))
    for k, v in sorted(a.args.items(), key=lambda kv: str(kv[0])):
        out.append(f"  {_key(k)} = {reveal_value(v, one_line=True)}")
    if t.edited_args is not None:
        out.append(_label("edited to", pad=False))
        for k, v in sorted(t.edited_args.items(), key=lambda kv: str(kv[0])):
            out.append(f"  {_key(k)} = {reveal_value(v, one_line=True)}")
    # What the agent says about its request is marked as its words, as in the inbox and every channel.
    if a.reasoning:
        out.append(_label(f"reasoning ({AGENT_WORDS})", pad=False))
        out.extend("  " + line for line in reveal(a.reasoning).splitlines())
    if a.confidence is not None:
        out.append(f"{_label('confidence')}{a.confidence:.2f} (the agent's own estimate)")
    if a.alternatives:
        out.append(_label(f"alternatives ({AGENT_WORDS})", pad=False))
        out.extend("  - " + reveal(x, one_line=True) for x in a.alternatives)
    if a.tags:
        out.append(f"{_label('tags')}" + ", ".join(_one(x) for x in sorted(a.tags, key=str)))
    if a.external:
        out.append(f"{_label('external')}yes")
    if a.context:
        out.append(_label(f"context ({AGENT_WORDS})", pad=False))
        for k, v in sorted(a.context.items(), key=lambda kv: str(kv[0])):
            out.append(f"  {_key(k)} = {reveal_value(v, one_line=True)}")
    if any(has_hidden(x) for x in _agent_texts(t)):
        out.append(click.style("warning: the agent's text contains hidden or control characters, shown as "
                               "<U+XXXX>", fg="red", bold=True))
    out.append(_label("why", pad=False))
    for r in t.reasons:
        out.append(f"  [{_one(r.code)}{' / ' + _one(r.rule) if r.rule else ''}] {_one(r.message)}")
    if t.kind == "approval":
        needs = f"{t.required_approvals} x {_one(t.tier or 'any tier')}"
        got = f"; approved so far by {_one(', '.join(t.approvals))}" if t.approvals and t.status == "pending" else ""
        out.append(f"{_label('reviewers')}{needs}{got}")
        if t.status == "pending" and t.deadline is not None:
            out.append(f"{_label('deadline')}{when(t.deadline)} (in {span((t.deadline - now).total_seconds())}), "
                       f"then {_one(t.on_timeout)}")
    out.append(f"{_label('submitted')}{when(t.created_at)}" + (f" in batch {_one(t.batch_id)}" if t.batch_id else ""))
    # The group key holds the action's name: the agent's words, revealed like them.
    out.append(f"{_label('group')}{_one(t.group_key)}")
    if t.decided_at is not None:
        who = f" by {_one(', '.join(t.decided_by))}" if t.decided_by else ""
        out.append(f"{_label('decided')}{when(t.decided_at)}{who}")
    if t.feedback:
        out.append(f"{_label('feedback')}{reveal(t.feedback, one_line=True)}")
    if t.explanation:
        out.append(f"{_label('explanation')}{reveal(t.explanation, one_line=True)}")
    if t.execution != "none":
        out.append(f"{_label('execution')}{_one(t.execution)}")
    if state is not None:
        out.append(f"{_label('state')}{_one(state.kind)}, {len(state.data):,} bytes")
    out.append(_label("history", pad=False))
    for e in history:
        detail = {k: v for k, v in e.data.items()
                  if k not in _HISTORY_SKIP and not (k == "deadline" and e.kind == "submitted")}
        extra = "".join(f" {_key(k)}={reveal_value(v, one_line=True, max_len=60)}"
                        for k, v in sorted(detail.items(), key=lambda kv: str(kv[0])))
        out.append(f"  {e.seq:>5}  {when(_parse(e.at))}  {_one(e.kind):<10} {_one(e.actor)}{extra}")
    return out


# Already shown above the history, or only useful to machines.
_HISTORY_SKIP = {"status", "digest", "group", "batch", "action", "agent", "level", "rules", "tier",
                 "approved_digest", "reviewer"}


def _parse(at: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(at)


def _reviewer_option(fn: Any) -> Any:
    return click.option("--as", "reviewer", envvar="SIGNOFF_REVIEWER", required=True, metavar="NAME",
                        help="The reviewer deciding (env SIGNOFF_REVIEWER); must exist in the store.")(fn)


def _targets(gate: Any, ticket_ids: Sequence[str], group: str | None, batch: str | None,
             verb: str, yes: bool) -> list[str]:
    """The tickets to decide. A ``--group`` or ``--batch`` is listed first, with how its members
    differ, and decided only once confirmed: a reviewer decides what they were shown, exactly."""
    if not ticket_ids and not group and not batch:
        fail("name ticket ids, or --group KEY, or --batch ID", 2)
    ids = list(ticket_ids)
    listed: list[Ticket] = []
    if group:
        listed += gate.list_tickets_sync(status="pending", group=group, limit=MAX_GROUP_DECISION + 1)
    if batch:
        listed += gate.list_tickets_sync(status="pending", batch=batch, limit=MAX_GROUP_DECISION + 1)
    if (group or batch) and not listed:
        fail(f"no pending tickets in {'group ' + group if group else 'batch ' + str(batch)}", 1)
    if len(listed) > MAX_GROUP_DECISION:
        fail(f"more than {MAX_GROUP_DECISION} pending tickets match; decide them by id or in the inbox", 2)
    if listed:
        for line in _summary(listed):
            click.echo(line)
        if not yes:
            if not _interactive():
                n = f"{len(listed)} ticket{'s' if len(listed) != 1 else ''}"
                fail(f"nothing decided: --group/--batch decides the {n} listed above only when confirmed; "
                     "run it in a terminal, or add --yes to decide exactly these", 2)
            if not click.confirm(f"{verb} {'these' if len(listed) != 1 else 'this'} {len(listed)}?", default=False):
                fail("nothing decided", 1)
        ids += [t.id for t in listed]
    return list(dict.fromkeys(ids))


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _summary(listed: Sequence[Ticket]) -> list[str]:
    """One line per ticket, then how the arguments differ across them (all text revealed)."""
    out = [f"{len(listed)} pending ticket{'s' if len(listed) != 1 else ''}:"]
    for t in listed:
        args = ", ".join(f"{_key(k)}={_one(json.dumps(bounded(v), ensure_ascii=False, default=str))}"
                         for k, v in t.action.args.items())
        out.append(f"  {t.id}  {_one(t.action.name)} by {_one(t.action.agent or '-')}  "
                   f"{reveal(args, one_line=True, max_len=120)}")
    varying = [s for s in spread([dict(bounded(dict(t.action.args))) for t in listed]) if s.varies]
    for s in varying:
        out.append(f"  differs: {s.path}: {s.text}")
    return out


def _open_gate(db: str, policy: str) -> Any:
    from signoff.gate import Gate

    return Gate.open(policy=policy, store=db, sweep=False)


@tickets.command("approve")
@db_option
@policy_option(required=True)
@_reviewer_option
@click.argument("ticket_ids", nargs=-1)
@click.option("--args", "args_json", metavar="JSON",
              help="Approve with these edited arguments (a JSON object); the policy checks them again.")
@click.option("--comment", default="", help="Words for the agent.")
@click.option("--group", help="Approve the pending tickets of this group (listed, then confirmed).")
@click.option("--batch", help="Approve the pending tickets of this batch (listed, then confirmed).")
@click.option("--yes", is_flag=True, help="With --group/--batch: decide the listed tickets without asking.")
def approve(db: str, policy: str, reviewer: str, ticket_ids: tuple[str, ...], args_json: str | None, comment: str,
            group: str | None, batch: str | None, yes: bool) -> None:
    """Approve tickets (optionally with edited arguments). Exit 1 if any could not be approved."""
    args = None
    if args_json is not None:
        try:
            args = json.loads(args_json)
        except json.JSONDecodeError as exc:
            fail(f"--args is not valid JSON: {exc}", 2)
        if not isinstance(args, dict):
            fail("--args must be a JSON object of argument names to values", 2)
    _decide(db, policy, ticket_ids, group, batch, "approve", yes, lambda g, tid: g.approve_sync(
        tid, reviewer=reviewer, args=args, comment=comment))


@tickets.command("reject")
@db_option
@policy_option(required=True)
@_reviewer_option
@click.argument("ticket_ids", nargs=-1)
@click.option("--feedback", default="", help="Words for the agent: why, and what to do instead.")
@click.option("--group", help="Reject the pending tickets of this group (listed, then confirmed).")
@click.option("--batch", help="Reject the pending tickets of this batch (listed, then confirmed).")
@click.option("--yes", is_flag=True, help="With --group/--batch: decide the listed tickets without asking.")
def reject(db: str, policy: str, reviewer: str, ticket_ids: tuple[str, ...], feedback: str, group: str | None,
           batch: str | None, yes: bool) -> None:
    """Reject tickets with feedback for the agent. Exit 1 if any could not be rejected."""
    _decide(db, policy, ticket_ids, group, batch, "reject", yes, lambda g, tid: g.reject_sync(
        tid, reviewer=reviewer, feedback=feedback))


@tickets.command("record-run")
@db_option
@policy_option(required=True)
@_reviewer_option
@click.argument("ticket_id")
@click.option("--outcome", required=True, type=click.Choice(["ran", "not_run", "reapprove"]),
              help="What happened to the run in doubt; reapprove is a new approval the agent must execute again.")
@click.option("--note", default="", help="What you checked (kept in the audit log).")
def record_run(db: str, policy: str, reviewer: str, ticket_id: str, outcome: str, note: str) -> None:
    """Record what happened to a run in doubt (its execution is 'unknown'). Exit 1 if refused."""
    from signoff._errors import SignoffError

    with signoff_errors():
        gate = _open_gate(db, policy)
    try:
        with decided_via("cli"):
            t = gate.record_execution_sync(ticket_id, reviewer=reviewer, outcome=outcome, note=note)
    except SignoffError as exc:
        fail(reveal(str(exc), one_line=True), 1)
    finally:
        gate.close()
    click.echo(f"{ticket_id}: recorded {outcome}; ticket {t.status}, execution {t.execution}")


def _decide(db: str, policy: str, ticket_ids: Sequence[str], group: str | None, batch: str | None,
            verb: str, yes: bool, decide: Any) -> None:
    from signoff._errors import SignoffError

    failures = 0
    with signoff_errors():
        gate = _open_gate(db, policy)
    try:
        with signoff_errors():
            ids = _targets(gate, ticket_ids, group, batch, verb, yes)
        for tid in ids:
            try:
                with decided_via("cli"):
                    t = decide(gate, tid)
            except SignoffError as exc:
                failures += 1
                click.echo(f"{click.style('refused', fg='red', bold=True)} {tid}: {reveal(str(exc), one_line=True)}",
                           err=True)
                continue
            if t.status == "pending":
                more = t.required_approvals - len(t.approvals)
                click.echo(f"{tid}: approval {len(t.approvals)} of {t.required_approvals} recorded; "
                           f"{more} more {t.tier or ''} reviewer{'s' if more > 1 else ''} needed".replace("  ", " "))
            else:
                edited = " with edited arguments" if t.edited_args is not None and t.status == "approved" else ""
                click.echo(f"{click.style(t.status, fg=_STATUS_COLOURS.get(t.status), bold=True)} {tid} "
                           f"({reveal(t.action.name, one_line=True)} by {reveal(t.action.agent or '-', one_line=True)})"
                           f"{edited}")
    finally:
        gate.close()
    if failures:
        raise SystemExit(1)
