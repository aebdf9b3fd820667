"""The ``signoff`` command line: one module per command group, registered here."""

from __future__ import annotations

import click

from signoff.cli import _policy

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="signoff")
def main() -> None:
    """signoff: a human-in-the-loop approval gate for AI agents."""


_policy.register(main)
