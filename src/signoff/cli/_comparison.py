"""A ``PolicyComparison`` at the terminal and as JSON: shared by ``signoff policy diff`` (replayed
history) and ``signoff insights`` (what a shadow policy saw), so both read the same."""

from __future__ import annotations

from typing import Any

import click

from signoff._shadow import PolicyComparison, comparison_to_dict
from signoff._text import reveal
from signoff.cli._db import print_table

__all__ = ["comparison_json", "print_comparison"]


def comparison_json(c: PolicyComparison) -> dict[str, Any]:
    return comparison_to_dict(c)


def print_comparison(c: PolicyComparison, *, title: str) -> None:
    click.echo(click.style(title, bold=True))
    click.echo(f"  {reveal(c.headline(), one_line=True)}")  # ticket ids only, but keep the habit
    if c.dropped:
        click.echo(f"  ({c.dropped} disagreements were counted but not itemised: the shadow buffer was full)")
    if c.rejected_ids:
        click.echo()
        click.echo(click.style("rejected by reviewers, let through by the candidate", bold=True))
        for tid in c.rejected_ids:
            click.echo(f"  {tid}")
    if c.transitions:
        click.echo()
        print_table(["FROM", "TO", "COUNT"], [[a, b, str(n)] for a, b, n in c.transitions])
    if c.changes:
        click.echo()
        # Action names are the agent's words: print_table reveals every cell.
        print_table(["ACTION", "NOW", "RULES NOW", "CANDIDATE", "RULES IN CANDIDATE", "COUNT"],
                    [[x.action, x.old_level, x.old_rules, x.new_level, x.new_rules, str(x.count)] for x in c.changes])
