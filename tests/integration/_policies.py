"""Policies several integration tests share."""

from __future__ import annotations

__all__ = ["DEPLOYS"]

DEPLOYS = """\
version: 1
defaults: {level: auto, timeout: 30m, on_timeout: abort}
tiers: [senior]
rules:
  - name: deploys
    match: {action: deploy}
    level: approve
"""
"""Deploys wait for a person (any tier); everything else is auto."""
