"""``signoff audit verify|list`` and ``signoff insights``: the hash-chained log, and what the
history of decisions says about the policy.

``audit verify`` exits 0 with the number of entries when the chain holds, and 1 naming the
first bad entry after any edit, insertion or deletion (CI and cron jobs read the exit code).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from signoff._archives import read_archive, verify_series
from signoff._limits import bounded
from signoff._text import reveal, reveal_value
from signoff.cli._db import db_option, fail, policy_option, print_table, run_store, signoff_errors, when
from signoff.store import AuditEntry, Store, TicketQuery

__all__ = ["register"]

_DECIDED = ("approved", "rejected", "expired", "aborted", "cancelled")


def register(group: click.Group) -> None:
    """Add ``audit`` and ``insights`` to ``group``."""
    group.add_command(audit)
    group.add_command(insights)


@click.group("audit")
def audit() -> None:
    """Verify and read the audit log."""


@audit.command("verify")
@db_option
@click.option("--archive", "archives", multiple=True, type=click.Path(dir_okay=False, exists=True),
              metavar="FILE", help="Archives written by `signoff db archive`, oldest first: verified with "
              "the store as one chain from the first entry (repeat the option).")
def verify(db: str, archives: tuple[str, ...]) -> None:
    """Check the hash chain: exit 0 with the entry count, or 1 naming the first bad entry."""

    async def read(store: Store) -> tuple[list[AuditEntry], Any, Any]:
        return await store.audit_entries(), await store.audit_head(), await store.audit_base()

    with signoff_errors():
        files = [read_archive(a) for a in archives]
        entries, head, base = run_store(db, read, existing=True)
    result = verify_series(files, entries, base=base, head=head)
    if result.ok:
        archived = ""
        if base and not files:
            archived = f" (entries 1..{base[0]} are archived: pass the archives with --archive to verify them too)"
        click.echo(f"ok: {result.count} entries, hash chain verified{archived}")
        return
    fail(f"audit log broken at entry {result.first_bad}: {result.problem}", 1)


@audit.command("list")
@db_option
@click.option("--ticket", "ticket_id", help="Only this ticket's entries.")
@click.option("--kind", help="Only entries of this kind (submitted, approved, mode...).")
@click.option("--after", type=int, default=0, help="Entries after this sequence number.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
def list_entries(db: str, ticket_id: str | None, kind: str | None, after: int, limit: int, as_json: bool) -> None:
    """Audit entries, oldest first."""

    async def read(store: Store) -> list[AuditEntry]:
        # Filter by kind here, then limit: the store filters by ticket only.
        entries = await store.audit_entries(after=after, ticket_id=ticket_id, limit=None if kind else limit)
        return [e for e in entries if kind is None or e.kind == kind][:limit]

    with signoff_errors():
        entries = run_store(db, read, existing=True)
    if as_json:
        for e in entries:
            click.echo(json.dumps({"seq": e.seq, "at": e.at, "kind": e.kind, "ticket_id": e.ticket_id,
                                   "actor": e.actor, "data": bounded(dict(e.data)), "prev_hash": e.prev_hash,
                                   "hash": e.hash}, sort_keys=True))
        return
    if not entries:
        click.echo("no audit entries")
        return
    print_table(["SEQ", "AT", "KIND", "TICKET", "ACTOR", "DETAIL", "HASH"],
                [[str(e.seq), when(datetime.fromisoformat(e.at)), e.kind, e.ticket_id or "-", e.actor,
                  reveal_value(dict(e.data), one_line=True, max_len=70), e.hash[:12]] for e in entries])


@click.command("insights")
@db_option
@policy_option(required=False, purpose="to show each recommendation as a diff of it, replayed on the history")
@click.option("--min-volume", type=click.IntRange(1, None), default=20, show_default=True,
              help="Decisions a rule needs before signoff recommends a change.")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object, for scripts.")
def insights(db: str, policy: str | None, min_volume: int, as_json: bool) -> None:
    """Approval rates, time to decision, timeouts and edits per rule and per action, and what to change."""
    from signoff._shadow import shadow_report
    from signoff.cli._comparison import comparison_json, print_comparison
    from signoff.insights import QUICK_SECONDS, compute_insights, reviewer_stats, with_changes

    loaded = None
    if policy is not None:
        from signoff.policy import Policy

        with signoff_errors():
            loaded = Policy.load(policy)  # a bad policy is reported before the store is read

    async def read(store: Store) -> Any:
        return (await store.list_tickets(TicketQuery(kind="approval", status=_DECIDED, limit=10_000_000)),
                await store.audit_entries())

    with signoff_errors():
        decided, entries = run_store(db, read, existing=True)
    report = compute_insights(decided, min_volume=min_volume)
    if loaded is not None:
        report = with_changes(report, loaded, decided)  # each recommendation as a diff of the file
    shadow = shadow_report(entries, decided)
    reviewers = reviewer_stats(entries)
    if as_json:
        click.echo(json.dumps({
            "total": report.total,
            "rules": [_stat_json(s) for s in report.rules],
            "actions": [_stat_json(s) for s in report.actions],
            "recommendations": [{"rule": r.rule, "action": r.action, "level": r.suggest_level.value,
                                 "message": r.message, "change": r.change, "replay": r.replay}
                                for r in report.recommendations],
            "shadow": comparison_json(shadow) if shadow is not None else None,
            "reviewers": [{"name": r.name, "decisions": r.decisions, "approved": r.approved, "rejected": r.rejected,
                           "approval_rate": r.approval_rate, "median_seconds_open": r.median_seconds_open,
                           "timed": r.timed, "quick_approvals": r.quick_approvals,
                           "timed_approvals": r.timed_approvals, "quick_share": r.quick_share}
                          for r in reviewers],
        }, indent=2))
        return
    if shadow is not None:
        print_comparison(shadow, title=f"shadow policy {shadow.candidate}")
        click.echo()
    if not report.total:
        click.echo("no decided tickets yet")
        return
    click.echo(click.style(f"{report.total} decided requests", bold=True))
    for title, stats in (("per rule", report.rules), ("per action", report.actions)):
        click.echo()
        click.echo(click.style(title, bold=True))
        print_table(["NAME", "VOLUME", "APPROVED", "REJECTED", "RATE", "TO DECIDE", "TIMEOUTS", "EDITS"],
                    [[s.key, str(s.volume), str(s.approved), str(s.rejected), f"{s.approval_rate:.0%}",
                      _secs(s.median_seconds_to_decision), str(s.timeouts), str(s.edits)] for s in stats])
    if reviewers:
        click.echo()
        click.echo(click.style("per reviewer", bold=True)
                   + f"  (time open: from opening the ticket's page to deciding; quick: approved within "
                     f"{QUICK_SECONDS:g} s of opening it)")
        print_table(["REVIEWER", "DECISIONS", "APPROVED", "REJECTED", "RATE", "TIME OPEN", "TIMED", "QUICK"],
                    [[r.name, str(r.decisions), str(r.approved), str(r.rejected), f"{r.approval_rate:.0%}",
                      _secs(r.median_seconds_open), str(r.timed),
                      _quick(r.quick_share, r.quick_approvals, r.timed_approvals)] for r in reviewers])
    click.echo()
    click.echo(click.style("recommendations", bold=True))
    for r in report.recommendations:
        click.echo(f"  - {reveal(r.message, one_line=True)}")  # names the agent's actions
        if r.change:
            click.echo(f"    replayed on the decided requests: {r.replay}")
            for line in r.change.splitlines():
                colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
                click.echo("    " + (click.style(reveal(line), fg=colour) if colour else reveal(line)))
    if not report.recommendations:
        if any(s.approved + s.rejected >= min_volume for s in report.rules):
            click.echo(f"  none: no rule with {min_volume} decisions or more is approved at least 95% of the "
                       "time, always rejected or often edited, and no action often times out")
        else:
            click.echo(f"  none yet (a rule needs {min_volume} decisions before signoff suggests a change; "
                       "--min-volume sets it)")
    elif loaded is None and any(r.rule for r in report.recommendations):
        click.echo("  (pass --policy FILE to see each as a diff of the policy file, replayed on this history)")


def _quick(share: float | None, quick: int, timed: int) -> str:
    return "-" if share is None else f"{share:.0%} ({quick}/{timed})"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.0f}m"
    return f"{value / 3600:.1f}h"


def _stat_json(s: Any) -> dict[str, Any]:
    return {"key": s.key, "volume": s.volume, "approved": s.approved, "rejected": s.rejected,
            "approval_rate": s.approval_rate, "median_seconds_to_decision": s.median_seconds_to_decision,
            "timeouts": s.timeouts, "edits": s.edits}
