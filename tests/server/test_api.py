"""The JSON API through Gate.remote, against `signoff serve` running as a real process on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

import signoff
from signoff import Action, Conflict, NotAuthorized, NotFound, QuotaExceeded, StillPending, UserError
from signoff.client import RemoteGate
from tests.server.conftest import QUOTA, Server


def deploy(agent: str = "", version: str = "1.4.2", **extra: Any) -> Action:
    return Action(name="deploy_production", args={"service": "api", "version": version, **extra}, agent=agent,
                  reasoning="tests are green on staging", confidence=0.9, alternatives=["wait for Monday"])


def remote(server: Server, kind: str, name: str) -> RemoteGate:
    gate = server.remote(kind, name)  # type: ignore[arg-type]
    assert isinstance(gate, RemoteGate)
    return gate


class TestSubmitWaitDecide:
    async def test_waiting_agent_resumes_when_a_reviewer_approves(self, server: Server) -> None:
        """An agent waiting on a ticket gets the approval made by a reviewer through another client."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy())
            waiting = asyncio.ensure_future(agent.wait(ticket.id, timeout=30))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await alice.approve(ticket.id, comment="go")
            decision = await waiting
        assert ("approved", True, ("alice",), "go", name) == (
            decision.status, decision.approved, decision.reviewers, decision.feedback, decision.action.agent)

    async def test_rejection_feedback_reaches_the_agent(self, server: Server) -> None:
        """The reviewer's words come back as Decision.feedback, and Rejected carries them."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy())
            await alice.reject(ticket.id, feedback="use the staging DB first")
            decision = await agent.wait(ticket.id, timeout=10)
        assert ("rejected", False, "use the staging DB first") == (decision.status, decision.approved,
                                                                   decision.feedback)
        with pytest.raises(signoff.Rejected) as info:
            signoff.gate.raise_for(decision)
        assert "use the staging DB first" == info.value.feedback

    async def test_edited_arguments_reach_the_agent(self, server: Server) -> None:
        """Arguments edited by the reviewer are what the agent gets to run."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy(version="2.0.0"))
            await alice.approve(ticket.id, args={"service": "api", "version": "1.9.9"})
            decision = await agent.wait(ticket.id, timeout=10)
        assert ({"service": "api", "version": "1.9.9"}, True) == (decision.args, decision.edited)

    async def test_resume_returns_the_json_state(self, server: Server) -> None:
        """The state stored at submission comes back with the decision."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy(), state={"step": 7, "plan": ["a", "b"]})
            await alice.approve(ticket.id)
            decision, state = await agent.resume(ticket.id)
        assert ("approved", {"step": 7, "plan": ["a", "b"]}) == (decision.status, state)

    async def test_resume_returns_the_bytes_state(self, server: Server) -> None:
        """Bytes state (a framework's serialised run) travels as base64 and comes back as bytes."""
        _, token = server.agent()
        blob = bytes(range(256)) * 4
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy(), state=blob)
            await alice.reject(ticket.id, feedback="no")
            _, state = await agent.resume(ticket.id)
        assert blob == state

    async def test_wait_with_a_timeout_raises_still_pending(self, server: Server) -> None:
        """Nobody decides within the timeout: StillPending names the ticket, which stays pending."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            ticket = await agent.submit(deploy())
            with pytest.raises(StillPending) as info:
                await agent.wait(ticket.id, timeout=0.3)
            after = await agent.get_ticket(ticket.id)
        assert (ticket.id, "pending") == (info.value.ticket_id, after.status)  # type: ignore[attr-defined]

    async def test_guard_answers_at_once_when_no_human_is_needed(self, server: Server) -> None:
        """auto, notify, suggest and deny come back without a wait, as their decisions."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            auto = await agent.guard(Action(name="read_metrics"))
            notified = await agent.guard(Action(name="issue_refund", args={"amount": 50.0}))
            suggested = await agent.guard(Action(name="iam.grant", args={"role": "admin"}))
            denied = await agent.guard(Action(name="iam.create_root_key"))
        assert ["auto", "notified", "suggested", "denied"] == [
            d.status for d in (auto, notified, suggested, denied)]

    async def test_guard_waits_for_the_decision(self, server: Server) -> None:
        """guard submits an action that needs a human and returns once a reviewer decided."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            guarded = asyncio.ensure_future(agent.guard(deploy(), timeout=30))
            pending: list[signoff.Ticket] = []
            for _ in range(100):
                pending = await alice.list_tickets(status="pending", agent=name)
                if pending:
                    break
                await asyncio.sleep(0.05)
            await alice.approve(pending[0].id)
            decision = await guarded
        assert ("approved", pending[0].id) == (decision.status, decision.ticket_id)

    async def test_guard_with_a_timeout_raises_still_pending(self, server: Server) -> None:
        """guard(timeout=...) gives up like a local gate: StillPending, and the ticket stays pending."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            with pytest.raises(StillPending) as info:
                await agent.guard(deploy(), timeout=0.5)
            pending = await agent.list_tickets(status="pending")
        assert [info.value.ticket_id] == [t.id for t in pending]  # type: ignore[attr-defined]

    async def test_an_unreachable_server_fails_closed(self) -> None:
        """No server at the address: StoreUnavailable, so nothing that needs a human runs."""
        from tests.server.conftest import free_port

        async with signoff.Gate.remote(f"http://127.0.0.1:{free_port()}", token="so_agent_x") as agent:
            with pytest.raises(signoff.StoreUnavailable, match="cannot reach the signoff server"):
                await agent.guard(deploy())

    async def test_evaluate_runs_the_servers_policy(self, server: Server) -> None:
        """evaluate over HTTP gives the Outcome of the server's policy."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            outcome = await agent.evaluate_async(Action(name="send_payment", args={"amount": 5000}))
        assert (signoff.Level.APPROVE, ("payments", "big-payments"), "senior", 2) == (
            outcome.level, outcome.matched_rules, outcome.reviewers.tier, outcome.reviewers.count)

    def test_sync_twins_submit_decide_and_wait(self, server: Server) -> None:
        """The *_sync methods work from plain threads, with the same results."""
        _, token = server.agent()
        with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "bob") as bob:
            ticket = agent.submit_sync(deploy())
            result: list[signoff.Decision] = []
            waiter = threading.Thread(target=lambda: result.append(agent.wait_sync(ticket.id, timeout=30)))
            waiter.start()
            bob.approve_sync(ticket.id)
            waiter.join(30)
            outcome = agent.evaluate(deploy())
        assert ("approved", ("bob",), signoff.Level.APPROVE) == (result[0].status, result[0].reviewers,
                                                                 outcome.level)

    async def test_sync_twins_refuse_to_run_inside_an_event_loop(self, server: Server) -> None:
        """Like a local Gate, a blocking *_sync call inside a running loop is a UserError."""
        _, token = server.agent()
        with signoff.Gate.remote(server.url, token=token) as agent, pytest.raises(UserError):
            agent.submit_sync(deploy())


class TestGroupsAndBatches:
    async def test_a_group_of_similar_tickets_is_approved_at_once(self, server: Server) -> None:
        """Tickets with the same action, rules and argument shape share a group key and are decided together."""
        name, token = server.agent()
        shape = {name.replace("-", "_"): True}  # an argument shape no other test's tickets have
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            tickets = [await agent.submit(deploy(version=f"1.0.{i}", **shape)) for i in range(3)]
            result = await alice.decide_group(tickets[0].group_key, ticket_ids=[t.id for t in tickets], approve=True)
            statuses = [(await agent.get_ticket(t.id)).status for t in tickets]
        assert (1, 3, {}, ["approved"] * 3) == (len({t.group_key for t in tickets}), len(result.decided),
                                                result.failed, statuses)

    async def test_a_batch_is_rejected_with_feedback(self, server: Server) -> None:
        """submit_many makes one batch; rejecting the batch sends the feedback to each ticket."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            tickets = await agent.submit_many([deploy(version="3.0.0"), Action(name="send_payment",
                                                                              args={"amount": 10})])
            await alice.decide_batch(str(tickets[0].batch_id), approve=False, feedback="not this week")
            decisions = [await agent.wait(t.id, timeout=10) for t in tickets]
        assert (1, [("rejected", "not this week")] * 2) == (
            len({t.batch_id for t in tickets}), [(d.status, d.feedback) for d in decisions])

    async def test_decide_many_reports_the_tickets_it_could_not_decide(self, server: Server) -> None:
        """One ticket already decided fails on its own; the others are still decided."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            first, second = [await agent.submit(deploy(version=v)) for v in ("1", "2")]
            await alice.reject(first.id, feedback="no")
            result = await alice.decide_many([first.id, second.id], approve=True)
        assert ([second.id], [first.id]) == ([t.id for t in result.decided], list(result.failed))
        assert "already rejected" in result.failed[first.id]


class TestIdempotency:
    async def test_the_same_key_returns_the_same_ticket(self, server: Server) -> None:
        """A retried submission with the same idempotency key does not make a second ticket."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            a = await agent.submit(deploy(), idempotency_key=f"{name}/run-1/step-3")
            b = await agent.submit(deploy(), idempotency_key=f"{name}/run-1/step-3")
            listed = await agent.list_tickets()
        assert (a.id, 1) == (b.id, len(listed))

    async def test_the_same_key_for_another_action_is_a_conflict(self, server: Server) -> None:
        """Reusing a key for a different action is refused with Conflict (409)."""
        name, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            await agent.submit(deploy(), idempotency_key=f"{name}/k")
            with pytest.raises(Conflict):
                await agent.submit(deploy(version="9.9.9"), idempotency_key=f"{name}/k")


