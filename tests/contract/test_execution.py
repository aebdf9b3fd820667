"""Execution binding: an approved action runs at most once, and exactly as approved."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from signoff import Action, AlreadyExecuted, Conflict, Expired, Gate
from tests.contract.conftest import POLICY, audit_kinds

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


async def _pending(gate: Gate) -> str:
    for _ in range(HANG * 100):
        pending = await gate.list_tickets(status="pending")
        if pending:
            return pending[0].id
        await asyncio.sleep(0.01)
    raise AssertionError("no pending ticket appeared")
