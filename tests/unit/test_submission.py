"""Submission as a pure function: the ticket for an outcome, and the plan a store writes for a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from signoff import Action, Conflict, Denied, InvalidAction, QuotaExceeded
from signoff._model import Ticket
from signoff._records import AuditDraft, StoredState
from signoff.policy import Policy
from signoff.review import _submission as submission

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = Policy.from_dict({
    "version": 1,
    "defaults": {"level": "auto", "timeout": "10m"},
    "rules": [
        {"name": "refunds", "match": {"action": "issue_refund"}, "level": "approve"},
        {"name": "digest", "match": {"action": "send_digest"}, "level": "notify"},
        {"name": "iam", "match": {"action": "iam.*"}, "level": "suggest"},
        {"name": "drop", "match": {"action": "drop_db"}, "level": "deny"},
    ],
})


def ticket(name: str = "issue_refund", *, agent: str = "bot", key: str | None = None, n: int = 1,
           tid: str | None = None) -> Ticket:
    action = Action(name=name, args={"n": n}, agent=agent, reasoning="because")
    return submission.new_ticket(action, POLICY.evaluate(action), ticket_id=tid or f"t{n}-{agent}-{name}",
                                 now=NOW, idempotency_key=key, batch_id=None, has_state=False)


def plan(tickets: list[Ticket], **kw: Any) -> submission.Submission:
    kw.setdefault("existing", {})
    kw.setdefault("pending", {})
    kw.setdefault("max_pending", None)
    return submission.plan([(t, None) for t in tickets], **kw)


class TestNewTicket:
    def test_levels_make_kinds(self) -> None:
        """approve, notify and suggest give a pending approval, a notification and a suggestion."""
        made = [(t.kind, t.status) for t in (ticket(), ticket("send_digest"), ticket("iam.grant"))]
        assert [("approval", "pending"), ("notification", "notified"), ("suggestion", "suggested")] == made

    def test_only_pending_tickets_have_deadlines(self) -> None:
        """The deadline is now plus the rule's timeout, for a pending ticket only."""
        assert (NOW + timedelta(minutes=10), None) == (ticket().deadline, ticket("send_digest").deadline)

    def test_auto_needs_no_ticket(self) -> None:
        """An auto outcome is refused: nothing to queue."""
        with pytest.raises(Exception, match="needs no ticket"):
            ticket("read_file")


class TestCheck:
    def test_denied(self) -> None:
        """A denied action raises Denied carrying its decision."""
        action = Action(name="drop_db", args={})
        with pytest.raises(Denied) as err:
            submission.check(action, POLICY.evaluate(action))
        assert "denied" == err.value.decision.status  # type: ignore[attr-defined]

    def test_reasoning_required(self) -> None:
        """A policy that requires a reasoning refuses an approval without one."""
        policy = Policy.from_dict({"version": 1, "defaults": {"level": "approve", "require_reasoning": True}})
        action = Action(name="x", args={})
        with pytest.raises(InvalidAction):
            submission.check(action, policy.evaluate(action))


class TestPlan:
    def test_new_tickets_are_inserted_and_audited(self) -> None:
        """Each new ticket is an insert and one 'submitted' entry (a notification: its status)."""
        a, b = ticket(), ticket("send_digest")
        p = plan([a, b])
        assert ([(a, True), (b, True)], [a, b], ["submitted", "notified"]) == (
            list(p.results), [t for t, _ in p.inserts], [d.kind for d in p.audit])

    def test_same_key_same_action_returns_the_existing_ticket(self) -> None:
        """A key the agent used for the same action gives the stored ticket back; nothing is written."""
        stored = ticket(key="k", tid="old")
        p = plan([ticket(key="k", tid="new")], existing={("bot", "k"): stored})
        assert ([(stored, False)], (), ()) == (list(p.results), p.inserts, p.audit)

    def test_same_key_other_action_conflicts(self) -> None:
        """A key the agent used for another action raises Conflict naming that ticket."""
        stored = ticket(key="k", n=1, tid="old")
        with pytest.raises(Conflict) as err:
            plan([ticket(key="k", n=2)], existing={("bot", "k"): stored})
        assert "old" == err.value.ticket_id  # type: ignore[attr-defined]

    def test_a_key_repeated_within_a_batch(self) -> None:
        """The second use of a key in one batch returns the first ticket of the batch."""
        first, again = ticket(key="k", tid="a"), ticket(key="k", tid="b")
        p = plan([first, again])
        assert ([(first, True), (first, False)], 1) == (list(p.results), len(p.inserts))

    def test_keys_belong_to_their_agent(self) -> None:
        """Another agent's key is not seen: the lookup is by (agent, key)."""
        assert [("bot", "k")] == submission.keys_of([(ticket(key="k"), None), (ticket(), None)])

    def test_quota_counts_what_is_stored_and_what_the_batch_adds(self) -> None:
        """With 1 pending and a quota of 2, a batch of two is refused, naming the count reached."""
        with pytest.raises(QuotaExceeded) as err:
            plan([ticket(n=1), ticket(n=2)], pending={"bot": 1}, max_pending=2)
        assert ("bot", 2) == (err.value.agent, err.value.pending)  # type: ignore[attr-defined]

    def test_quota_ignores_notifications(self) -> None:
        """Only pending tickets count against the quota; only their agents are counted."""
        p = plan([ticket("send_digest")], pending={}, max_pending=0)
        assert (1, []) == (len(p.inserts), submission.quota_agents([(ticket("send_digest"), None)], 0))

    def test_quota_refusal_is_audited(self) -> None:
        """The refusal's audit entry names the agent, its pending count and the quota."""
        err = QuotaExceeded("x", agent="bot", pending=3)
        assert AuditDraft(kind="quota_exceeded", actor="bot", data={"pending": 3, "quota": 3}) == (
            submission.quota_refused(err, 3))

    def test_states_travel_with_their_tickets(self) -> None:
        """The state given with a ticket is inserted with it."""
        state = StoredState(kind="json", data=b"{}")
        t = ticket()
        assert ((t, state),) == submission.plan([(t, state)], existing={}, pending={}, max_pending=None).inserts