class TestQuota:
    async def test_submissions_beyond_the_pending_quota_get_429_and_are_audited(self, server: Server) -> None:
        """An agent at its pending quota is refused with QuotaExceeded (HTTP 429 + Retry-After), audited."""
        name, token = server.agent("flood")
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            for i in range(QUOTA):
                await agent.submit(deploy(version=f"0.{i}"))
            with pytest.raises(QuotaExceeded) as info:
                await agent.submit(deploy(version="one-too-many"))
            async with httpx.AsyncClient(base_url=server.url) as raw:
                resp = await raw.post("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"},
                                      json={"action": {"name": "deploy_production", "reasoning": "x"}})
            entries = await server_audit(alice)
        assert (429, "application/problem+json", True) == (
            resp.status_code, resp.headers["content-type"], resp.headers["retry-after"].isdigit())
        assert f"agent {name!r} already has {QUOTA} pending tickets" in str(info.value)
        assert any(e["kind"] == "quota_exceeded" and e["actor"] == name for e in entries)


async def server_audit(reviewer: RemoteGate) -> list[dict[str, Any]]:
    """Every audit entry, read page by page through the API."""
    out: list[dict[str, Any]] = []
    after = 0
    client = reviewer._async_client()
    while True:
        page = (await client.get("/audit", params={"after": after, "limit": 1000})).json()
        out += page["entries"]
        if page["next_after"] is None:
            return out
        after = page["next_after"]


