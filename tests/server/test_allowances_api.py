"""The allowance endpoints in-process (a real app on a real SQLite file): reviewer tokens only, the
token's own name, and bad input named (the rules themselves are the contract suite's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from signoff import Action, Gate, Level
from signoff.server import ServerSettings, create_app

POLICY = {"version": 1, "tiers": ["junior", "senior"],
          "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Gate, httpx.AsyncClient, str, str]]:
    gate = Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/allow.db", sweep=False)
    gate.add_reviewer("alice", tier="senior")
    reviewer = await gate.create_token("reviewer", "alice")
    agent = await gate.create_token("agent", "bot")
    transport = httpx.ASGITransport(app=create_app(gate, settings=ServerSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield gate, client, reviewer, agent
    await gate.aclose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_allow_list_revoke(api: tuple[Gate, httpx.AsyncClient, str, str]) -> None:
    gate, client, reviewer, _ = api
    ticket = await gate.submit(Action(name="deploy", agent="bot", args={"env": "staging"}))
    r = await client.post(f"/api/v1/tickets/{ticket.id}/allow", headers=auth(reviewer),
                          json={"condition": 'args.env == "staging"', "expires": "7d"})
    assert (200, "active", ["alice"]) == (r.status_code, r.json()["status"], r.json()["reviewers"])
    aid = r.json()["id"]
    assert Level.NOTIFY == gate.evaluate(Action(name="deploy", agent="bot", args={"env": "staging"})).level
    listed = await client.get("/api/v1/allowances", headers=auth(reviewer))
    assert [aid] == [a["id"] for a in listed.json()["allowances"]]
    r = await client.post(f"/api/v1/allowances/{aid}/revoke", headers=auth(reviewer), json={})
    assert (200, "revoked", "alice") == (r.status_code, r.json()["status"], r.json()["revoked_by"])
    assert [] == (await client.get("/api/v1/allowances", headers=auth(reviewer))).json()["allowances"]


async def test_refusals(api: tuple[Gate, httpx.AsyncClient, str, str]) -> None:
    """An agent token cannot allow (403), nor a reviewer token in another's name; a bad condition or
    expiry is a 422 naming it; an unknown allowance is a 404. Nothing was approved."""
    gate, client, reviewer, agent = api
    ticket = await gate.submit(Action(name="deploy", agent="bot"))
    url = f"/api/v1/tickets/{ticket.id}/allow"
    answers = [await client.post(url, headers=auth(agent), json={}),
               await client.post(url, headers=auth(reviewer), json={"reviewer": "mallory"}),
               await client.post(url, headers=auth(reviewer), json={"condition": "args.env =="}),
               await client.post(url, headers=auth(reviewer), json={"expires": "forever"}),
               await client.post("/api/v1/allowances/al_nope/revoke", headers=auth(reviewer), json={})]
    assert [403, 403, 422, 422, 404] == [r.status_code for r in answers]
    assert "column" in answers[2].text
    assert "pending" == (await gate.get_ticket(ticket.id)).status


async def test_listed_allowances_carry_their_uses(api: tuple[Gate, httpx.AsyncClient, str, str]) -> None:
    """GET /allowances adds uses and last_used_at (documented in the OpenAPI document); the record
    that allow returns is not counted, so it carries neither."""
    gate, client, reviewer, _ = api
    ticket = await gate.submit(Action(name="deploy", agent="bot", args={"env": "staging"}))
    made = (await client.post(f"/api/v1/tickets/{ticket.id}/allow", headers=auth(reviewer), json={})).json()
    assert ("uses" in made, "last_used_at" in made) == (False, False)
    listed = (await client.get("/api/v1/allowances", headers=auth(reviewer))).json()["allowances"]
    assert [(0, None)] == [(a["uses"], a["last_used_at"]) for a in listed]
    for _ in range(2):
        assert "notified" == (await gate.guard(Action(name="deploy", agent="bot", args={"env": "prod"}))).status
    [used] = (await client.get("/api/v1/allowances", headers=auth(reviewer))).json()["allowances"]
    assert (made["id"], 2, True) == (used["id"], used["uses"], used["last_used_at"].endswith("+00:00"))
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert {"uses", "last_used_at"} <= set(spec["components"]["schemas"]["AllowanceOut"]["properties"])
