"""``signoff reviewer``, ``signoff token`` and ``signoff mode``: the people, credentials and modes
kept in the store.

Passwords never appear on a command line (where ``ps`` and shell history would keep them):
they come from ``SIGNOFF_PASSWORD`` or a hidden prompt, and a run without a terminal and
without the variable stops with a clear error instead of hanging on a prompt. Tokens are
printed once and only their SHA-256 is stored.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from typing import Literal

import click

from signoff._errors import UserError
from signoff._model import utcnow
from signoff._text import reveal
from signoff._tokens import hash_token, new_token
from signoff.cli._db import db_option, fail, policy_option, print_table, run_store, signoff_errors
from signoff.store import Reviewer, Store, TokenRecord

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``reviewer``, ``token`` and ``mode`` to ``group``."""
    group.add_command(reviewer)
    group.add_command(token)
    group.add_command(mode)


def _actor() -> str:
    return os.environ.get("SIGNOFF_ACTOR") or getpass.getuser() or "admin"


# -- reviewers -------------------------------------------------------------------------------------

@click.group("reviewer")
def reviewer() -> None:
    """Add and list reviewers (people who decide tickets) and their tiers."""


def _password(name: str) -> str:
    env = os.environ.get("SIGNOFF_PASSWORD")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        fail(f"no password for {name!r}: set SIGNOFF_PASSWORD, or run in a terminal to be prompted", 2)
    first = click.prompt(f"password for {name}", hide_input=True)
    second = click.prompt("again", hide_input=True)
    if first != second:
        fail("the two passwords differ; nothing was changed", 2)
    return str(first)


@reviewer.command("add")
@db_option
@policy_option(required=False)
@click.argument("name")
@click.option("--tier", help="The reviewer's tier (one of the policy's tiers).")
@click.option("--no-password", is_flag=True, help="No inbox login: the reviewer uses the CLI or an API token.")
@click.option("--email", help="Their email address: the email channel's one-click links decide as this reviewer.")
@click.option("--slack-id", help="Their Slack user id (U123...): Slack buttons they press decide as this reviewer.")
def reviewer_add(db: str, policy: str | None, name: str, tier: str | None, no_password: bool,
                 email: str | None, slack_id: str | None) -> None:
    """Create reviewer NAME, or update their tier and password. The password comes from
    SIGNOFF_PASSWORD or a hidden prompt."""
    if not name.strip() or name != reveal(name, one_line=True):
        fail(f"bad reviewer name {reveal(name, one_line=True)!r}: use visible characters only", 2)
    if policy is not None and tier is not None:
        from signoff.policy import Policy

        with signoff_errors():
            tiers = Policy.load(policy).tiers
        if tier not in tiers:
            fail(f"unknown tier {tier!r}; {policy} defines {', '.join(tiers) or 'no tiers'}", 2)
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        fail(f"bad --email {reveal(email, one_line=True)!r}: expected an address like alice@example.com", 2)
    if slack_id is not None and not re.fullmatch(r"[UW][A-Z0-9]{2,}", slack_id):
        fail(f"bad --slack-id {reveal(slack_id, one_line=True)!r}: a Slack user id looks like U012AB3CD "
             "(in Slack: the member's profile, ⋮, Copy member ID)", 2)
    hashed = None
    if not no_password:
        from signoff._passwords import hash_password

        with signoff_errors():
            hashed = hash_password(_password(name))

    async def put(store: Store) -> bool:
        existed = await store.get_reviewer(name) is not None
        await store.put_reviewer(Reviewer(name=name, tier=tier, password_hash=hashed, email=email,
                                          slack_id=slack_id), actor=_actor())
        return existed

    with signoff_errors():
        existed = run_store(db, put)
    click.echo(f"{'updated' if existed else 'added'} reviewer {name} (tier {tier or 'none'})")