class TestAuthorisation:
    async def test_an_agent_token_sees_only_its_own_agents_tickets(self, server: Server) -> None:
        """Another agent's ticket is absent for an agent token: not listed, 404 on read and wait."""
        _, token_a = server.agent()
        name_b, token_b = server.agent()
        async with signoff.Gate.remote(server.url, token=token_a) as a, \
                signoff.Gate.remote(server.url, token=token_b) as b:
            theirs = await b.submit(deploy())
            listed = await a.list_tickets()
            with pytest.raises(NotFound):
                await a.get_ticket(theirs.id)
            with pytest.raises(NotFound):
                await a.wait(theirs.id, timeout=1)
            with pytest.raises(NotAuthorized):
                await a.list_tickets(agent=name_b)
        assert [] == listed

    async def test_an_agent_token_cannot_act_as_another_agent(self, server: Server) -> None:
        """Submitting with a different `agent` than the token's is refused (403)."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            with pytest.raises(NotAuthorized, match="cannot act as 'someone-else'"):
                await agent.submit(deploy(agent="someone-else"))

    async def test_reviewer_endpoints_refuse_agent_tokens(self, server: Server) -> None:
        """An agent token cannot approve, even its own ticket, nor switch modes (403)."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent:
            ticket = await agent.submit(deploy())
            with pytest.raises(NotAuthorized, match="for reviewers"):
                await agent.approve(ticket.id)
            with pytest.raises(NotAuthorized):
                await agent.set_mode_async("incident")
            after = await agent.get_ticket(ticket.id)
        assert "pending" == after.status

    async def test_agent_endpoints_refuse_reviewer_tokens(self, server: Server) -> None:
        """A reviewer token cannot submit (403)."""
        async with remote(server, "reviewer", "alice") as alice:
            with pytest.raises(NotAuthorized, match="for agents"):
                await alice.submit(deploy())

    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer so_agent_not-a-real-token"},
                                         {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="}])
    async def test_missing_or_wrong_credentials_get_401_and_no_data(self, server: Server,
                                                                    headers: dict[str, str]) -> None:
        """No token, an unknown token or another scheme: 401 problem+json naming no ticket."""
        async with httpx.AsyncClient(base_url=server.url) as raw:
            resp = await raw.get("/api/v1/tickets", headers=headers)
        body = resp.json()
        assert (401, "application/problem+json", "NotAuthorized", False, True) == (
            resp.status_code, resp.headers["content-type"], body["error"], "tickets" in body,
            resp.headers["www-authenticate"].startswith("Bearer"))

    async def test_a_wrong_token_raises_not_authorized_in_the_client(self, server: Server) -> None:
        """Gate.remote turns the 401 into NotAuthorized."""
        async with signoff.Gate.remote(server.url, token="so_rev_wrong") as gate:
            with pytest.raises(NotAuthorized, match="token is not valid"):
                await gate.list_tickets()

    async def test_a_junior_cannot_approve_a_senior_ticket(self, server: Server) -> None:
        """The tier check of the gate applies over HTTP: 403 and the ticket stays pending."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, \
                remote(server, "reviewer", "intern") as intern:
            ticket = await agent.submit(Action(name="send_payment", args={"amount": 300}, reasoning="invoice 7"))
            with pytest.raises(NotAuthorized, match="needs a senior reviewer"):
                await intern.approve(ticket.id)
            after = await agent.get_ticket(ticket.id)
        assert ("senior", "pending") == (ticket.tier, after.status)

    async def test_a_reviewer_token_cannot_decide_as_someone_else(self, server: Server) -> None:
        """reviewer= must name the token's own reviewer."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy())
            with pytest.raises(NotAuthorized, match="not 'bob'"):
                await alice.approve(ticket.id, reviewer="bob")

    async def test_four_eyes_needs_two_distinct_seniors(self, server: Server) -> None:
        """A big payment stays pending after one approval and is approved after a second reviewer's."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, \
                remote(server, "reviewer", "alice") as alice, remote(server, "reviewer", "bob") as bob:
            ticket = await agent.submit(Action(name="send_payment", args={"amount": 5000}, reasoning="big invoice"))
            after_one = await alice.approve(ticket.id)
            with pytest.raises(NotAuthorized, match="already approved"):
                await alice.approve(ticket.id)
            after_two = await bob.approve(ticket.id)
        assert (2, "pending", "approved", ("alice", "bob")) == (
            ticket.required_approvals, after_one.status, after_two.status, after_two.decided_by)


class TestProblemDetails:
    async def test_an_unknown_ticket_is_a_404_that_names_it(self, server: Server) -> None:
        """The detail says which ticket does not exist."""
        async with httpx.AsyncClient(base_url=server.url) as raw:
            resp = await raw.get("/api/v1/tickets/tk_nope",
                                 headers={"Authorization": f"Bearer {server.token('reviewer', 'alice')}"})
        body = resp.json()
        assert (404, "NotFound", "no ticket 'tk_nope'", "/api/v1/tickets/tk_nope") == (
            resp.status_code, body["error"], body["detail"], body["instance"])

    async def test_a_second_decision_is_a_409_conflict(self, server: Server) -> None:
        """Deciding a decided ticket is refused with Conflict, never overwritten."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, \
                remote(server, "reviewer", "alice") as alice, remote(server, "reviewer", "bob") as bob:
            ticket = await agent.submit(deploy())
            await alice.approve(ticket.id)
            with pytest.raises(Conflict, match="already approved"):
                await bob.reject(ticket.id, feedback="too late")
            final = await agent.get_ticket(ticket.id)
        assert ("approved", ("alice",)) == (final.status, final.decided_by)

    @pytest.mark.parametrize(("body", "where"), [
        ({"action": {"name": "deploy_production", "confidence": 2}}, "body.action.confidence"),
        ({"action": {"args": {}}}, "body.action.name"),
        ({"action": {"name": "x", "bogus": 1}}, "body.action.bogus"),
        ({"action": {"name": "x"}, "state": 1, "state_b64": "AA=="}, "not both"),
        ({"action": {"name": "x"}, "state_b64": "***"}, "not valid base64"),
    ])
    async def test_invalid_bodies_get_422_saying_what_is_wrong(self, server: Server, body: dict[str, Any],
                                                               where: str) -> None:
        """Validation errors are 422 problem+json whose detail names the field."""
        _, token = server.agent()
        async with httpx.AsyncClient(base_url=server.url) as raw:
            resp = await raw.post("/api/v1/tickets", json=body, headers={"Authorization": f"Bearer {token}"})
        assert (422, "application/problem+json") == (resp.status_code, resp.headers["content-type"])
        assert where in resp.json()["detail"]

    async def test_a_body_that_is_not_json_gets_422(self, server: Server) -> None:
        """Broken JSON (here a lone surrogate, which cannot be stored) is a 422, not a crash."""
        _, token = server.agent()
        async with httpx.AsyncClient(base_url=server.url) as raw:
            resp = await raw.post("/api/v1/tickets", content=b'{"action": {"name": "\\ud800"}}',
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert (422, "UserError") == (resp.status_code, resp.json()["error"])
        assert "not valid JSON" in resp.json()["detail"]

    async def test_a_body_larger_than_the_server_takes_gets_413(self, server: Server) -> None:
        """A declared body over the limit (8 MiB) is refused before it is read."""
        _, token = server.agent()
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"POST /api/v1/tickets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {9 * 1024 * 1024}\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.close()
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"application/problem+json" in head.lower()

    async def test_a_chunked_body_over_the_limit_gets_413(self, server: Server) -> None:
        """Without a Content-Length, the body is counted as it streams in and refused past the limit."""
        _, token = server.agent()
        chunk = b"x" * (1024 * 1024)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as raw:
            async def body() -> Any:
                for _ in range(9):
                    yield chunk

            resp = await raw.post("/api/v1/tickets", content=body(),
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert (413, "application/problem+json") == (resp.status_code, resp.headers["content-type"])

    async def test_an_unknown_mode_is_a_user_error(self, server: Server) -> None:
        """The detail lists the modes the policy defines."""
        async with remote(server, "reviewer", "alice") as alice:
            with pytest.raises(UserError, match="incident"):
                await alice.set_mode_async("panic")


class TestFeedsModeInsightsAudit:
    async def test_a_notified_action_can_be_flagged(self, server: Server) -> None:
        """A refund within policy runs under notify; a reviewer flags it with a note."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            decision = await agent.guard(Action(name="issue_refund", args={"amount": 20.0}))
            flagged = await alice.flag(str(decision.ticket_id), note="check the order")
        assert ("notified", "flagged", "check the order") == (decision.status, flagged.status, flagged.feedback)

    async def test_suggestions_are_marked_done_or_dismissed(self, server: Server) -> None:
        """IAM changes are suggestions; a human marks one done and dismisses another."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            one = await agent.guard(Action(name="iam.grant", args={"role": "viewer"}))
            two = await agent.guard(Action(name="iam.grant", args={"role": "owner"}))
            done = await alice.resolve_suggestion(str(one.ticket_id), done=True, note="granted by hand")
            dismissed = await alice.resolve_suggestion(str(two.ticket_id), done=False)
        assert ("done", "dismissed") == (done.status, dismissed.status)

    async def test_the_mode_switch_is_seen_and_audited(self, server: Server) -> None:
        """PUT /mode switches the server's mode; the audit log records who did it."""
        async with remote(server, "reviewer", "bob") as bob:
            await bob.set_mode_async("incident")
            during = await bob.get_mode()
            await bob.set_mode_async(None)
            after = await bob.get_mode()
            entries = await server_audit(bob)
        modes = [(e["actor"], e["data"]["mode"]) for e in entries if e["kind"] == "mode"]
        assert ("incident", None) == (during, after)
        assert [("bob", "incident"), ("bob", None)] == modes[-2:]

    async def test_insights_and_audit_verification(self, server: Server) -> None:
        """Insights count decided tickets per rule; the audit chain verifies."""
        _, token = server.agent()
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            ticket = await agent.submit(deploy())
            await alice.approve(ticket.id)
            report = await alice.insights(min_volume=1)
            verified = await alice.verify_audit()
        rules = {s.key: s for s in report.rules}
        assert (True, True) == (verified.ok, rules["prod-deploys"].approved >= 1)


class TestExecution:
    async def test_a_gated_tool_runs_once_with_the_edited_arguments(self, server: Server) -> None:
        """gated() over HTTP: the tool runs after approval, with the reviewer's arguments, at most once."""
        name, token = server.agent()
        calls: list[dict[str, Any]] = []
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            @agent.gated("deploy_production")
            async def deploy_production(service: str, version: str) -> str:
                calls.append({"service": service, "version": version})
                return f"deployed {version}"

            with signoff.intent("staging is green", confidence=0.95):
                running = asyncio.ensure_future(deploy_production("api", "5.0.0"))
            pending: list[signoff.Ticket] = []
            for _ in range(100):
                pending = await alice.list_tickets(status="pending", agent=name)
                if pending:
                    break
                await asyncio.sleep(0.05)
            await alice.approve(pending[0].id, args={"service": "api", "version": "4.9.1"})
            result = await running
            decision = await agent.wait(pending[0].id)
            with pytest.raises(signoff.AlreadyExecuted):
                await agent.execute(decision, deploy_production.__wrapped__)  # type: ignore[attr-defined]
            final = await agent.get_ticket(pending[0].id)
        assert ("deployed 4.9.1", [{"service": "api", "version": "4.9.1"}], "executed") == (
            result, calls, final.execution)


class TestEvents:
    async def test_the_event_stream_shows_a_submission_and_its_decision(self, server: Server) -> None:
        """GET /events streams committed changes: the submission and the approval of a new ticket."""
        _, token = server.agent()
        rtoken = server.token("reviewer", "alice")
        seen: list[tuple[str, str]] = []
        async with signoff.Gate.remote(server.url, token=token) as agent, \
                remote(server, "reviewer", "alice") as alice, \
                httpx.AsyncClient(base_url=server.url, timeout=30) as raw, \
                raw.stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {rtoken}"}) as stream:
            ticket = await agent.submit(deploy())
            await alice.approve(ticket.id)
            kind = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and ticket.id in line:
                    seen.append((kind, ticket.id))
                    if kind == "approved":
                        break
        assert [("submitted", ticket.id), ("approved", ticket.id)] == seen

    async def test_a_reconnecting_client_gets_what_it_missed(self, server: Server) -> None:
        """With Last-Event-ID, the stream first replays the changes after that event from the audit log."""
        _, token = server.agent()
        rtoken = server.token("reviewer", "alice")
        async with signoff.Gate.remote(server.url, token=token) as agent, remote(server, "reviewer", "alice") as alice:
            before = (await server_audit(alice))[-1]["seq"]
            ticket = await agent.submit(deploy())
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as raw, \
                    raw.stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {rtoken}",
                                                                  "Last-Event-ID": str(before)}) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: ") and ticket.id in line:
                        break
        assert '"kind":"submitted"' in line


class TestOpenAPI:
    async def test_the_document_and_docs_live_under_api_v1_only(self, server: Server) -> None:
        """/api/v1/openapi.json and /api/v1/docs answer; /openapi.json and /docs do not exist."""
        async with httpx.AsyncClient(base_url=server.url) as raw:
            spec = await raw.get("/api/v1/openapi.json")
            docs = await raw.get("/api/v1/docs")
            root_spec = await raw.get("/openapi.json")
            root_docs = await raw.get("/docs")
        paths = spec.json()["paths"]
        assert (200, 200, 404, 404) == (spec.status_code, docs.status_code, root_spec.status_code,
                                        root_docs.status_code)
        assert {"/api/v1/tickets", "/api/v1/tickets/{ticket_id}/wait", "/api/v1/events"} <= set(paths)
        assert "/api/v1/tickets/{ticket_id}/approve" in docs.text and "<script" not in docs.text
