"""Execution binding: an approved action runs at most once, and exactly as approved."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from signoff import Action, AlreadyExecuted, Conflict, Expired, Gate, NotAuthorized, StoreUnavailable, _execution
from tests.contract.conftest import POLICY, REVIEWERS, audit_kinds
from tests.dropping_proxy import dropping_proxy
from tests.remote import RemoteTeam, serve

HANG = 15


def refund(amount: float = 50.0) -> Action:
    return Action(name="issue_refund", args={"order": "A-17", "amount": amount}, agent="support-bot",
                  reasoning="late")


async def approved_decision(gate: Gate, amount: float = 50.0, **approve: object) -> tuple[str, object]:
    t = await gate.submit(refund(amount))
    await gate.approve(t.id, reviewer="alice", **approve)  # type: ignore[arg-type]
    return t.id, await gate.wait(t.id, timeout=HANG)


class TestGated:
    async def test_runs_the_approved_action_once(self, gate: Gate, store_url: str) -> None:
        """A gated tool waits for approval, then runs once; the ticket records executing then executed."""
        calls: list[dict[str, object]] = []

        @gate.gated("issue_refund", agent="support-bot")
        async def issue_refund(order: str, amount: float) -> str:
            calls.append({"order": order, "amount": amount})
            return "ok"

        task = asyncio.create_task(issue_refund("A-17", 50.0))
        tid = await _pending(gate)
        await gate.approve(tid, reviewer="alice")
        result = await asyncio.wait_for(task, HANG)
        t = await gate.get_ticket(tid)
        assert ("ok", [{"order": "A-17", "amount": 50.0}], "executed") == (result, calls, t.execution)
        assert ["submitted", "approved", "executing", "executed"] == audit_kinds(store_url, tid)

    async def test_runs_with_the_reviewers_edit(self, gate: Gate) -> None:
        """The tool runs with the edited arguments, not the agent's."""
        calls: list[float] = []

        @gate.gated("issue_refund", agent="support-bot")
        def issue_refund(order: str, amount: float) -> None:
            calls.append(amount)

        task = asyncio.create_task(asyncio.to_thread(issue_refund, "A-17", 50.0))
        tid = await _pending(gate)
        await gate.approve(tid, reviewer="alice", args={"order": "A-17", "amount": 25.0})
        await asyncio.wait_for(task, HANG)
        assert [25.0] == calls

    async def test_a_failing_tool_records_failed(self, gate: Gate) -> None:
        """A tool that raises leaves the ticket 'failed' and the error propagates."""
        tid, decision = await approved_decision(gate)

        def boom(order: str, amount: float) -> None:
            raise RuntimeError("bank offline")

        with pytest.raises(RuntimeError, match="bank offline"):
            await gate.execute(decision, boom)  # type: ignore[arg-type]
        assert "failed" == (await gate.get_ticket(tid)).execution

    async def test_rejected_never_runs(self, gate: Gate) -> None:
        """execute refuses a decision that is not an approval."""
        t = await gate.submit(refund())
        await gate.reject(t.id, reviewer="alice")
        d = await gate.wait(t.id, timeout=HANG)
        ran: list[int] = []
        with pytest.raises(Exception, match="rejected"):
            await gate.execute(d, lambda **kw: ran.append(1))
        assert ([], "none") == (ran, (await gate.get_ticket(t.id)).execution)


