"""Every sync method of ``signoff.GateLike`` called for real, on every store and through a real server.

``tests/unit/test_gatelike.py`` proves each async method has a ``_sync`` twin with the same
parameters; this proves each twin works: one small scenario per sync member, run on the
local stores and (the ``remote`` backend) through RemoteGates against ``signoff serve``.
A sync member without a scenario fails ``test_every_sync_member_has_a_scenario``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from signoff import Action, Conflict, Gate, GateLike


def refund(amount: float = 50.0) -> Action:
    return Action(name="issue_refund", args={"order": "A-17", "amount": amount}, agent="support-bot",
                  reasoning="order 3 days late", confidence=0.9)


def _decided(gate: Gate, approve: bool) -> str:
    t = gate.submit_sync(refund())
    return (gate.approve_sync(t.id, reviewer="alice") if approve
            else gate.reject_sync(t.id, reviewer="alice", feedback="no")).status


def _wait(gate: Gate) -> Any:
    t = gate.submit_sync(refund())
    gate.approve_sync(t.id, reviewer="alice")
    d = gate.wait_sync(t.id, timeout=10)
    return d.status, d.ticket_id == t.id


def _resume(gate: Gate) -> Any:
    t = gate.submit_sync(refund(), state={"step": 3})
    gate.reject_sync(t.id, reviewer="alice", feedback="no")
    decision, state = gate.resume_sync(t.id)
    return decision.status, decision.feedback, state


def _submit_many(gate: Gate) -> Any:
    a, b = gate.submit_many_sync([refund(1.0), refund(2.0)], idempotency_keys=["m1", "m2"])
    return a.status, a.batch_id == b.batch_id is not None


def _lists(gate: Gate) -> Any:
    a = gate.submit_sync(refund(1.0))
    gate.submit_sync(Action(name="lookup", agent="support-bot"))  # auto through submit: an approval too
    return [t.id for t in gate.list_tickets_sync(action="issue_refund")] == [a.id]


def _find(gate: Gate) -> Any:
    t = gate.submit_sync(refund(), idempotency_key="run-1/step-1")
    found = gate.find_ticket_sync(idempotency_key="run-1/step-1", agent="support-bot")
    return found is not None and found.id == t.id, gate.find_ticket_sync(idempotency_key="nope", agent="support-bot")


def _decide_many(gate: Gate) -> Any:
    ids = [gate.submit_sync(refund(float(i))).id for i in (1, 2)]
    r = gate.decide_many_sync(ids, reviewer="alice", approve=True)
    return sorted(t.id for t in r.decided) == sorted(ids), r.failed


def _decide_group(gate: Gate) -> Any:
    a, b = gate.submit_sync(refund(10.0)), gate.submit_sync(refund(20.0))
    r = gate.decide_group_sync(a.group_key, ticket_ids=[a.id, b.id], reviewer="alice", approve=False)
    return len(r.decided), r.failed


def _decide_batch(gate: Gate) -> Any:
    a, _ = gate.submit_many_sync([refund(1.0), refund(2.0)])
    assert a.batch_id is not None
    r = gate.decide_batch_sync(a.batch_id, reviewer="alice", approve=True)
    return len(r.decided), r.failed


def _flag(gate: Gate) -> Any:
    d = gate.guard_sync(Action(name="send_digest", agent="support-bot"))
    assert d.ticket_id is not None
    return d.status, gate.flag_sync(d.ticket_id, reviewer="alice", note="look").status


def _suggestion(gate: Gate) -> Any:
    t = gate.submit_sync(Action(name="iam.grant", args={"user": "bob"}, agent="support-bot"))
    return t.status, gate.resolve_suggestion_sync(t.id, reviewer="alice", done=True).status


def _record(gate: Gate) -> Any:
    """A run not in doubt: the twin reaches the gate's rule, which refuses (a run in doubt: test_execution)."""
    t = gate.submit_sync(refund())
    gate.approve_sync(t.id, reviewer="alice")
    try:
        gate.record_execution_sync(t.id, reviewer="alice", outcome="ran")
    except Conflict as exc:
        return "not in doubt" in str(exc)
    return False


def _execute(gate: Gate) -> Any:
    t = gate.submit_sync(refund())
    gate.approve_sync(t.id, reviewer="alice", args={"order": "A-17", "amount": 40.0})
    ran: list[float] = []
    result = gate.execute_sync(gate.wait_sync(t.id, timeout=10), lambda order, amount: ran.append(amount) or "ok")
    return result, ran, gate.get_ticket_sync(t.id).execution


