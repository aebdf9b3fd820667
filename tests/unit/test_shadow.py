"""The shadow policy: a candidate evaluated beside the policy in force, bounded, with no effect on decisions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from signoff import Action, Gate, Level, PolicyError
from signoff._shadow import (
    MAX_KEYS,
    MAX_TICKETS,
    Observation,
    ShadowRecorder,
    compare,
    comparison_from_dict,
    comparison_to_dict,
    observations_from_audit,
)
from signoff.policy import Policy
from signoff.store._records import AuditEntry

POLICY: dict[str, Any] = {
    "version": 1, "defaults": {"level": "auto"},
    "rules": [{"name": "refunds", "match": {"action": "issue_refund"}, "level": "approve"},
              {"name": "no-drop", "match": {"action": "drop_table"}, "level": "deny"}],
}
CANDIDATE: dict[str, Any] = {
    "version": 1, "defaults": {"level": "auto"},
    "rules": [{"name": "small-refunds", "match": {"action": "issue_refund"}, "when": "args.amount <= 100.0",
               "level": "notify"},
              {"name": "big-refunds", "match": {"action": "issue_refund"}, "when": "args.amount > 100.0",
               "level": "approve"},
              {"name": "mail", "match": {"action": "send_email"}, "level": "approve"},
              {"name": "no-drop", "match": {"action": "drop_table"}, "level": "deny"}],
}


def refund(amount: float) -> Action:
    return Action(name="issue_refund", args={"amount": amount}, agent="bot")


def _entry(seq: int, data: dict[str, Any]) -> AuditEntry:
    return AuditEntry(seq=seq, at="2026-11-29T00:00:00+00:00", kind="shadow", ticket_id=None, actor="shadow",
                      data=data, prev_hash="", hash="")


class TestRecorder:
    def test_agreement_writes_nothing(self) -> None:
        """Where the candidate agrees there is nothing to record: no audit entry at all."""
        rec = ShadowRecorder(Policy.coerce(POLICY))
        policy = Policy.coerce(POLICY)
        action = Action(name="lookup")
        rec.untracked(action, policy.evaluate(action), mode=None, is_known=lambda _: False)
        assert None is rec.drain()

    def test_untracked_keys_are_bounded(self) -> None:
        """Past MAX_KEYS distinct keys, further disagreements are counted under one (other) key."""
        rec = ShadowRecorder(Policy.coerce(CANDIDATE))
        policy = Policy.coerce(POLICY)
        for i in range(MAX_KEYS + 50):
            action = Action(name="send_email", agent=f"agent-{i}")
            rec.untracked(action, policy.evaluate(action), mode=None, is_known=lambda _: False)
        draft = rec.drain()
        assert draft is not None
        rows = draft.data["untracked"]
        assert (MAX_KEYS + 1, MAX_KEYS + 50, 50) == (
            len(rows), sum(r[-1] for r in rows), next(r[-1] for r in rows if r[0] == "(other)"))
        assert None is rec.drain()  # drained: the buffer starts afresh

    def test_tickets_are_bounded_and_the_rest_counted(self) -> None:
        """Past MAX_TICKETS itemised tickets per flush, further ones are counted as dropped."""
        rec = ShadowRecorder(Policy.coerce(CANDIDATE))
        policy = Policy.coerce(POLICY)
        from signoff._model import Ticket

        action = refund(5.0)
        outcome = policy.evaluate(action)
        for i in range(MAX_TICKETS + 3):
            ticket = Ticket(id=f"tk_{i}", kind="approval", action=action, status="pending", level=outcome.level)
            rec.ticket(ticket, outcome, mode=None, is_known=lambda _: False)
        draft = rec.drain()
        assert draft is not None
        assert (MAX_TICKETS, 3, MAX_TICKETS + 3) == (len(draft.data["tickets"]), draft.data["dropped"],
                                                     draft.data["evaluated"])


class TestCompare:
    def test_headline_counts_and_lists_rejections(self) -> None:
        """Requests that waited and that the candidate lets through are split by the reviewers' decision."""
        obs = [Observation(action="issue_refund", agent="bot", old=Level.APPROVE, new=Level.NOTIFY,
                           ticket_id=f"tk_{i}", status="approved") for i in range(3)]
        obs.append(Observation(action="issue_refund", agent="bot", old=Level.APPROVE, new=Level.AUTO,
                               ticket_id="tk_bad", status="rejected"))
        obs.append(Observation(action="send_email", agent="bot", old=Level.AUTO, new=Level.APPROVE, count=7))
        obs.append(Observation(action="wipe", agent="bot", old=Level.AUTO, new=Level.DENY, count=2))
        c = compare(obs, candidate="candidate.yaml", evaluated=100)
        assert (4, 3, 1, ["tk_bad"], 7, 2, 13) == (c.would_auto, c.would_auto_approved, c.would_auto_rejected,
                                                   c.rejected_ids, c.would_ask, c.would_deny, c.disagreed)
        assert ("the candidate would have auto-approved 4 requests, of which reviewers rejected 1 (tk_bad); it "
                "would ask a human for 7 that ran without one and deny 2; 13 of 100 evaluated disagreed"
                ) == c.headline()
        assert c == comparison_from_dict(comparison_to_dict(c))

    def test_only_the_latest_candidate_counts(self) -> None:
        """Entries of an earlier candidate are another question: only the latest one's are summed."""
        old = _entry(1, {"candidate": "a.yaml", "evaluated": 10, "dropped": 0, "tickets": [],
                         "untracked": [["x", "", "auto", "deny", [], ["r"], 4]]})
        new = _entry(2, {"candidate": "b.yaml", "evaluated": 5, "dropped": 0, "tickets": [],
                         "untracked": [["y", "", "auto", "approve", [], ["s"], 2]]})
        obs, candidate, evaluated, _ = observations_from_audit([old, new], {})
        assert ("b.yaml", 5, ["y"]) == (candidate, evaluated, [o.action for o in obs])


