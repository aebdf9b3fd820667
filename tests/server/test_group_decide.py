"""Deciding a group through the JSON API decides exactly the tickets the reviewer names, against a real server."""

from __future__ import annotations

from typing import Any

import httpx

import signoff
from signoff import Action, UserError
from signoff.client import RemoteGate
from tests.server.conftest import Server


def deploy(version: str, **extra: Any) -> Action:
    return Action(name="deploy_production", args={"service": "api", "version": version, **extra},
                  reasoning="tests are green on staging", confidence=0.9)


def remote(server: Server, kind: str, name: str) -> RemoteGate:
    gate = server.remote(kind, name)  # type: ignore[arg-type]
    assert isinstance(gate, RemoteGate)
    return gate


def shape(name: str) -> dict[str, bool]:
    """An argument shape no other test's tickets have, so the group holds only this test's tickets."""
    return {name.replace("-", "_"): True}


class TestGroupDecide:
    async def test_a_ticket_that_joined_after_the_reviewer_looked_is_not_decided(self, server: Server) -> None:
        """The reviewer saw three; a fourth joins the group; deciding the three leaves the fourth pending."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            seen = [await agent.submit(deploy(f"1.0.{i}", **shape(name))) for i in range(3)]
            key = seen[0].group_key
            shown = await alice.list_tickets(status="pending", group=key)
            late = await agent.submit(deploy("1.0.9", **shape(name)))
            result = await alice.decide_group(key, ticket_ids=[t.id for t in shown], approve=True)
            statuses = [(await agent.get_ticket(t.id)).status for t in [*seen, late]]
        assert (key, [t.id for t in seen], {}, ["approved"] * 3 + ["pending"]) == (
            late.group_key, [t.id for t in result.decided], result.failed, statuses)

    async def test_ids_outside_the_group_or_decided_are_refused_one_by_one(self, server: Server) -> None:
        """An id of another group, or one decided meanwhile, is listed in failed; the rest is decided."""
        name, token = server.agent()
        async with (signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice,
                    remote(server, "reviewer", "bob") as bob):
            ts = [await agent.submit(deploy(f"2.0.{i}", **shape(name))) for i in range(2)]
            other = await agent.submit(deploy("2.1.0", **shape(name), extra=1))
            await bob.reject(ts[1].id, feedback="not this one")
            res = await alice.decide_group(ts[0].group_key, ticket_ids=[ts[0].id, ts[1].id, other.id], approve=True)
            statuses = [(await agent.get_ticket(t.id)).status for t in [*ts, other]]
        assert ([ts[0].id], [ts[1].id, other.id], ["approved", "rejected", "pending"]) == (
            [t.id for t in res.decided], list(res.failed), statuses)
        assert "not in group" in res.failed[other.id]

    async def test_a_key_alone_decides_nothing(self, server: Server) -> None:
        """The old body without ticket_ids is refused with 422 naming the field, and nothing is decided."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            t = await agent.submit(deploy("3.0.0", **shape(name)))
            async with httpx.AsyncClient(base_url=server.url) as http:
                r = await http.post(f"/api/v1/groups/{t.group_key}/decide", json={"approve": True},
                                    headers={"Authorization": f"Bearer {server.token('reviewer', 'alice')}"})
            status = (await agent.get_ticket(t.id)).status
        assert (422, True, "pending") == (r.status_code, "ticket_ids" in r.text, status)

    async def test_an_empty_list_is_a_clear_error(self, server: Server) -> None:
        """ticket_ids=[] is refused: a group decision names at least one ticket."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            t = await agent.submit(deploy("4.0.0", **shape(name)))
            try:
                await alice.decide_group(t.group_key, ticket_ids=[], approve=True)
            except UserError as exc:
                err = str(exc)
            else:
                err = ""
            async with httpx.AsyncClient(base_url=server.url) as http:  # and the server refuses it too
                r = await http.post(f"/api/v1/groups/{t.group_key}/decide", json={"approve": True, "ticket_ids": []},
                                    headers={"Authorization": f"Bearer {server.token('reviewer', 'alice')}"})
            status = (await agent.get_ticket(t.id)).status
        assert (True, 422, True, "pending") == ("ticket_ids" in err, r.status_code, "ticket_ids" in r.text, status)
