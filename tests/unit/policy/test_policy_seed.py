"""The policy example of DESIGN.md (the seed's gate) loads and decides as the design says."""


from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from signoff._model import Action, Level, Outcome, ReviewersRequired
from signoff.policy import Policy

Decide = Callable[..., Outcome]

HIGH_RISK = ["delete_data", "send_payment", "deploy_production", "send_external_email"]


class TestSeedGate:
    def test_loads(self, seed_policy: Policy) -> None:
        """The example loads with its four rules, two tiers and the incident mode."""
        assert (["high-risk", "schema-changes", "refunds-under-policy-4-2", "iam"], ["junior", "senior"],
                ("incident",)) == ([r.name for r in seed_policy.spec.rules], seed_policy.tiers, seed_policy.modes)

    @pytest.mark.parametrize("name", HIGH_RISK)
    def test_high_risk_names_need_approval(self, decide: Decide, seed_policy: Policy, name: str) -> None:
        """Each of the four high-risk actions needs approval, with the high_risk_action reason."""
        outcome = decide(seed_policy, Action(name=name, args={"has_schema_change": False}, confidence=0.95))

        assert (Level.APPROVE, ("high-risk",)) == (outcome.level, outcome.matched_rules)
        assert ["high_risk_action"] == [r.code for r in outcome.reasons]

    @pytest.mark.parametrize("name", ["read_logs", "send_internal_email", "delete_dat", "deploy_staging"])
    def test_other_names_are_auto(self, decide: Decide, seed_policy: Policy, name: str) -> None:
        """Actions off the list (and without a schema change) run on their own."""
        action = Action(name=name, args={"has_schema_change": False}, confidence=0.95)

        assert Level.AUTO == decide(seed_policy, action).level

    def test_deploy_without_schema_flag_fails_closed(self, decide: Decide, seed_policy: Policy) -> None:
        """A deploy that does not say whether it changes the schema is treated as one (fail closed)."""
        outcome = decide(seed_policy, Action(name="deploy_staging", confidence=0.95))

        assert (Level.APPROVE, ("schema-changes",), ReviewersRequired(tier="senior", count=2)) == (
            outcome.level, outcome.matched_rules, outcome.reviewers
        )

    @pytest.mark.parametrize(("confidence", "level"), [(0.69, Level.APPROVE), (0.7, Level.AUTO), (0.9, Level.AUTO)])
    def test_confidence_threshold(self, decide: Decide, seed_policy: Policy, confidence: float, level: Level) -> None:
        """Below 0.7 confidence a human is asked; at or above it, not."""
        assert level == decide(seed_policy, Action(name="read_logs", confidence=confidence)).level

    @pytest.mark.parametrize(("confidence", "level"), [(0.49, Level.APPROVE), (0.5, Level.AUTO), (0.6, Level.AUTO)])
    def test_incident_mode_lowers_threshold(self, decide: Decide, seed_policy: Policy, confidence: float,
                                            level: Level) -> None:
        """In incident mode the threshold is 0.5."""
        action = Action(name="read_logs", confidence=confidence)

        assert level == decide(seed_policy, action, mode="incident").level

    def test_incident_mode_explains_itself(self, decide: Decide, seed_policy: Policy) -> None:
        """An action let through only because of incident mode says that the mode changed the outcome."""
        outcome = decide(seed_policy, Action(name="read_logs", confidence=0.6), mode="incident")

        assert ["mode"] == [r.code for r in outcome.reasons]

    @pytest.mark.parametrize("amount", [150, 150.0, 200, 200.0, 0.01])
    def test_refund_under_policy_4_2(self, decide: Decide, seed_policy: Policy, amount: float) -> None:
        """A refund up to 200 with the SLA violated only notifies, whether the amount is an int or a float."""
        action = Action(name="issue_refund", args={"amount": amount, "sla_violated": True}, confidence=0.9,
                        reasoning="order 3 days late; SLA is 2 days; policy 4.2")
        outcome = decide(seed_policy, action)

        assert (Level.NOTIFY, ("refunds-under-policy-4-2",)) == (outcome.level, outcome.matched_rules)

    @pytest.mark.parametrize(
        "args", [{"amount": 250, "sla_violated": True}, {"amount": 150, "sla_violated": False}],
    )
    def test_refund_outside_policy_4_2(self, decide: Decide, seed_policy: Policy, args: dict[str, object]) -> None:
        """Above 200, or without an SLA violation, the refund rule is only a near miss."""
        outcome = decide(seed_policy, Action(name="issue_refund", args=args, confidence=0.9))

        assert (Level.AUTO, (), ("refunds-under-policy-4-2",)) == (
            outcome.level, outcome.matched_rules, outcome.near_misses
        )

    def test_refund_without_sla_field_fails_closed(self, decide: Decide, seed_policy: Policy) -> None:
        """A refund that does not say whether the SLA was violated matches the rule (fail closed)."""
        outcome = decide(seed_policy, Action(name="issue_refund", args={"amount": 150}, confidence=0.9))

        assert (Level.NOTIFY, ("refunds-under-policy-4-2",)) == (outcome.level, outcome.matched_rules)

    def test_schema_change_needs_two_seniors(self, decide: Decide, seed_policy: Policy) -> None:
        """A deploy with a schema change needs two senior approvers within 2h, then aborts."""
        action = Action(name="deploy_staging", args={"has_schema_change": True}, confidence=0.9)
        outcome = decide(seed_policy, action)

        assert (Level.APPROVE, ReviewersRequired(tier="senior", count=2), timedelta(hours=2), "abort") == (
            outcome.level, outcome.reviewers, outcome.timeout, outcome.on_timeout
        )

    def test_production_schema_change_both_rules(self, decide: Decide, seed_policy: Policy) -> None:
        """A production deploy with a schema change matches both rules and takes the stricter reviewers."""
        action = Action(name="deploy_production", args={"has_schema_change": True}, confidence=0.9)
        outcome = decide(seed_policy, action)

        assert (("high-risk", "schema-changes"), ReviewersRequired(tier="senior", count=2)) == (
            outcome.matched_rules, outcome.reviewers
        )

    def test_high_risk_uses_default_timeout(self, decide: Decide, seed_policy: Policy) -> None:
        """The high-risk rule sets no timeout, so the default 30m and escalate apply."""
        outcome = decide(seed_policy, Action(name="send_payment", confidence=0.9))

        assert (timedelta(minutes=30), "escalate") == (outcome.timeout, outcome.on_timeout)

    def test_iam_is_suggest_only(self, decide: Decide, seed_policy: Policy) -> None:
        """IAM actions may only be suggested, and low confidence does not lower that."""
        assert (Level.SUGGEST, Level.SUGGEST) == (
            decide(seed_policy, Action(name="iam.grant_role", confidence=0.9)).level,
            decide(seed_policy, Action(name="iam.grant_role", confidence=0.1)).level,
        )

    def test_novel_action(self, decide: Decide, seed_policy: Policy) -> None:
        """A first-time action needs approval until a human approved one."""
        outcome = decide(seed_policy, Action(name="read_logs", confidence=0.9), is_known=lambda fp: False)

        assert (Level.APPROVE, ["novel_action"]) == (outcome.level, [r.code for r in outcome.reasons])

    def test_external_impact(self, decide: Decide, seed_with_external: Policy) -> None:
        """With an ``external: true`` rule, an external action needs approval for external_impact."""
        outcome = decide(seed_with_external, Action(name="post_tweet", external=True, confidence=0.9))

        assert (Level.APPROVE, ["external_impact"]) == (outcome.level, [r.code for r in outcome.reasons])