def _mode(gate: Gate) -> Any:
    gate.set_mode("incident", reviewer="dave")
    on = gate.get_mode_sync()
    gate.set_mode(None, reviewer="dave")
    return on, gate.get_mode_sync()


def _insights(gate: Gate) -> Any:
    _decided(gate, approve=True)
    return [(s.key, s.volume, s.approved) for s in gate.insights_sync(min_volume=1).actions]


def _verify(gate: Gate) -> Any:
    _decided(gate, approve=False)
    result = gate.verify_audit_sync()
    return result.ok, result.count > 0


def _allow(gate: Gate) -> Any:
    made = gate.allow_sync(gate.submit_sync(refund()).id, reviewer="alice", condition="args.amount <= 60.0")
    return made.status(), gate.evaluate(refund(55.0)).level.value


def _allowances(gate: Gate) -> Any:
    made = gate.allow_sync(gate.submit_sync(refund()).id, reviewer="alice")
    listed = [a.id for a in gate.list_allowances_sync()] == [made.id]
    return listed, gate.revoke_allowance_sync(made.id, reviewer="bob").status(), gate.list_allowances_sync()


def _confirm(gate: Gate) -> Any:
    t = gate.submit_sync(Action(name="send_payment", args={"amount": 5}, agent="pay-bot"))
    made = gate.allow_sync(t.id, reviewer="bob")
    return made.status(), gate.confirm_allowance_sync(made.id, reviewer="carol").status()


# sync member -> (scenario, expected)
SCENARIOS: dict[str, tuple[Callable[[Gate], Any], Any]] = {
    "evaluate": (lambda g: g.evaluate(refund()).level.value, "approve"),
    "get_mode_sync": (lambda g: g.get_mode_sync(), None),
    "set_mode": (_mode, ("incident", None)),
    "guard_sync": (lambda g: g.guard_sync(Action(name="drop_database", agent="support-bot")).status, "denied"),
    "submit_sync": (lambda g: g.submit_sync(refund()).status, "pending"),
    "submit_many_sync": (_submit_many, ("pending", True)),
    "wait_sync": (_wait, ("approved", True)),
    "resume_sync": (_resume, ("rejected", "no", {"step": 3})),
    "cancel_sync": (lambda g: g.cancel_sync(g.submit_sync(refund()).id, reason="withdrawn").status, "cancelled"),
    "execute_sync": (_execute, ("ok", [40.0], "executed")),
    "get_ticket_sync": (lambda g: g.get_ticket_sync(g.submit_sync(refund()).id).rules, ("refunds",)),
    "find_ticket_sync": (_find, (True, None)),
    "list_tickets_sync": (_lists, True),
    "approve_sync": (lambda g: _decided(g, approve=True), "approved"),
    "reject_sync": (lambda g: _decided(g, approve=False), "rejected"),
    "decide_many_sync": (_decide_many, (True, {})),
    "decide_group_sync": (_decide_group, (2, {})),
    "decide_batch_sync": (_decide_batch, (2, {})),
    "flag_sync": (_flag, ("notified", "flagged")),
    "resolve_suggestion_sync": (_suggestion, ("suggested", "done")),
    "record_execution_sync": (_record, True),
    "runs_in_doubt_sync": (lambda g: g.runs_in_doubt_sync(limit=5), []),
    "surges_sync": (lambda g: g.surges_sync(), {}),
    "insights_sync": (_insights, [("issue_refund", 1, 1)]),
    "verify_audit_sync": (_verify, (True, True)),
    "allow_sync": (_allow, ("active", "notify")),
    "list_allowances_sync": (_allowances, (True, "revoked", [])),
    "revoke_allowance_sync": (_allowances, (True, "revoked", [])),
    "confirm_allowance_sync": (_confirm, ("pending", "active")),
}
# Not called here: ``close`` is what the gate fixture does after every test; ``gated`` makes a
# wrapper whose sync form runs guard_sync and execute_sync, both above.
NOT_CALLED = {"close", "gated"}


def sync_members() -> set[str]:
    """GateLike's callable members that are not coroutines."""
    return {n for n, fn in vars(GateLike).items()
            if not n.startswith("_") and callable(fn) and not inspect.iscoroutinefunction(fn)}


def test_every_sync_member_has_a_scenario() -> None:
    """A new sync member of GateLike needs a scenario here (or a reason in NOT_CALLED)."""
    assert sync_members() == set(SCENARIOS) | NOT_CALLED


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sync_twin(gate: Gate, name: str) -> None:
    """The sync member works from plain (loop-free) code and gives what its async twin would."""
    scenario, expected = SCENARIOS[name]
    assert expected == scenario(gate)
