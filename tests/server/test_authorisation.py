"""Authorisation at the HTTP doors of a real `signoff serve`: mode switches need the top tier, and an
agent's idempotency keys are its own."""

from __future__ import annotations

import httpx
import pytest

import signoff
from signoff import Action, NotAuthorized
from tests.server.conftest import Server


def deploy(agent: str, version: str) -> Action:
    return Action(name="deploy_production", args={"version": version}, agent=agent, reasoning="release")


class TestModeSwitchOverHTTP:
    async def test_a_junior_token_gets_403_and_nothing_changes(self, server: Server) -> None:
        """PUT /api/v1/mode with a junior reviewer's token answers 403 naming the tier needed; the mode stays."""
        headers = {"Authorization": f"Bearer {server.token('reviewer', 'intern')}"}
        async with httpx.AsyncClient(base_url=server.url + "/api/v1", headers=headers) as http:
            refused = await http.put("/mode", json={"mode": "incident"})
            after = await http.get("/mode")
        assert (403, True, None) == (refused.status_code, "only a senior reviewer may switch modes"
                                     in refused.json()["detail"], after.json()["mode"])

    async def test_a_remote_gate_of_a_junior_raises_not_authorized(self, server: Server) -> None:
        """Gate.remote with a junior's token raises NotAuthorized, sync and async."""
        async with signoff.Gate.remote(server.url, token=server.token("reviewer", "intern")) as intern:
            with pytest.raises(NotAuthorized, match="senior"):
                await intern.set_mode_async("incident")
            assert None is await intern.get_mode()

    async def test_a_token_cannot_name_another_reviewer(self, server: Server) -> None:
        """A senior's token switching 'as' someone else is refused (the token's reviewer is the actor)."""
        async with signoff.Gate.remote(server.url, token=server.token("reviewer", "alice")) as alice:
            with pytest.raises(NotAuthorized, match="not 'bob'"):
                await alice.set_mode_async("incident", reviewer="bob")
            assert None is await alice.get_mode()


class TestIdempotencyKeysOverHTTP:
    async def test_another_agent_cannot_squat_a_key(self, server: Server) -> None:
        """Agent B submits first under agent A's key; A's submission with that key still makes A's own
        ticket (201), and repeating it returns the same one."""
        a_name, a_token = server.agent("victim")
        b_name, b_token = server.agent("squatter")
        async with signoff.Gate.remote(server.url, token=b_token) as b, \
                signoff.Gate.remote(server.url, token=a_token) as a:
            squat = await b.submit(deploy(b_name, "0.0.1"), idempotency_key="run-1/step-1")
            mine = await a.submit(deploy(a_name, "2.0.0"), idempotency_key="run-1/step-1")
            again = await a.submit(deploy(a_name, "2.0.0"), idempotency_key="run-1/step-1")
        assert (True, mine.id, a_name) == (squat.id != mine.id, again.id, again.action.agent)