class TestAtMostOnce:
    @pytest.mark.parametrize("outcome", ["ok", "error"])
    async def test_a_second_run_is_refused(self, gate: Gate, outcome: str) -> None:
        """Running the same approval again raises AlreadyExecuted, whether the first run worked or not."""
        _, decision = await approved_decision(gate)
        ran: list[int] = []

        def tool(order: str, amount: float) -> None:
            ran.append(1)
            if outcome == "error":
                raise RuntimeError("fail")

        try:
            await gate.execute(decision, tool)  # type: ignore[arg-type]
        except RuntimeError:
            pass
        with pytest.raises(AlreadyExecuted):
            await gate.execute(decision, tool)  # type: ignore[arg-type]
        assert [1] == ran

    async def test_a_second_run_from_another_gate_is_refused(self, gate: Gate, open_gate: object) -> None:
        """Another gate instance running the executed approval gets AlreadyExecuted."""
        _, decision = await approved_decision(gate)
        await gate.execute(decision, lambda **kw: None)  # type: ignore[arg-type]
        other = open_gate(reviewers=False)  # type: ignore[operator]
        with pytest.raises(AlreadyExecuted):
            await other.execute(decision, lambda **kw: None)

    async def test_sync_execute_is_at_most_once(self, gate: Gate) -> None:
        """execute_sync follows the same rule."""
        _, decision = await approved_decision(gate)
        ran: list[int] = []
        await asyncio.to_thread(gate.execute_sync, decision, lambda **kw: ran.append(1))  # type: ignore[arg-type]
        with pytest.raises(AlreadyExecuted):
            await asyncio.to_thread(gate.execute_sync, decision, lambda **kw: ran.append(1))  # type: ignore[arg-type]
        assert [1] == ran

    async def test_a_crashed_run_becomes_unknown(self, gate: Gate, store_url: str) -> None:
        """A claim left 'executing' by a process that died is marked 'unknown' and never re-run."""
        if store_url.startswith("memory://"):
            pytest.skip("an in-memory store lives in one process")
        tid, decision = await approved_decision(gate)
        script = textwrap.dedent(f"""
            import json, os, sys
            from signoff import Gate
            gate = Gate.open(policy=json.loads(sys.argv[1]), store={store_url!r})
            decision = gate.wait_sync({tid!r})
            gate.execute_sync(decision, lambda **kw: os._exit(3))  # dies mid-run
        """)
        proc = subprocess.run([sys.executable, "-c", script, json.dumps(POLICY)], capture_output=True,
                              timeout=60, text=True)
        assert 3 == proc.returncode, proc.stderr
        assert "executing" == (await gate.get_ticket(tid)).execution
        ran: list[int] = []
        with pytest.raises(AlreadyExecuted, match="human must check"):
            await gate.execute(decision, lambda **kw: ran.append(1))  # type: ignore[attr-defined]
        with pytest.raises(AlreadyExecuted):
            await gate.execute(decision, lambda **kw: ran.append(1))  # type: ignore[attr-defined]
        assert ([], "unknown") == (ran, (await gate.get_ticket(tid)).execution)
        assert "execution_unknown" in audit_kinds(store_url, tid)


    async def test_a_slow_run_outlives_the_doubt(self, gate: Gate, open_gate: object) -> None:
        """A second gate finding the run in progress marks it unknown and refuses; when the first run
        then finishes, its real outcome is recorded."""
        _, decision = await approved_decision(gate)
        other = open_gate(reviewers=False)  # type: ignore[operator]
        seen: list[str] = []

        def tool(order: str, amount: float) -> str:
            try:
                other.execute_sync(decision, lambda **kw: seen.append("second run"))
            except AlreadyExecuted:
                seen.append("refused")
            seen.append(gate.get_ticket_sync(decision.ticket_id).execution)  # type: ignore[attr-defined]
            return "done"

        result = await asyncio.to_thread(gate.execute_sync, decision, tool)  # type: ignore[arg-type]
        final = await gate.get_ticket(decision.ticket_id)  # type: ignore[attr-defined]
        assert ("done", ["refused", "unknown"], "executed") == (result, seen, final.execution)


class TestExecuteLease:
    async def test_execute_claims_with_the_callers_lease(self, gate: Gate) -> None:
        """``execute(..., lease=)`` holds the run for that long (here an hour, not the default 15 minutes)."""
        tid, decision = await approved_decision(gate)
        seen: list[object] = []

        async def tool(order: str, amount: float) -> None:
            t = await gate.get_ticket(tid)
            seen.append((t.execution, t.lease_until is not None and t.lease_until - t.decided_at))  # type: ignore[operator]

        await gate.execute(decision, tool, lease=3600)  # type: ignore[arg-type]
        (execution, held), = seen
        assert "executing" == execution
        assert timedelta(minutes=59) < held <= timedelta(hours=1, seconds=30)  # type: ignore[operator]


