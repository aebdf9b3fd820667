"""signoff policy check / signoff explain."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the policy commands to ``group``."""
