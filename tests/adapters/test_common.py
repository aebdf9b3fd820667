"""signoff.integrations._common: what every adapter shares (plan, batch, verdicts, texts)."""

from __future__ import annotations

import pytest

import signoff
from signoff.integrations._common import ToolCall, ToolGate, edited_note, refusal_text

CALL = ToolCall(id="c1", name="lookup_order", args={"order": "A-1"})


class TestToolGate:
    def test_auto_turn_writes_nothing(self, gate: signoff.Gate) -> None:
        """A turn of auto calls passes in plan() and submit() queues nothing."""
        core = ToolGate(gate, agent="bot")
        steps = core.plan([CALL])
        assert ([True], [], []) == ([s.passes for s in steps], core.submit_sync(steps), gate.list_tickets_sync())

    def test_describe_adds_action_fields(self, gate: signoff.Gate) -> None:
        """describe() puts tags, external and context on the Action; the agent's words stay the reasoning."""
        core = ToolGate(gate, agent="bot", describe=lambda name, args: {"tags": {"financial"}, "external": True,
                                                                         "context": {"env": "prod"}})
        action = core.action(CALL, reasoning="because", context={"run": "r1"})
        assert (frozenset({"financial"}), True, {"run": "r1", "env": "prod"}, "because", "bot") == \
            (action.tags, action.external, dict(action.context), action.reasoning, action.agent)

    def test_describe_rejects_unknown_fields(self, gate: signoff.Gate) -> None:
        """A describe() that returns a field Action does not have is named in the error."""
        core = ToolGate(gate, describe=lambda name, args: {"colour": "red"})
        with pytest.raises(signoff.UserError, match="colour"):
            core.action(CALL)

    def test_arguments_must_be_an_object(self, gate: signoff.Gate) -> None:
        """A tool call whose arguments are not an object is refused with the call named."""
        with pytest.raises(signoff.UserError, match="c9"):
            ToolGate(gate).action(ToolCall(id="c9", name="x", args=[1, 2]))  # type: ignore[arg-type]

    def test_needs_a_gate(self) -> None:
        """Anything but a Gate is refused up front."""
        with pytest.raises(signoff.UserError, match=r"signoff\.Gate"):
            ToolGate(object())  # type: ignore[arg-type]

    def test_denied_edited_original_is_audited_not_queued(self, gate: signoff.Gate) -> None:
        """A call remembered as edited that the policy denies is refused, not queued (no Denied raised)."""
        core = ToolGate(gate, agent="bot")
        call = ToolCall(id="c1", name="delete_customer_data", args={"customer": "bob"})
        core.remember_edit(core.action(call))
        [step] = core.plan([call])
        core.submit_sync([step])
        assert (None, "denied") == (step.ticket, step.decision.status if step.decision else None)

    def test_one_batch_and_verdicts(self, gate: signoff.Gate) -> None:
        """Two gated calls share a batch; after an edit and a rejection the verdicts say run / don't run."""
        core = ToolGate(gate, agent="bot")
        steps = core.plan([ToolCall(id="a", name="issue_refund", args={"order": "A", "amount": 90.0}),
                           ToolCall(id="b", name="close_account", args={"customer": "bob"})], reasoning="why")
        core.submit_sync(steps)
        assert steps[0].ticket is not None and steps[1].ticket is not None
        assert steps[0].ticket.batch_id == steps[1].ticket.batch_id
        gate.approve_sync(steps[0].ticket.id, reviewer="alice", args={"order": "A", "amount": 60.0})
        gate.reject_sync(steps[1].ticket.id, reviewer="alice")
        assert core.collect_sync(steps, timeout=5)
        run, refused = core.verdicts(steps)
        assert (True, {"order": "A", "amount": 60.0}, edited_note({"order": "A", "amount": 60.0})) == \
            (run.run, dict(run.args), run.text)
        assert (False, "The call to close_account was rejected by alice and did not run.") == \
            (refused.run, refused.text)

    def test_pending_collect_times_out(self, gate: signoff.Gate) -> None:
        """collect() with no decision yet returns False and leaves the step pending."""
        core = ToolGate(gate, agent="bot")
        steps = core.plan([ToolCall(id="b", name="close_account", args={"customer": "bob"})])
        core.submit_sync(steps)
        assert (False, True) == (core.collect_sync(steps, timeout=0), steps[0].pending)


class TestTexts:
    def test_refusal_of_an_expiry_explains(self) -> None:
        """An expired decision tells the model the status and signoff's explanation."""
        d = signoff.Decision(status="expired", approved=False, action=signoff.Action(name="x"),
                             explanation="nobody decided within 30m")
        assert "The call to x did not run (expired): nobody decided within 30m" == refusal_text(d)