class TestGateShadow:
    async def test_no_effect_on_decisions_and_figures_recorded(self) -> None:
        """With a candidate every decision is what the policy in force says; insights show the
        candidate's disagreements, joined with the reviewers' decisions."""
        plain = Gate.open(POLICY, "memory://plain")
        shadowed = Gate.open(POLICY, "memory://shadowed", shadow_policy=CANDIDATE)
        try:
            for g in (plain, shadowed):
                g.add_reviewer("alice")
            actions = [refund(10.0), refund(20.0), refund(500.0), Action(name="send_email", agent="bot"),
                       Action(name="drop_table", agent="bot"), Action(name="lookup", agent="bot")]
            for a in actions:
                assert plain.evaluate(a) == shadowed.evaluate(a)
            statuses = []
            for g in (plain, shadowed):
                tickets = await g.submit_many(actions[:3])
                await g.approve(tickets[0].id, reviewer="alice")
                await g.reject(tickets[1].id, reviewer="alice", feedback="no")
                await g.reject(tickets[2].id, reviewer="alice", feedback="no")
                statuses.append([(await g.guard(a)).status for a in actions[3:]])
            assert [["auto", "denied", "auto"]] * 2 == statuses
            assert None is (await plain.insights()).shadow
            report = (await shadowed.insights()).shadow
            assert report is not None
            rejected = [t.id for t in await shadowed.list_tickets(status="rejected") if t.action.args["amount"] == 20.0]
            assert (2, 1, 1, rejected, 2, 0) == (report.would_auto, report.would_auto_approved,
                                                 report.would_auto_rejected, report.rejected_ids, report.would_ask,
                                                 report.would_deny)
            # Evaluations that make no ticket count (3 above, 3 guards), tickets by id (3): send_email
            # twice, the three refunds (a level or a rule differs).
            assert (9, 5) == (report.evaluated, report.disagreed)
        finally:
            plain.close()
            shadowed.close()

    def test_bad_candidate_fails_at_open_with_its_location(self, tmp_path: Any) -> None:
        """A broken candidate is refused when the gate opens, with file:line:col, like the policy."""
        bad = tmp_path / "candidate.yaml"
        bad.write_text("version: 1\nrules:\n  - name: x\n    match: {action: a}\n    level: sometimes\n")
        with pytest.raises(PolicyError) as err:
            Gate.open(POLICY, "memory://bad", shadow_policy=bad)
        assert f"{bad}:5:" in str(err.value)

    async def test_flushes_on_its_own(self) -> None:
        """The buffer reaches the audit log every interval without anyone asking for insights."""
        from signoff._shadow import run_flusher
        from signoff.store import open_store

        store = open_store("memory://flusher")
        await store.open()
        rec = ShadowRecorder(Policy.coerce(CANDIDATE), interval=0.02)
        task = asyncio.create_task(run_flusher(rec, store))
        try:
            action = Action(name="send_email")
            rec.untracked(action, Policy.coerce(POLICY).evaluate(action), mode=None, is_known=lambda _: False)
            kinds: list[str] = []
            for _ in range(200):
                kinds = [e.kind for e in await store.audit_entries()]
                if kinds:
                    break
                await asyncio.sleep(0.02)
            assert ["shadow"] == kinds
        finally:
            task.cancel()
            await store.close()


class TestLiveCandidate:
    async def test_a_new_candidate_shows_even_before_it_disagrees(self, tmp_path: Any) -> None:
        """A gate running candidate B reports B (not the earlier candidate A's entries), with its
        evaluations counted, although B has agreed with everything so far."""
        import json

        store = "memory://live-candidate"
        first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
        first.write_text(json.dumps(CANDIDATE))
        second.write_text(json.dumps(POLICY))  # B is the policy itself: it never disagrees
        a = Gate.open(POLICY, store, shadow_policy=first)
        a.evaluate(Action(name="send_email"))  # A disagrees: an entry for A
        assert (await a.insights()).shadow is not None
        a.close()
        b = Gate.open(POLICY, store, shadow_policy=second)
        try:
            for _ in range(3):
                b.evaluate(Action(name="lookup"))
            report = (await b.insights()).shadow
            assert report is not None
            assert (str(second), 3, 0, 0) == (report.candidate, report.evaluated, report.disagreed,
                                              report.would_ask)
        finally:
            b.close()
        reader = Gate.open(POLICY, store)  # no candidate of its own: the latest recorded, A's
        try:
            report = (await reader.insights()).shadow
            assert report is not None and (str(first), 1) == (report.candidate, report.disagreed)
        finally:
            reader.close()
