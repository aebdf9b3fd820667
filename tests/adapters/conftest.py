"""Shared fixtures for the framework adapters: one policy, a gate on a real SQLite file, a reviewer.

``gate`` is each adapter's GateLike twice over: a local ``Gate``, and the same store behind a
real ``signoff serve`` reached through ``RemoteGate``s (``tests/remote.py``), so every adapter
test also runs the way production agents do, in another process than the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.remote import local_or_remote

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


@pytest.fixture(params=["local", "remote"])
def gate(request: pytest.FixtureRequest, db: str, tmp_path: Path) -> Iterator[Any]:
    """A GateLike on ``db`` with reviewer alice: a local Gate, or a RemoteTeam over ``signoff serve``."""
    with local_or_remote(request.param, tmp_path, POLICY, db=db, reviewers={"alice": None}, operator="alice") as g:
        yield g
