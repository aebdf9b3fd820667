"""Shared fixtures for the framework adapters: one policy, a gate on a real SQLite file, a reviewer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import signoff

POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "rules": [
        {"name": "refunds-over-50", "match": {"action": "issue_refund"}, "when": "args.amount > 50.0",
         "level": "approve", "reason": "high_risk_action"},
        {"name": "account-closure", "match": {"action": "close_account"}, "level": "approve",
         "reason": "high_risk_action"},
        {"name": "no-data-deletion", "match": {"action": "delete_customer_data"}, "level": "deny",
         "reason": "policy_boundary"},
        {"name": "mail-feed", "match": {"action": "send_receipt"}, "level": "notify"},
    ],
}

NOVELTY_POLICY: dict[str, Any] = {
    "version": 1,
    "defaults": {"level": "auto"},
    "novelty": {"level": "approve", "key": ["action"]},
}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'signoff.db'}"


@pytest.fixture
def gate(db: str) -> Iterator[signoff.Gate]:
    g = signoff.Gate.open(policy=POLICY, store=db)
    g.add_reviewer("alice")
    try:
        yield g
    finally:
        g.close()
