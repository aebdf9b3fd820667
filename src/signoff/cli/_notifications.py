"""``signoff notifications list``: what was sent where, what is waiting, and what failed."""

from __future__ import annotations

import json

import click

from signoff._model import utcnow
from signoff._records import NotificationRecord
from signoff.cli._db import db_option, print_table, run_store, signoff_errors, span
from signoff.store import Store

__all__ = ["register"]

_STATUS_COLOURS = {"delivered": "green", "pending": "yellow", "failed": "red", "skipped": None}


def register(group: click.Group) -> None:
    """Add ``notifications`` to ``group``."""
    group.add_command(notifications)


@click.group("notifications")
def notifications() -> None:
    """The notification outbox: deliveries to Slack, email, webhooks and the console."""


@notifications.command("list")
@db_option
@click.option("--ticket", "ticket_id", help="Only this ticket's notifications.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed", "skipped"]))
@click.option("--channel", help="Only this channel (its name in the policy).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per notification, for scripts.")
def list_cmd(db: str, ticket_id: str | None, status: str | None, channel: str | None, limit: int,
             as_json: bool) -> None:
    """Notifications, newest first: when, what, to which channel, and how delivery went."""

    async def fetch(store: Store) -> list[NotificationRecord]:
        return await store.list_notifications(ticket_id=ticket_id, status=status, channel=channel, limit=limit)

    with signoff_errors():
        found = run_store(db, fetch, existing=True)
    if as_json:
        for n in found:
            click.echo(json.dumps(_as_dict(n), sort_keys=True, ensure_ascii=True))
        return
    if not found:
        click.echo("no notifications" + ("" if ticket_id is None else f" for ticket {ticket_id}")
                   + ("; does the policy have a notifications: section?" if not (status or channel) else ""))
        return
    now = utcnow()
    rows = []
    for n in found:
        if n.status == "pending":
            state = "due now" if n.due_at <= now else f"next try in {span((n.due_at - now).total_seconds())}"
        else:
            state = n.detail
        when = n.delivered_at or n.created_at
        rows.append([when.strftime("%Y-%m-%d %H:%M:%S"), n.event.removeprefix("ticket."), n.channel, n.ticket_id,
                     n.status, str(n.attempts), state if n.status != "pending" or not n.detail
                     else f"{state} (last: {n.detail})"])
    print_table(["WHEN (UTC)", "EVENT", "CHANNEL", "TICKET", "STATUS", "TRIES", "DETAIL"], rows,
                colours={4: _STATUS_COLOURS.get})


def _as_dict(n: NotificationRecord) -> dict[str, object]:
    return {"id": n.id, "event": n.event, "channel": n.channel, "ticket_id": n.ticket_id, "status": n.status,
            "attempts": n.attempts, "created_at": n.created_at.isoformat(), "due_at": n.due_at.isoformat(),
            "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None, "message_id": n.message_id,
            "detail": n.detail}
