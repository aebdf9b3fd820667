"""Fail closed: when the store cannot be reached, StoreUnavailable, and nothing needing a human runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from signoff import Action, Gate, StoreUnavailable
from tests.contract.conftest import POLICY, Outage

HANG = 15


class TestUnreachable:
    def test_open_fails_with_store_unavailable(self, unreachable_url: str) -> None:
        """A gate on a store that cannot be reached fails to open with StoreUnavailable."""
        with pytest.raises(StoreUnavailable):
            Gate.open(policy=POLICY, store=unreachable_url)


class TestOutage:
    async def test_a_tool_needing_approval_never_runs(self, outage_gate: tuple[Gate, Outage]) -> None:
        """During an outage a gated tool that needs approval raises StoreUnavailable and does not run."""
        gate, outage = outage_gate
        ran: list[float] = []

        @gate.gated("issue_refund", agent="bot")
        async def issue_refund(amount: float) -> None:
            ran.append(amount)

        with outage(), pytest.raises(StoreUnavailable):
            await asyncio.wait_for(issue_refund(5.0), HANG)
        assert ([], []) == (ran, await gate.list_tickets())

    async def test_auto_actions_still_run(self, outage_gate: tuple[Gate, Outage]) -> None:
        """An auto-level tool needs no store, so it runs during an outage."""
        gate, outage = outage_gate

        @gate.gated("lookup", agent="bot")
        def lookup(q: str) -> str:
            return q.upper()

        with outage():
            result = await asyncio.to_thread(lookup, "order")
        assert "ORDER" == result

    async def test_an_approved_action_is_not_run_without_its_claim(self, outage_gate: tuple[Gate, Outage]) -> None:
        """An approval cannot be executed while the claim cannot be recorded: at most once holds."""
        gate, outage = outage_gate
        t = await gate.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r"))
        await gate.approve(t.id, reviewer="alice")
        decision = await gate.wait(t.id, timeout=HANG)
        ran: list[int] = []
        with outage(), pytest.raises(StoreUnavailable):
            await gate.execute(decision, lambda **kw: ran.append(1))
        assert ([], "none") == (ran, (await gate.get_ticket(t.id)).execution)

    async def test_decisions_fail_and_change_nothing(self, outage_gate: tuple[Gate, Outage]) -> None:
        """A reviewer's decision during an outage raises StoreUnavailable; the ticket stays pending."""
        gate, outage = outage_gate
        t = await gate.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r"))
        with outage(), pytest.raises(StoreUnavailable):
            await gate.approve(t.id, reviewer="alice")
        assert "pending" == (await gate.get_ticket(t.id)).status

    async def test_reads_answer_or_fail_and_never_hang(self, outage_gate: tuple[Gate, Outage], store_kind: str) -> None:
        """During an outage a ticket list, a ticket and a token check answer or raise StoreUnavailable
        within the bound, never hang; on SQLite (another connection holds the write lock) they answer,
        since readers run beside a writer."""
        gate, outage = outage_gate
        t = await gate.submit(Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r"))
        token = await gate.create_token("agent", "bot")
        answered: list[bool] = []
        with outage():
            for call in (gate.list_tickets(), gate.get_ticket(t.id), gate.find_token(token)):
                try:
                    answered.append(await asyncio.wait_for(call, HANG) is not None)
                except StoreUnavailable:
                    answered.append(False)
        assert [store_kind == "sqlite"] * 3 == answered

    async def test_the_gate_recovers_after_the_outage(self, outage_gate: tuple[Gate, Outage]) -> None:
        """When the store is back, the same gate queues again."""
        gate, outage = outage_gate
        act = Action(name="issue_refund", args={"amount": 5.0}, agent="bot", reasoning="r")
        with outage(), pytest.raises(StoreUnavailable):
            await gate.submit(act)
        assert "pending" == (await gate.submit(act)).status


class TestSQLiteFiles:
    """SQLite-only ways a database file can be unusable."""

    def test_a_directory_in_place_of_the_file(self, tmp_path: Path) -> None:
        """A path that is a directory gives StoreUnavailable naming the URL."""
        (tmp_path / "s.db").mkdir()
        url = f"sqlite:///{tmp_path}/s.db"
        with pytest.raises(StoreUnavailable, match=r"s\.db"):
            Gate.open(policy=POLICY, store=url)

    def test_a_file_that_is_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not SQLite gives StoreUnavailable, and is left untouched."""
        path = tmp_path / "s.db"
        path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
        with pytest.raises(StoreUnavailable):
            Gate.open(policy=POLICY, store=f"sqlite:///{path}")
        assert b"shopping list" in path.read_bytes()

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        """A database written by a newer signoff is refused with a clear message."""
        import sqlite3

        path = tmp_path / "s.db"
        Gate.open(policy=POLICY, store=f"sqlite:///{path}").close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
        with pytest.raises(StoreUnavailable, match="upgrade signoff"):
            Gate.open(policy=POLICY, store=f"sqlite:///{path}")
