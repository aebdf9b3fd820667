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
from signoff import _execution
from signoff._execution import drive, drive_sync, execution_flow

ACTION = signoff.Action(name="issue_refund", args={"amount": 90.0})


def approved(ticket_id: str | None = "tk_1", status: str = "approved") -> signoff.Decision:
    return signoff.Decision(status=status, approved=status != "rejected", action=ACTION,  # type: ignore[arg-type]
                            ticket_id=ticket_id)


class Recorder:
    """Claims and finishes recorded in order; the claim answers a ticket in state ``execution``.

    ``lose_claims``/``lose_finishes``: that many answers are lost after the write (StoreUnavailable),
    as when a server commits and dies before answering."""

    def __init__(self, execution: str = "executing", lose_claims: int = 0, lose_finishes: int = 0) -> None:
        self.steps: list[tuple[Any, ...]] = []
        self.claim_ids: list[str] = []
        self.execution = execution
        self.lose_claims, self.lose_finishes = lose_claims, lose_finishes

    def claim(self, tid: str, action: signoff.Action, claim_id: str = "") -> Any:
        self.claim_ids.append(claim_id)
        if self.lose_claims:
            self.lose_claims -= 1
            raise signoff.StoreUnavailable("the server did not answer")
        self.steps.append(("claim", tid, action.name))
        return SimpleNamespace(execution=self.execution, explanation="claimed by another instance")

    def finish(self, tid: str, ok: bool, error: str, claim_id: str = "") -> Any:
        self.claim_ids.append(claim_id)
        if self.lose_finishes:
            self.lose_finishes -= 1
            raise signoff.StoreUnavailable("the server did not answer")
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

    async def claim(tid: str, action: signoff.Action, claim_id: str) -> Any:
        return rec.claim(tid, action, claim_id)

    async def finish(tid: str, ok: bool, error: str, claim_id: str) -> Any:
        return rec.finish(tid, ok, error, claim_id)

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


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_execution, "RETRY_DELAYS", (0.0, 0.0))


@pytest.mark.usefixtures("no_pause")
@pytest.mark.parametrize("driver", ["sync", "async"])
class TestLostAnswers:
    def test_a_lost_claim_answer_is_retried_with_the_same_claim_id_and_the_tool_runs_once(self, driver: str) -> None:
        """The claim committed but its answer was lost: the retry carries the same claim id, the tool runs once."""
        rec = Recorder(lose_claims=1)
        assert "refunded 90.0" == run(driver, approved(), rec, rec.tool())
        assert [("claim", "tk_1", "issue_refund"), ("run", 90.0), ("finish", "tk_1", True, "")] == rec.steps
        assert 1 == len(set(rec.claim_ids)) and rec.claim_ids[0].startswith("cl_")

    def test_a_lost_finish_is_sent_again(self, driver: str) -> None:
        """The tool ran and the finish's answer was lost: it is sent again with the claim's id."""
        rec = Recorder(lose_finishes=2)
        assert "refunded 90.0" == run(driver, approved(), rec, rec.tool())
        assert [("claim", "tk_1", "issue_refund"), ("run", 90.0), ("finish", "tk_1", True, "")] == rec.steps
        assert 1 == len(set(rec.claim_ids))

    def test_a_claim_never_answered_says_the_tool_did_not_run(self, driver: str) -> None:
        """Every try of the claim unanswered: StoreUnavailable says the tool was not run; it was not."""
        rec = Recorder(lose_claims=99)
        with pytest.raises(signoff.StoreUnavailable, match="The tool was NOT run") as err:
            run(driver, approved(), rec, rec.tool())
        assert ([], 3, rec.claim_ids[0]) == (rec.steps, len(rec.claim_ids), err.value.claim_id)  # type: ignore[attr-defined]

    def test_a_finish_never_answered_says_the_tool_ran(self, driver: str) -> None:
        """Every try of the finish unanswered: StoreUnavailable says the tool ran and how to finish again."""
        rec = Recorder(lose_finishes=99)
        with pytest.raises(signoff.StoreUnavailable, match=r"the tool RAN and completed.*Finishing again"):
            run(driver, approved(), rec, rec.tool())
        assert [("claim", "tk_1", "issue_refund"), ("run", 90.0)] == rec.steps


class TestAsyncTools:
    def test_the_async_driver_awaits_a_coroutine_tool(self) -> None:
        """``execute`` takes sync and async tools alike: the coroutine's value is the result."""
        rec = Recorder()

        async def fn(amount: float) -> str:
            return f"async {amount}"

        assert "async 90.0" == run("async", approved(), rec, fn)
