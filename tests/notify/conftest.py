"""A real Gate (SQLite) with reviewers that have email addresses, and the server app around it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signoff import Action, Gate
from signoff._model import Ticket
from signoff.notify._links import GateLinks
from signoff.server import ServerSettings, create_app
from signoff.store._records import Reviewer

POLICY = """\
version: 1
defaults: {level: auto, timeout: 30m, on_timeout: escalate}
tiers: [junior, senior]
rules:
  - name: deploys
    match: {action: deploy}
    level: approve
    reason: high_risk_action
    message: Deploys need a person.
  - name: payments
    match: {action: pay}
    level: approve
    reason: high_risk_action
    reviewers: {tier: senior}
  - name: four-eyes
    match: {action: drop_table}
    level: approve
    reviewers: {count: 2}
"""
BASE = "http://testserver"
REVIEWERS = [Reviewer(name="alice", tier="senior", email="alice@example.com"),
             Reviewer(name="bob", tier="senior", email="bob@example.com"),
             Reviewer(name="jim", tier="junior", email="jim@example.com"),
             Reviewer(name="agent-7", tier="senior", email="agent7@example.com")]


@dataclass
class Site:
    gate: Gate
    settings: ServerSettings
    links: GateLinks
    client: httpx.AsyncClient

    async def submit(self, name: str = "deploy", **kw: object) -> Ticket:
        kw.setdefault("agent", "agent-7")
        kw.setdefault("args", {"service": "api"})
        return await self.gate.submit(Action(name=name, **kw))  # type: ignore[arg-type]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    gate = Gate.open(policy=tmp_path / "policy.yaml", store=f"sqlite:///{tmp_path}/n.db", sweep=False)
    for r in REVIEWERS:  # Gate.add_reviewer takes no email (yet): through the gate's engine, as its doors do
        await gate._engine.run(gate.store.put_reviewer(r))
    settings = ServerSettings(public_url=BASE)
    links = GateLinks(public_url=BASE, secret=settings.secret_key, gate=gate)
    app = create_app(gate, settings=settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield Site(gate, settings, links, client)
    await gate.aclose()
