"""The policy's ``lease`` (a rule's and the defaults'): how long an approved run may take before it is
in doubt. Read like any duration, located at ``file:line:col`` when wrong, and chosen per ticket."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from signoff import Action, Gate, PolicyError
from signoff.policy import Policy

WritePolicy = Callable[[str], Path]
RULES = """\
version: 1
defaults: {level: auto, lease: 2m}
rules:
  - {name: deploys, match: {action: deploy}, level: approve, lease: 1h}
  - {name: big-deploys, match: {action: deploy}, when: "args.size > 10", level: approve, lease: 3h}
  - {name: refunds, match: {action: refund}, level: approve}
"""


class TestLeaseSection:
    @pytest.mark.parametrize("value", ["soon", "0s"])
    def test_a_bad_lease_is_located_at_its_value(self, write_policy: WritePolicy, value: str) -> None:
        """A lease that is not a positive duration is a PolicyError at file:line:col (the value's own)."""
        line = f"  - {{name: deploys, match: {{action: deploy}}, level: approve, lease: {value}}}"
        path = write_policy(f"rules:\n{line}\n")
        with pytest.raises(PolicyError) as err:
            Policy.load(path)
        (problem,) = err.value.problems
        assert (str(path), 2, line.index(value) + 1) == (problem.file, problem.line, problem.column)
        assert problem.message.startswith(f"rules[0].lease: bad duration '{value}'")

    def test_the_longest_lease_of_the_matched_rules_else_the_default(self, tmp_path: Path) -> None:
        """A ticket's run gets the longest lease of the rules it matched; a rule without one, the policy's
        default; a policy without either, the gate's ``execution_lease``."""
        with Gate.open(policy=Policy.from_yaml(RULES), store="memory://lease-section", sweep=False) as gate:
            big = gate.submit_sync(Action(name="deploy", args={"size": 50}))
            small = gate.submit_sync(Action(name="deploy", args={"size": 1}))
            refund = gate.submit_sync(Action(name="refund"))
            assert [timedelta(hours=3), timedelta(hours=1), timedelta(minutes=2)] == [
                gate.lease_for(t) for t in (big, small, refund)]
        plain = RULES.replace("defaults: {level: auto, lease: 2m}", "defaults: {level: auto}")
        with Gate.open(policy=Policy.from_yaml(plain), store="memory://lease-plain", sweep=False) as gate:
            gate.execution_lease = timedelta(minutes=7)
            assert timedelta(minutes=7) == gate.lease_for(gate.submit_sync(Action(name="refund")))

    def test_a_claim_holds_the_rules_lease(self) -> None:
        """The claim (what ``execute`` makes) ends at now + the rule's lease, unless the caller names one."""
        with Gate.open(policy=Policy.from_yaml(RULES), store="memory://lease-claim", sweep=False) as gate:
            gate.add_reviewer("bob")
            t = gate.submit_sync(Action(name="deploy", args={"size": 1}))
            gate.approve_sync(t.id, reviewer="bob")
            claimed = gate.claim_execution_sync(t.id, action=t.action, claim_id="cl_1")
            assert claimed.lease_until is not None and claimed.decided_at is not None
            held = claimed.lease_until - claimed.decided_at
            assert timedelta(minutes=59) < held <= timedelta(hours=1, seconds=5)
