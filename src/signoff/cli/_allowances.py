"""``signoff allowances list|allow|revoke``: standing approvals from a terminal, without the server.

Agent and action names are the agent's words: they go through ``signoff._text.reveal`` before
they reach the terminal. ``allow`` needs the policy (tiers, the ticket's rule); ``list`` and
``revoke`` only the store, so an allowance can be ended in a hurry with nothing else at hand.
"""

from __future__ import annotations

import json
from typing import Any

import click

from signoff._allowances import EXPIRIES, Allowance
from signoff._gate_allowances import listed, revoke_in
from signoff._model import utcnow
from signoff._text import reveal
from signoff.cli._db import db_option, fail, policy_option, print_table, run_store, signoff_errors, span
from signoff.store import Store

__all__ = ["register"]

_COLOURS = {"active": "green", "pending": "yellow", "expired": "magenta", "revoked": "bright_black"}


def register(group: click.Group) -> None:
    """Add ``allowances`` to ``group``."""
    group.add_command(allowances)


@click.group("allowances")
def allowances() -> None:
    """Standing approvals: what agents may repeat without asking."""


@allowances.command("list")
@db_option
@click.option("--all", "include_ended", is_flag=True, help="Revoked and expired ones too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per allowance, for scripts.")
def list_cmd(db: str, include_ended: bool, as_json: bool) -> None:
    """Standing (and pending) allowances, oldest first, with how many requests each let through (USES)
    and when it last did."""

    async def fetch(store: Store) -> list[Allowance]:
        return await listed(store, include_ended=include_ended)

    with signoff_errors():
        found = run_store(db, fetch, existing=True)
    now = utcnow()
    if as_json:
        for a in found:
            click.echo(json.dumps(a.to_dict(), sort_keys=True, separators=(",", ":")))  # ASCII: no raw controls
        return
    if not found:
        click.echo("no allowances" if include_ended
                   else "no allowances standing (--all lists revoked and expired ones)")
        return
    rows = []
    for a in found:
        status = a.status(now)
        if status in ("revoked", "expired"):
            left = "-"  # an ended allowance has no time left, whatever its expiry said
        elif a.expires_at is None:
            left = "until revoked"
        else:
            left = span(max(0.0, (a.expires_at - now).total_seconds()))
        used = "never" if a.last_used_at is None else span(max(0.0, (now - a.last_used_at).total_seconds())) + " ago"
        rows.append([a.id, status, reveal(a.action, one_line=True, max_len=40),
                     "any agent" if a.agent is None else reveal(a.agent, one_line=True, max_len=30),
                     reveal(a.condition or "-", one_line=True, max_len=60), f"{len(a.reviewers)}/{a.required}",
                     ", ".join(a.reviewers), left, str(a.uses or 0), used])
    print_table(["ID", "STATUS", "ACTION", "AGENT", "CONDITION", "GIVEN", "BY", "LEFT", "USES", "LAST USED"], rows,
                colours={1: _COLOURS.get})


@allowances.command("allow")
@db_option
@policy_option(required=True, purpose="for the tiers and the ticket's rule")
@click.option("--as", "reviewer", envvar="SIGNOFF_REVIEWER", required=True, metavar="NAME",
              help="The reviewer giving it (env SIGNOFF_REVIEWER); must exist in the store.")
@click.argument("ticket_id")
@click.option("--condition", help="CEL over args that must hold, e.g. 'args.amount <= 200.0'; without it, any "
              "arguments.")
@click.option("--expires", type=click.Choice(list(EXPIRIES)), default="1d", show_default=True,
              help="How long it stands (never: until revoked).")
@click.option("--any-agent", is_flag=True, help="Every agent, not only the ticket's (the top tier only).")
@click.option("--comment", default="", help="A note kept with the allowance (in its JSON).")
@click.option("--json", "as_json", is_flag=True, help="The allowance as one JSON object, for scripts.")
def allow(db: str, policy: str, reviewer: str, ticket_id: str, condition: str | None, expires: str,
          any_agent: bool, comment: str, as_json: bool) -> None:
    """Approve TICKET_ID (if pending) and let its agent repeat its action without asking."""
    from signoff.gate import Gate

    with signoff_errors():
        gate = Gate.open(policy=policy, store=db, sweep=False)
        try:
            made = gate.allow_sync(ticket_id, reviewer=reviewer, condition=condition, expires=expires,
                                   any_agent=any_agent, comment=comment)
        finally:
            gate.close()
    _show(made, as_json)


@allowances.command("revoke")
@db_option
@click.argument("allowance_id")
@click.option("--as", "reviewer", envvar="SIGNOFF_REVIEWER", metavar="NAME",
              help="The reviewer revoking it (recorded; must exist and be enabled); default: operator.")
@click.option("--json", "as_json", is_flag=True, help="The allowance as one JSON object, for scripts.")
def revoke(db: str, allowance_id: str, reviewer: str | None, as_json: bool) -> None:
    """End an allowance now: matching requests ask a human again."""

    async def run(store: Store) -> Allowance:
        actor = "operator"
        if reviewer is not None:
            rv = await store.get_reviewer(reviewer)
            if rv is None or rv.disabled:
                fail(f"reviewer {reviewer!r} {'is disabled' if rv else 'does not exist'}")
            actor = rv.name
        return await revoke_in(store, allowance_id, actor=actor)

    with signoff_errors():
        made = run_store(db, run, existing=True)
    _show(made, as_json)


def _show(a: Allowance, as_json: bool) -> None:
    data: dict[str, Any] = a.to_dict()
    if as_json:
        click.echo(json.dumps(data, sort_keys=True, separators=(",", ":")))
        return
    click.echo(f"{a.id} {a.status()}: {reveal(a.describe(), one_line=True)}")
    if a.status() == "pending":  # four eyes: say what makes it stand, or the reviewer waits for nothing
        more = a.required - len(a.reviewers)
        click.echo(f"  lets nothing through until {more} more reviewer{' gives' if more == 1 else 's give'} it: "
                   f"`signoff allowances allow {a.ticket_id or 'TICKET'}` with the same condition and scope, "
                   "or Confirm on the inbox's Allowances page")