class TestBinding:
    async def test_a_different_action_is_refused(self, gate: Gate) -> None:
        """Running other arguments than the approved ones raises Conflict and runs nothing."""
        tid, decision = await approved_decision(gate)
        forged = dataclasses.replace(decision, action=decision.action.evolve(  # type: ignore[type-var]
            args={"order": "A-17", "amount": 9999.0}))
        ran: list[int] = []
        with pytest.raises(Conflict, match="differs"):
            await gate.execute(forged, lambda **kw: ran.append(1))
        assert ([], "none") == (ran, (await gate.get_ticket(tid)).execution)

    async def test_the_unedited_original_is_refused_after_an_edit(self, gate: Gate) -> None:
        """After an edit, running the agent's original arguments is refused."""
        tid, decision = await approved_decision(gate, args={"order": "A-17", "amount": 10.0})
        original = dataclasses.replace(decision, action=refund(50.0))  # type: ignore[type-var]
        with pytest.raises(Conflict):
            await gate.execute(original, lambda **kw: None)
        await gate.execute(decision, lambda **kw: None)  # type: ignore[arg-type]
        assert "executed" == (await gate.get_ticket(tid)).execution

    @pytest.mark.local_only("over HTTP another agent's ticket looks absent (NotFound)")
    async def test_another_agent_is_refused(self, gate: Gate) -> None:
        """The approval is bound to the agent that asked."""
        _, decision = await approved_decision(gate)
        other = dataclasses.replace(decision, action=decision.action.evolve(agent="other-bot"))  # type: ignore
        with pytest.raises(Conflict):
            await gate.execute(other, lambda **kw: None)

    async def test_an_expired_decision_never_runs(self, gate: Gate) -> None:
        """An aborted ticket's decision raises Expired on execute."""
        d = await asyncio.wait_for(gate.guard(Action(name="slow_abort", args={}, agent="bot")), HANG)
        with pytest.raises(Expired):
            await gate.execute(d, lambda **kw: None)