@reviewer.command("list")
@db_option
def reviewer_list(db: str) -> None:
    """Reviewers and their tiers."""

    async def fetch(store: Store) -> list[Reviewer]:
        return await store.list_reviewers()

    with signoff_errors():
        people = run_store(db, fetch, existing=True)
    if not people:
        click.echo("no reviewers; add one with `signoff reviewer add --db URL NAME --tier TIER`")
        return
    print_table(["NAME", "TIER", "LOGIN", "EMAIL", "SLACK", "STATE"],
                [[r.name, r.tier or "-", "password" if r.password_hash else "-", r.email or "-", r.slack_id or "-",
                  "disabled" if r.disabled else "active"] for r in people])


# -- tokens ----------------------------------------------------------------------------------------

@click.group("token")
def token() -> None:
    """Create API tokens for agents and reviewers (stored hashed; shown once)."""


@token.command("create")
@db_option
@click.option("--agent", "agent", metavar="NAME", help="A token an agent uses to submit and wait.")
@click.option("--reviewer", "reviewer_name", metavar="NAME", help="A token a reviewer uses to decide.")
def token_create(db: str, agent: str | None, reviewer_name: str | None) -> None:
    """Print a new token for an agent or a reviewer. Only its SHA-256 is stored: keep the token now."""
    if (agent is None) == (reviewer_name is None):
        fail("give exactly one of --agent NAME or --reviewer NAME", 2)
    kind: Literal["agent", "reviewer"] = "agent" if agent is not None else "reviewer"
    name = str(agent if agent is not None else reviewer_name)
    if not name.strip() or name != reveal(name, one_line=True):
        fail(f"bad {kind} name {reveal(name, one_line=True)!r}: use visible characters only", 2)
    secret = new_token(kind)

    async def put(store: Store) -> None:
        if kind == "reviewer" and await store.get_reviewer(name) is None:
            raise UserError(f"no reviewer {name!r}: add them first with `signoff reviewer add --db URL {name}`")
        await store.put_token(TokenRecord(token_hash=hash_token(secret), kind=kind, name=name,
                                          created_at=utcnow()))

    with signoff_errors():
        run_store(db, put)
    click.echo(f"new {kind} token for {name} (shown once; only its hash is stored):", err=True)
    click.echo(secret)


# -- modes -----------------------------------------------------------------------------------------

@click.group("mode")
def mode() -> None:
    """Show or switch the mode in force (e.g. incident); every gate on the store follows."""


@mode.command("show")
@db_option
def mode_show(db: str) -> None:
    """The mode in force, or 'none'."""

    async def get(store: Store) -> str | None:
        return await store.get_mode()

    with signoff_errors():
        current = run_store(db, get)
    click.echo(current or "none")


@mode.command("set")
@db_option
@policy_option(required=True)
@click.option("--as", "reviewer", envvar="SIGNOFF_REVIEWER", metavar="NAME",
              help="The reviewer switching (env SIGNOFF_REVIEWER): must be of the policy's top tier. "
                   "Without it, the operator at this terminal (SIGNOFF_ACTOR or the login name).")
@click.argument("name")
def mode_set(db: str, policy: str, reviewer: str | None, name: str) -> None:
    """Switch mode NAME on ('off' or 'none' switches modes off). Audited with who did it."""
    from signoff.gate import Gate
    from signoff.policy import Policy

    with signoff_errors():
        pol = Policy.load(policy)
    target = None if name in ("off", "none") else name
    if target is not None and target not in pol.modes:
        fail(f"unknown mode {name!r}; {policy} defines {', '.join(pol.modes) or 'no modes'}", 2)
    # Through the Gate, so a reviewer meets the same tier check as in the inbox and the API.
    with signoff_errors():
        gate = Gate.open(policy=pol, store=db, sweep=False)
    try:
        with signoff_errors():
            previous = gate.mode
            gate.set_mode(target, actor=_actor(), reviewer=reviewer or None)
    finally:
        gate.close()
    click.echo(f"mode: {previous or 'none'} -> {target or 'none'}")
