"""The ``signoff`` command line: one module per command group, registered here."""

from __future__ import annotations

import click

from signoff.cli import (
    _admin,
    _allowances,
    _audit,
    _claude_code,
    _data,
    _demo,
    _mcp,
    _notifications,
    _policy,
    _serve,
    _tickets,
)

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="signoff")
def main() -> None:
    """signoff: a human-in-the-loop approval gate for AI agents."""


for _module in (_policy, _tickets, _admin, _audit, _data, _notifications, _serve, _demo, _mcp, _claude_code):
    _module.register(main)
_allowances.register(main)