@pytest.mark.local_only("claims with a chosen id and lease are the local gate's doors")
class TestClaimIds:
    async def test_the_same_claim_id_is_answered_with_the_same_claim(self, gate: Gate, store_url: str) -> None:
        """A claim or a finish sent again with its claim id (its answer was lost) changes nothing and
        is answered as the first was: one 'executing' and one 'executed' in the audit."""
        tid, decision = await approved_decision(gate)
        first = await gate.claim_execution(tid, action=decision.action, claim_id="cl_a")  # type: ignore[attr-defined]
        again = await gate.claim_execution(tid, action=decision.action, claim_id="cl_a")  # type: ignore[attr-defined]
        done = await gate.finish_execution(tid, ok=True, claim_id="cl_a")
        done_again = await gate.finish_execution(tid, ok=True, claim_id="cl_a")
        assert (("executing", "cl_a"), first) == ((again.execution, again.claim_id), again)
        assert ("executed", "executed") == (done.execution, done_again.execution)
        assert ["submitted", "approved", "executing", "executed"] == audit_kinds(store_url, tid)

    @pytest.mark.parametrize("lost", ["executing", "executed"])
    async def test_a_write_committed_but_unanswered_is_retried_and_the_tool_runs_once(
            self, gate: Gate, store_url: str, monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
        """The store commits the claim (or the finish) and the answer is lost (the connection dropped
        after COMMIT): execute retries with the same claim id; the tool runs once, one claim, one finish."""
        tid, decision = await approved_decision(gate)
        monkeypatch.setattr(_execution, "RETRY_DELAYS", (0.0, 0.0))
        real, dropped = gate.store.update_ticket, []

        async def update_ticket(ticket_id: str, change: Any) -> Any:
            t = await real(ticket_id, change)
            if t.execution == lost and not dropped:
                dropped.append(ticket_id)
                raise StoreUnavailable("the connection dropped after COMMIT")
            return t

        monkeypatch.setattr(gate.store, "update_ticket", update_ticket)
        ran: list[int] = []
        assert "ok" == await gate.execute(decision, lambda **kw: ran.append(1) or "ok")  # type: ignore[arg-type]
        kinds = audit_kinds(store_url, tid)
        assert ([1], [tid], "executed") == (ran, dropped, (await gate.get_ticket(tid)).execution)
        assert (1, 1) == (kinds.count("executing"), kinds.count("executed"))

    async def test_another_claim_id_is_refused(self, gate: Gate) -> None:
        """Another attempt (another claim id), even from the same gate, gets AlreadyExecuted; the run goes on."""
        tid, decision = await approved_decision(gate)
        await gate.claim_execution(tid, action=decision.action, claim_id="cl_a")  # type: ignore[attr-defined]
        with pytest.raises(AlreadyExecuted):
            await gate.claim_execution(tid, action=decision.action, claim_id="cl_b")  # type: ignore[attr-defined]
        with pytest.raises(Conflict, match="another claim"):
            await gate.finish_execution(tid, ok=True, claim_id="cl_b")
        assert ("executing", "cl_a") == ((t := await gate.get_ticket(tid)).execution, t.claim_id)


async def _in_doubt(gate: Gate) -> tuple[str, object]:
    """An approved refund whose run was claimed with a tiny lease and swept past it: ``unknown``."""
    tid, decision = await approved_decision(gate)
    await gate.claim_execution(tid, action=decision.action, claim_id="cl_a", lease=0.01)  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    await gate.sweep()
    return tid, decision


@pytest.mark.local_only("claims with a chosen lease are the local gate's doors")
class TestLeases:
    async def test_a_run_past_its_lease_becomes_unknown_and_never_runs_again(self, gate: Gate, store_url: str) -> None:
        """No finish within the lease: the sweeper marks the run 'unknown' (audited); executing it again
        is refused and runs nothing; the same claim id retried late is refused too."""
        tid, decision = await _in_doubt(gate)
        ran: list[int] = []
        with pytest.raises(AlreadyExecuted):
            await gate.execute(decision, lambda **kw: ran.append(1))  # type: ignore[arg-type]
        with pytest.raises(AlreadyExecuted, match="no longer running"):
            await gate.claim_execution(tid, action=decision.action, claim_id="cl_a")  # type: ignore[attr-defined]
        t = await gate.get_ticket(tid)
        assert ([], "unknown", "approved") == (ran, t.execution, t.status)
        assert "did not report back within its lease" in t.explanation
        assert ["submitted", "approved", "executing", "execution_unknown"] == audit_kinds(store_url, tid)

    @pytest.mark.parametrize(("outcome", "execution"), [("ran", "executed"), ("not_run", "not_run")])
    async def test_a_reviewer_records_what_happened(self, gate: Gate, store_url: str, outcome: str,
                                                     execution: str) -> None:
        """'ran' or 'not_run', recorded by a reviewer of the ticket's tier, ends the doubt (audited); nothing runs."""
        tid, decision = await _in_doubt(gate)
        t = await gate.record_execution(tid, reviewer="alice", outcome=outcome, note="checked the bank")  # type: ignore[arg-type]
        assert (execution, "approved") == (t.execution, t.status)
        assert "execution_resolved" == audit_kinds(store_url, tid)[-1]
        with pytest.raises(AlreadyExecuted):
            await gate.execute(decision, lambda **kw: None)  # type: ignore[arg-type]
        with pytest.raises(Conflict, match="not in doubt"):
            await gate.record_execution(tid, reviewer="alice", outcome="ran")

    async def test_the_runs_in_doubt_are_listed_until_recorded(self, gate: Gate) -> None:
        """``runs_in_doubt`` (what the inbox shows) lists a run in doubt, oldest first, until a reviewer
        records it; runs still going or finished are not listed."""
        first, _ = await _in_doubt(gate)
        second, _ = await _in_doubt(gate)
        going, decision = await approved_decision(gate)
        await gate.claim_execution(going, action=decision.action)  # type: ignore[attr-defined]
        listed = [t.id for t in await gate.runs_in_doubt()]  # type: ignore[attr-defined]
        await gate.record_execution(first, reviewer="alice", outcome="ran")
        after = [t.id for t in await gate.runs_in_doubt()]  # type: ignore[attr-defined]
        assert ([first, second], [second]) == (listed, after)

    async def test_reapprove_is_a_new_approval_that_the_agent_runs_once(self, gate: Gate, store_url: str) -> None:
        """'reapprove' approves the action anew (never runs it by itself); the agent's next execute runs it once."""
        tid, _ = await _in_doubt(gate)
        t = await gate.record_execution(tid, reviewer="alice", outcome="reapprove")
        assert ("approved", "none", None) == (t.status, t.execution, t.claim_id)
        assert ["execution_resolved", "approved"] == audit_kinds(store_url, tid)[-2:]
        ran: list[int] = []
        decision = await gate.wait(tid, timeout=HANG)
        await gate.execute(decision, lambda **kw: ran.append(1))  # type: ignore[arg-type]
        with pytest.raises(AlreadyExecuted):
            await gate.execute(decision, lambda **kw: ran.append(1))  # type: ignore[arg-type]
        assert ([1], "executed") == (ran, (await gate.get_ticket(tid)).execution)

    async def test_recording_needs_the_tickets_tier(self, gate: Gate) -> None:
        """A big refund needs a senior: a junior may not record what happened to its run."""
        t = await gate.submit(refund(5000.0))
        await gate.approve(t.id, reviewer="bob")
        decision = await gate.wait(t.id, timeout=HANG)
        await gate.claim_execution(t.id, action=decision.action, lease=0.01)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        await gate.sweep()
        with pytest.raises(NotAuthorized, match="senior"):
            await gate.record_execution(t.id, reviewer="alice", outcome="ran")
        assert "executed" == (await gate.record_execution(t.id, reviewer="carol", outcome="ran")).execution

    async def test_a_late_finish_replaces_the_doubt(self, gate: Gate, store_url: str) -> None:
        """The run outlived its lease but reports back: its real outcome is recorded."""
        tid, _ = await _in_doubt(gate)
        t = await gate.finish_execution(tid, ok=True, claim_id="cl_a")
        assert "executed" == t.execution
        assert ["execution_unknown", "executed"] == audit_kinds(store_url, tid)[-2:]


class TestLostAnswers:
    """The server commits and its answer is lost (a proxy drops it): the retry is safe and says so."""

    @pytest.fixture
    def served(self, store_kind: str, store_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
        if store_kind == "memory":
            pytest.skip("an in-memory store lives in one process")
        (tmp_path / "served").mkdir()
        with serve(tmp_path / "served", POLICY, db=store_url, reviewers=REVIEWERS) as served:
            team = RemoteTeam(served, operator="dave")
            with dropping_proxy(served.url) as proxy:
                agent = Gate.remote(proxy.url, token=team.token("agent", "support-bot"))
                try:
                    yield served, proxy, agent, team
                finally:
                    agent.close()
                    team.close()

    @pytest.mark.parametrize("step", ["claim", "finish"])
    def test_the_action_runs_exactly_once(self, served: Any, store_url: str, step: str) -> None:
        """The claim's (or the finish's) answer is lost after the commit: the client retries with the
        same claim id, the tool runs once, the ticket ends 'executed' with one claim and one finish."""
        srv, proxy, agent, _ = served
        t = agent.submit_sync(refund())
        srv.setup.approve_sync(t.id, reviewer="alice")
        decision = agent.wait_sync(t.id, timeout=HANG)
        marker = f"POST /api/v1/tickets/{t.id}/execution/{step}"
        proxy.drop(marker)
        ran: list[int] = []
        assert "ok" == agent.execute_sync(decision, lambda **kw: ran.append(1) or "ok")
        kinds = audit_kinds(store_url, t.id)
        assert ([1], "executed", 2, 1) == (ran, srv.setup.get_ticket_sync(t.id).execution, proxy.seen[marker],
                                          proxy.dropped[marker])
        assert (1, 1) == (kinds.count("executing"), kinds.count("executed"))

    def test_an_unanswered_write_says_it_may_have_been_applied(self, served: Any) -> None:
        """A submission whose answer is lost: the error says it may have been applied (it was) and that
        retrying with the same idempotency key is safe (it is: the same ticket comes back)."""
        _, proxy, agent, _ = served
        proxy.drop("POST /api/v1/tickets HTTP")
        with pytest.raises(StoreUnavailable, match=r"may or may not have been applied.*idempotency key"):
            agent.submit_sync(refund(), idempotency_key="k-1")
        found = agent.find_ticket_sync(idempotency_key="k-1", agent="support-bot")
        again = agent.submit_sync(refund(), idempotency_key="k-1")
        assert found is not None and found.id == again.id

    def test_a_finish_never_answered_says_the_tool_ran(self, served: Any, store_url: str) -> None:
        """Every answer to the finish lost: the error says the tool ran (the server did record it, the
        caller could not know; retries of the same finish changed nothing)."""
        srv, proxy, agent, _ = served
        t = agent.submit_sync(refund())
        srv.setup.approve_sync(t.id, reviewer="alice")
        decision = agent.wait_sync(t.id, timeout=HANG)
        proxy.drop(f"POST /api/v1/tickets/{t.id}/execution/finish", times=99)
        with pytest.raises(StoreUnavailable, match="the tool RAN and completed"):
            agent.execute_sync(decision, lambda **kw: None)
        kinds = audit_kinds(store_url, t.id)
        assert ("executed", 1, 5) == (srv.setup.get_ticket_sync(t.id).execution, kinds.count("executed"),
                                      proxy.seen[f"POST /api/v1/tickets/{t.id}/execution/finish"])


class TestServedLeases:
    def test_the_server_marks_a_lapsed_run_unknown_and_a_reviewer_reapproves_over_http(
            self, store_kind: str, store_url: str, tmp_path: Path) -> None:
        """``signoff serve`` sweeps leases as it sweeps timeouts; a reviewer's token records 'reapprove'
        through the API; only the agent's next execute runs the action, once."""
        if store_kind == "memory":
            pytest.skip("an in-memory store lives in one process")
        (tmp_path / "served").mkdir()
        with serve(tmp_path / "served", POLICY, db=store_url, reviewers=REVIEWERS) as srv:
            team = RemoteTeam(srv, operator="dave")
            try:
                agent, alice = team.agent("support-bot"), team.reviewer("alice")
                t = agent.submit_sync(refund())
                alice.approve_sync(t.id)
                decision = agent.wait_sync(t.id, timeout=HANG)
                srv.setup.claim_execution_sync(t.id, action=decision.action, lease=0.2)
                for _ in range(HANG * 20):
                    if agent.get_ticket_sync(t.id).execution == "unknown":
                        break
                    time.sleep(0.05)
                assert "unknown" == agent.get_ticket_sync(t.id).execution
                assert [t.id] == [x.id for x in alice.runs_in_doubt_sync()]
                ran: list[int] = []
                with pytest.raises(AlreadyExecuted):
                    agent.execute_sync(decision, lambda **kw: ran.append(1))
                with pytest.raises(NotAuthorized):
                    alice.record_execution_sync(t.id, reviewer="bob", outcome="ran")  # not her token's name
                again = alice.record_execution_sync(t.id, outcome="reapprove", note="no refund in the ledger")
                agent.execute_sync(agent.wait_sync(t.id, timeout=HANG), lambda **kw: ran.append(1))
                assert (("approved", "none"), [1], []) == ((again.status, again.execution), ran,
                                                           alice.runs_in_doubt_sync())
                kinds = audit_kinds(store_url, t.id)
                assert ["execution_unknown", "execution_resolved", "approved", "executing", "executed"] == kinds[-5:]
            finally:
                team.close()


async def _pending(gate: Gate) -> str:
    for _ in range(HANG * 100):
        pending = await gate.list_tickets(status="pending")
        if pending:
            return pending[0].id
        await asyncio.sleep(0.01)
    raise AssertionError("no pending ticket appeared")
