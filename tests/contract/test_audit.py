"""The audit log: a hash chain written with each change, that detects any edit, insertion or deletion."""

from __future__ import annotations

import pytest

from signoff import Action, Gate
from tests.contract.conftest import TAMPERINGS, GateFactory, read_audit, tamper


async def some_history(gate: Gate) -> None:
    for i in range(3):
        t = await gate.submit(Action(name="issue_refund", args={"amount": float(i)}, agent="bot", reasoning="r"))
        if i % 2:
            await gate.reject(t.id, reviewer="alice", feedback="no")
        else:
            await gate.approve(t.id, reviewer="alice")


class TestChain:
    async def test_intact_chain_verifies(self, gate: Gate, store_url: str) -> None:
        """After normal use the chain verifies and counts every entry."""
        await some_history(gate)
        result = await gate.verify_audit()
        assert (True, len(read_audit(store_url)), None) == (result.ok, result.count, result.first_bad)

    async def test_entries_link_to_their_predecessor(self, gate: Gate, store_url: str) -> None:
        """Each entry carries the hash of the one before it."""
        await some_history(gate)
        entries = read_audit(store_url)
        assert [e.hash for e in entries[:-1]] == [e.prev_hash for e in entries[1:]]

    @pytest.mark.local_only("over HTTP the token's reviewer is the actor of a mode switch, not actor=")
    async def test_decisions_and_reviewers_are_recorded(self, gate: Gate, store_url: str) -> None:
        """Submissions, decisions, reviewer changes and mode switches all appear, with their actor."""
        await some_history(gate)
        gate.set_mode("incident", actor="oncall")
        kinds = {(e.kind, e.actor) for e in read_audit(store_url)}
        assert {("reviewer", "admin"), ("submitted", "bot"), ("approved", "alice"), ("rejected", "alice"),
                ("mode", "oncall")} <= kinds

    async def test_empty_log_verifies(self, open_gate: GateFactory) -> None:
        """A new store's empty log verifies with zero entries."""
        g = open_gate(reviewers=False)
        result = await g.verify_audit()
        assert (True, 0) == (result.ok, result.count)


class TestTamper:
    @pytest.mark.parametrize("how", TAMPERINGS)
    async def test_tampering_is_detected_at_the_first_bad_entry(self, gate: Gate, store_url: str, how: str) -> None:
        """Editing a row's data, deleting a middle or the last row, or appending a forged row breaks
        verification, which names the first bad entry."""
        await some_history(gate)
        first_bad = tamper(store_url, how)
        result = await gate.verify_audit()
        assert (False, first_bad) == (result.ok, result.first_bad), str(result)

    async def test_writing_goes_on_after_verification(self, gate: Gate) -> None:
        """Verification reads only: new entries keep chaining."""
        await some_history(gate)
        await gate.verify_audit()
        await some_history(gate)
        assert (await gate.verify_audit()).ok

    @pytest.mark.parametrize("how", ["delete_last", "insert"])
    async def test_tampering_at_the_end_stays_detected_after_more_writes(
            self, gate: Gate, store_url: str, how: str) -> None:
        """Deleting the last entry (or forging a tail) and then writing on: the next entry links to the
        recorded head, not to the row that is last now, so verification still fails. A deleted last
        entry is named (its seq is missing); a forged tail breaks at the next real entry's link."""
        await some_history(gate)
        first_bad = tamper(store_url, how)
        await some_history(gate)
        result = await gate.verify_audit()
        if how == "delete_last":
            assert (False, first_bad) == (result.ok, result.first_bad), str(result)
        else:
            assert not result.ok and result.first_bad is not None and result.first_bad >= first_bad, str(result)

    async def test_an_emptied_log_stays_detected_after_more_writes(self, gate: Gate, store_url: str) -> None:
        """Every entry deleted, then more written: entry 1 is reported missing."""
        await some_history(gate)
        tamper(store_url, "delete_all")
        await some_history(gate)
        result = await gate.verify_audit()
        assert (False, 1) == (result.ok, result.first_bad), str(result)
