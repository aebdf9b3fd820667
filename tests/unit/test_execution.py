"""``signoff._execution``: claim, run, finish written once, and its two drivers agree step by step.

The I/O (claim, finish) is recorded here instead of going to a store or a server; the
contract suite runs the same flow through a local Gate and a RemoteGate.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

import signoff
from signoff._execution import drive, drive_sync, execution_flow

ACTION = signoff.Action(name="issue_refund", args={"amount": 90.0})


def approved(ticket_id: str | None = "tk_1", status: str = "approved") -> signoff.Decision:
    return signoff.Decision(status=status, approved=status != "rejected", action=ACTION,  # type: ignore[arg-type]
                            ticket_id=ticket_id)


class Recorder:
    """Claims and finishes recorded in order; the claim answers a ticket in state ``execution``."""

    def __init__(self, execution: str = "executing") -> None:
        self.steps: list[tuple[Any, ...]] = []
        self.execution = execution

    def claim(self, tid: str, action: signoff.Action) -> Any:
        self.steps.append(("claim", tid, action.name))
        return SimpleNamespace(execution=self.execution, explanation="claimed by another instance")

    def finish(self, tid: str, ok: bool, error: str) -> Any:
        self.steps.append(("finish", tid, ok, error))
        return SimpleNamespace(execution="executed" if ok else "failed")

    def tool(self, fail: bool = False) -> Any:
        def fn(amount: float) -> str:
            self.steps.append(("run", amount))
            if fail:
                raise ValueError("card declined")
            return f"refunded {amount}"

        return fn


def run(driver: str, decision: signoff.Decision, rec: Recorder, fn: Any) -> Any:
    """Run the flow with the sync driver, or the async one (async claim/finish around the same recorder)."""
    if driver == "sync":
        return drive_sync(execution_flow(decision), fn, claim=rec.claim, finish=rec.finish)

    async def claim(tid: str, action: signoff.Action) -> Any:
        return rec.claim(tid, action)

    async def finish(tid: str, ok: bool, error: str) -> Any:
        return rec.finish(tid, ok, error)

    return asyncio.run(drive(execution_flow(decision), fn, claim=claim, finish=finish))


@pytest.mark.parametrize("driver", ["sync", "async"])
class TestExecutionFlow:
    def test_an_approval_is_claimed_run_and_finished(self, driver: str) -> None:
        """Claim, then the tool with the decision's arguments, then a successful finish; the result returns."""
        rec = Recorder()
        result = run(driver, approved(), rec, rec.tool())
        assert ("refunded 90.0", [("claim", "tk_1", "issue_refund"), ("run", 90.0), ("finish", "tk_1", True, "")]) \
            == (result, rec.steps)

    def test_a_failing_tool_is_recorded_failed_and_its_error_raised(self, driver: str) -> None:
        """The tool's own exception reaches the caller, after the run is recorded as failed with its words."""
        rec = Recorder()
        with pytest.raises(ValueError, match="card declined"):
            run(driver, approved(), rec, rec.tool(fail=True))
        assert [("claim", "tk_1", "issue_refund"), ("run", 90.0),
                ("finish", "tk_1", False, "ValueError: card declined")] == rec.steps

    def test_a_claim_that_turned_unknown_never_runs(self, driver: str) -> None:
        """A run another instance abandoned is AlreadyExecuted: a human must check, the tool is not called."""
        rec = Recorder(execution="unknown")
        with pytest.raises(signoff.AlreadyExecuted, match="claimed by another instance"):
            run(driver, approved(), rec, rec.tool())
        assert [("claim", "tk_1", "issue_refund")] == rec.steps

    @pytest.mark.parametrize(("ticket_id", "status"), [(None, "auto"), ("tk_2", "notified")])
    def test_nothing_to_claim_runs_directly(self, driver: str, ticket_id: str | None, status: str) -> None:
        """``auto`` (no ticket) and ``notified`` (a feed record, not an approval) run without a claim."""
        rec = Recorder()
        assert ("refunded 90.0", [("run", 90.0)]) == (run(driver, approved(ticket_id, status), rec, rec.tool()),
                                                       rec.steps)

    def test_a_refusal_raises_before_any_step(self, driver: str) -> None:
        """A rejected decision raises Rejected; nothing is claimed or run."""
        rec = Recorder()
        with pytest.raises(signoff.Rejected):
            run(driver, approved(status="rejected"), rec, rec.tool())
        assert [] == rec.steps


class TestAsyncTools:
    def test_the_async_driver_awaits_a_coroutine_tool(self) -> None:
        """``execute`` takes sync and async tools alike: the coroutine's value is the result."""
        rec = Recorder()

        async def fn(amount: float) -> str:
            return f"async {amount}"

        assert "async 90.0" == run("async", approved(), rec, fn)
