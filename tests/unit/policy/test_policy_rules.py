"""What each rule feature does to an action's level, checked on both evaluators (compiled and reference)."""


from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from signoff._errors import UserError
from signoff._model import Action, Level, Outcome, ReviewersRequired
from signoff.policy import Policy, format_duration, parse_duration

Decide = Callable[..., Outcome]


def policy(text: str) -> Policy:
    return Policy.from_yaml(textwrap.dedent(text), "test.yaml")


def act(name: str = "x", **fields: Any) -> Action:
    return Action(name=name, **fields)


def codes(outcome: Outcome) -> list[tuple[str, str | None]]:
    return sorted((r.code, r.rule) for r in outcome.reasons)


class TestActionNameMatch:
    POLICY = """
        rules:
          - name: exact
            match: {action: delete_data}
            level: approve
          - name: glob
            match: {action: "deploy_*"}
            level: notify
          - name: listed
            match: {action: [send_payment, "iam.*"]}
            level: suggest
    """

    @pytest.mark.parametrize(
        ("name", "matched"),
        [
            ("delete_data", ("exact",)),
            ("delete_data_now", ()),
            ("deploy_production", ("glob",)),
            ("deploy_", ("glob",)),
            ("redeploy_production", ()),
            ("Deploy_production", ()),
            ("send_payment", ("listed",)),
            ("iam.grant", ("listed",)),
            ("iam", ()),
        ],
    )
    def test_which_rules_match(self, decide: Decide, name: str, matched: tuple[str, ...]) -> None:
        """Exact names match only themselves, globs match the whole name (case-sensitively), lists match any item."""
        assert matched == decide(policy(self.POLICY), act(name)).matched_rules

    def test_no_action_key_matches_every_action(self, decide: Decide) -> None:
        """A rule without ``match.action`` applies to every action name."""
        p = policy("""
            rules:
              - name: everything
                level: notify
        """)

        assert Level.NOTIFY == decide(p, act("anything.at_all")).level

    def test_glob_question_mark_and_brackets(self, decide: Decide) -> None:
        """``?`` matches one character and ``[..]`` one of a set, as in shell globs."""
        p = policy("""
            rules:
              - name: r
                match: {action: ["send_?ail", "[ab]*"]}
                level: approve
        """)

        assert [True, True, False, False] == [
            bool(decide(p, act(n)).matched_rules) for n in ("send_mail", "archive", "send_email", "cleanup")
        ]


class TestTagsMatch:
    POLICY = """
        rules:
          - name: pii-external
            match: {tags: [pii, external]}
            level: approve
    """

    @pytest.mark.parametrize(
        ("tags", "level"),
        [
            ({"pii", "external"}, Level.APPROVE),
            ({"pii", "external", "financial"}, Level.APPROVE),
            ({"pii"}, Level.AUTO),
            (set(), Level.AUTO),
        ],
    )
    def test_all_tags_must_be_present(self, decide: Decide, tags: set[str], level: Level) -> None:
        """A rule's tags match only when every one of them is on the action (extra tags are fine)."""
        assert level == decide(policy(self.POLICY), act(tags=tags)).level


class TestAgentMatch:
    POLICY = """
        rules:
          - name: ops
            match: {agent: ["ops-*", release-bot]}
            level: notify
    """

    @pytest.mark.parametrize(
        ("agent", "level"),
        [("ops-1", Level.NOTIFY), ("release-bot", Level.NOTIFY), ("ops", Level.AUTO), ("", Level.AUTO),
         ("support-bot", Level.AUTO)],
    )
    def test_agent_names_and_globs(self, decide: Decide, agent: str, level: Level) -> None:
        """``match.agent`` takes exact agent names and globs; an action without an agent matches neither."""
        assert level == decide(policy(self.POLICY), act(agent=agent)).level


class TestExternalMatch:
    def test_external_true(self, decide: Decide) -> None:
        """``external: true`` matches only external actions, and its reason defaults to external_impact."""
        p = policy("""
            rules:
              - name: outside
                match: {external: true}
                level: approve
        """)

        assert (Level.APPROVE, [("external_impact", "outside")]) == (
            decide(p, act(external=True)).level, codes(decide(p, act(external=True)))
        )
        assert Level.AUTO == decide(p, act(external=False)).level

    def test_external_false(self, decide: Decide) -> None:
        """``external: false`` matches only internal actions, with the policy_boundary reason."""
        p = policy("""
            rules:
              - name: inside
                match: {external: false}
                level: notify
        """)

        assert [("policy_boundary", "inside")] == codes(decide(p, act(external=False)))
        assert () == decide(p, act(external=True)).matched_rules

    def test_explicit_reason_wins(self, decide: Decide) -> None:
        """A rule's ``reason`` replaces the default reason code."""
        p = policy("""
            rules:
              - name: pay
                match: {action: send_payment}
                level: approve
                reason: high_risk_action
        """)

        assert [("high_risk_action", "pay")] == codes(decide(p, act("send_payment")))


class TestConditions:
    REFUND = """
        rules:
          - name: refund
            match: {action: issue_refund}
            when: "args.amount <= 200.0 && args.sla_violated"
            level: notify
          - name: big-refund
            match: {action: issue_refund}
            when: "args.amount > 200"
            level: approve
    """

    @pytest.mark.parametrize(
        ("amount", "level"),
        [(150, Level.NOTIFY), (150.0, Level.NOTIFY), (200, Level.NOTIFY), (200.0, Level.NOTIFY),
         (200.5, Level.APPROVE), (201, Level.APPROVE), (0, Level.NOTIFY)],
    )
    def test_int_and_float_compare_alike(self, decide: Decide, amount: float, level: Level) -> None:
        """An integer and a float argument compare as a user expects against float and integer literals."""
        action = act("issue_refund", args={"amount": amount, "sla_violated": True})

        assert level == decide(policy(self.REFUND), action).level

    def test_false_condition_is_a_near_miss(self, decide: Decide) -> None:
        """A rule whose name matched but whose condition is false does not apply and is a near miss."""
        outcome = decide(policy(self.REFUND), act("issue_refund", args={"amount": 150, "sla_violated": False}))

        assert (Level.AUTO, (), ("refund", "big-refund")) == (
            outcome.level, outcome.matched_rules, outcome.near_misses
        )

    def test_condition_not_run_when_match_fails(self, decide: Decide) -> None:
        """A rule whose name does not match is neither matched nor a near miss, whatever its condition."""
        outcome = decide(policy(self.REFUND), act("other", args={"amount": 150, "sla_violated": True}))

        assert ((), ()) == (outcome.matched_rules, outcome.near_misses)

    @pytest.mark.parametrize(
        ("when", "action", "matched"),
        [
            ("action.agent == 'support-bot'", act(agent="support-bot"), True),
            ("action.agent == 'support-bot'", act(agent="ops"), False),
            ("'financial' in action.tags", act(tags={"financial"}), True),
            ("action.confidence < 0.5", act(confidence=0.4), True),
            ("action.external", act(external=True), True),
            ("context.env == 'production'", act(context={"env": "production"}), True),
            ("context.env == 'production'", act(context={"env": "staging"}), False),
            ("has(args.force) && args.force", act(args={}), False),
            ("args.items.size() > 2", act(args={"items": [1, 2, 3]}), True),
            ("args.path.startsWith('/etc')", act(args={"path": "/etc/passwd"}), True),
        ],
    )
    def test_condition_variables(self, decide: Decide, when: str, action: Action, matched: bool) -> None:
        """Conditions read ``action`` (name, agent, tags, confidence, external...), ``args`` and ``context``."""
        p = Policy.from_dict({"rules": [{"name": "r", "when": when, "level": "approve"}]})

        assert matched == bool(decide(p, action).matched_rules)


class TestMostRestrictiveWins:
    POLICY = """
        rules:
          - name: notify-deploys
            match: {action: "deploy_*"}
            level: notify
          - name: deny-friday
            match: {action: "deploy_*", tags: [friday]}
            level: deny
          - name: approve-prod
            match: {action: deploy_production}
            level: approve
    """

    def test_most_restrictive_of_all_matches(self, decide: Decide) -> None:
        """Every matching rule applies and the most restrictive level wins, whatever the rule order."""
        outcome = decide(policy(self.POLICY), act("deploy_production", tags={"friday"}))

        assert (Level.DENY, ("notify-deploys", "deny-friday", "approve-prod")) == (
            outcome.level, outcome.matched_rules
        )

    def test_every_match_gives_a_reason(self, decide: Decide) -> None:
        """The outcome names every rule that matched, not only the winner."""
        outcome = decide(policy(self.POLICY), act("deploy_production"))

        assert [("policy_boundary", "approve-prod"), ("policy_boundary", "notify-deploys")] == codes(outcome)
        assert Level.APPROVE == outcome.level

    def test_level_order(self) -> None:
        """Levels are ordered from least to most restrictive."""
        assert [Level.AUTO, Level.NOTIFY, Level.APPROVE, Level.SUGGEST, Level.DENY] == sorted(
            [Level.DENY, Level.AUTO, Level.SUGGEST, Level.NOTIFY, Level.APPROVE]
        )


class TestDefaultLevel:
    def test_default_applies_when_nothing_matches(self, decide: Decide) -> None:
        """With no matching rule the default level applies and the reason says so."""
        p = policy("""
            defaults: {level: notify}
            rules:
              - name: r
                match: {action: other}
                level: deny
        """)
        outcome = decide(p, act("x"))

        assert (Level.NOTIFY, [("default", None)]) == (outcome.level, codes(outcome))

    def test_default_auto_needs_no_reason(self, decide: Decide) -> None:
        """With the default ``auto`` and nothing matching, no reason is given: nothing needs explaining."""
        outcome = decide(policy("rules: []\n"), act("x"))

        assert (Level.AUTO, []) == (outcome.level, codes(outcome))

    def test_default_does_not_add_to_matches(self, decide: Decide) -> None:
        """A matching rule below the default still decides: the default applies only when nothing matches."""
        p = policy("""
            defaults: {level: approve}
            rules:
              - name: reads
                match: {action: "*.read"}
                level: auto
        """)

        assert Level.AUTO == decide(p, act("file.read")).level


class TestModes:
    POLICY = """
        defaults: {level: auto, confidence_threshold: 0.7}
        rules:
          - name: deploys
            match: {action: "deploy_*"}
            level: approve
          - name: freeze
            match: {action: "deploy_*"}
            level: deny
            modes: [change-freeze]
          - name: restarts
            match: {action: restart_pod}
            level: auto
        modes:
          incident:
            confidence_threshold: 0.5
            rules:
              deploys: {level: notify}
          change-freeze:
            default_level: notify
    """

    def test_mode_lowers_threshold(self, decide: Decide) -> None:
        """In incident mode the lower threshold lets a 0.6-confident action through; out of it, a human is asked."""
        p = policy(self.POLICY)
        action = act("restart_pod", confidence=0.6)

        assert (Level.APPROVE, Level.AUTO) == (decide(p, action).level, decide(p, action, mode="incident").level)
        assert [("mode", None), ("policy_boundary", "restarts")] == codes(decide(p, action, mode="incident"))

    def test_mode_overrides_rule_level(self, decide: Decide) -> None:
        """A mode's ``rules:`` override changes the rule's level while the mode is on, and says so."""
        p = policy(self.POLICY)
        outcome = decide(p, act("deploy_staging"), mode="incident")

        assert (Level.APPROVE, Level.NOTIFY) == (decide(p, act("deploy_staging")).level, outcome.level)
        assert [("mode", "deploys"), ("policy_boundary", "deploys")] == codes(outcome)

    def test_rule_limited_to_mode(self, decide: Decide) -> None:
        """A rule with ``modes:`` applies only while one of those modes is on."""
        p = policy(self.POLICY)

        assert (Level.APPROVE, Level.DENY) == (
            decide(p, act("deploy_staging")).level,
            decide(p, act("deploy_staging"), mode="change-freeze").level,
        )
        assert ("deploys",) == decide(p, act("deploy_staging"), mode="incident").matched_rules

    def test_mode_default_level(self, decide: Decide) -> None:
        """A mode's ``default_level`` replaces the default when no rule matches, with a mode reason."""
        outcome = decide(policy(self.POLICY), act("read_logs"), mode="change-freeze")

        assert (Level.NOTIFY, [("mode", None)]) == (outcome.level, codes(outcome))
        assert "change-freeze" == outcome.mode

    def test_unknown_mode(self, decide: Decide) -> None:
        """Evaluating in a mode the policy does not define is a usage error."""
        with pytest.raises(UserError):
            decide(policy(self.POLICY), act("x"), mode="panic")

    def test_mode_raises_threshold(self, decide: Decide) -> None:
        """A mode may also raise the threshold: then more actions need a human, and the mode is named."""
        p = policy("""
            defaults: {confidence_threshold: 0.5}
            modes:
              careful: {confidence_threshold: 0.9}
        """)
        outcome = decide(p, act(confidence=0.8), mode="careful")

        assert (Level.APPROVE, [("low_confidence", None), ("mode", None)]) == (outcome.level, codes(outcome))


class TestConfidence:
    POLICY = """
        defaults: {confidence_threshold: 0.7}
        rules:
          - name: notify-emails
            match: {action: send_email}
            level: notify
          - name: suggest-iam
            match: {action: "iam.*"}
            level: suggest
          - name: deny-drop
            match: {action: drop_database}
            level: deny
    """

    @pytest.mark.parametrize(
        ("name", "confidence", "level"),
        [
            ("send_email", 0.69, Level.APPROVE),
            ("send_email", 0.7, Level.NOTIFY),
            ("send_email", None, Level.NOTIFY),
            ("other", 0.1, Level.APPROVE),
            ("other", 0.0, Level.APPROVE),
            ("iam.grant", 0.1, Level.SUGGEST),
            ("drop_database", 0.1, Level.DENY),
        ],
    )
    def test_raises_never_lowers(self, decide: Decide, name: str, confidence: float | None, level: Level) -> None:
        """Confidence below the threshold raises the level to approve, never lowers suggest or deny."""
        assert level == decide(policy(self.POLICY), act(name, confidence=confidence)).level

    def test_low_confidence_reason(self, decide: Decide) -> None:
        """A raise by low confidence names the low_confidence reason and keeps the rule's reason."""
        outcome = decide(policy(self.POLICY), act("send_email", confidence=0.5))

        assert [("low_confidence", None), ("policy_boundary", "notify-emails")] == codes(outcome)

    def test_low_confidence_message(self) -> None:
        """The low-confidence reason states the confidence and the threshold."""
        outcome = policy(self.POLICY).evaluate(act("send_email", confidence=0.5))
        message = next(r.message for r in outcome.reasons if r.code == "low_confidence")

        assert "confidence 0.5 is below the threshold 0.7" in message

    def test_configurable_raise_level(self, decide: Decide) -> None:
        """``defaults.low_confidence_level`` sets the level a low-confidence action is raised to."""
        p = policy("defaults: {low_confidence_level: suggest}\n")

        assert Level.SUGGEST == decide(p, act(confidence=0.2)).level


class TestNovelty:
    POLICY = """
        novelty: {level: approve, key: [action]}
        rules:
          - name: iam
            match: {action: "iam.*"}
            level: suggest
    """

    def test_novel_action_needs_approval(self, decide: Decide) -> None:
        """An action whose fingerprint no human has approved yet is raised to the novelty level."""
        outcome = decide(policy(self.POLICY), act("rotate_logs"), is_known=lambda fp: False)

        assert (Level.APPROVE, True, "rotate_logs", [("novel_action", None)]) == (
            outcome.level, outcome.novel, outcome.fingerprint, codes(outcome)
        )

    def test_stops_once_known(self, decide: Decide) -> None:
        """Once the fingerprint is approved (known), the same action is no longer novel."""
        approved: set[str] = set()
        p = policy(self.POLICY)
        first = decide(p, act("rotate_logs"), is_known=approved.__contains__)
        approved.add(first.fingerprint)
        second = decide(p, act("rotate_logs"), is_known=approved.__contains__)

        assert [(Level.APPROVE, True), (Level.AUTO, False)] == [(first.level, first.novel),
                                                                (second.level, second.novel)]

    def test_never_lowers(self, decide: Decide) -> None:
        """Novelty does not lower a stricter level (suggest stays suggest)."""
        outcome = decide(policy(self.POLICY), act("iam.grant"), is_known=lambda fp: False)

        assert (Level.SUGGEST, False) == (outcome.level, outcome.novel)

    def test_unchecked_without_memory(self, decide: Decide) -> None:
        """Without ``is_known`` (no store) novelty is not checked, but the fingerprint is still given."""
        outcome = decide(policy(self.POLICY), act("rotate_logs"))

        assert (Level.AUTO, False, "rotate_logs") == (outcome.level, outcome.novel, outcome.fingerprint)

    def test_fingerprint_key(self, decide: Decide) -> None:
        """With ``key: [action, agent]`` the same action by another agent is a different fingerprint."""
        p = policy("novelty: {key: [action, agent]}\n")
        a = decide(p, act("rotate_logs", agent="a")).fingerprint
        b = decide(p, act("rotate_logs", agent="b")).fingerprint

        assert (True, True, False) == (a.startswith("rotate_logs#"), b.startswith("rotate_logs#"), a == b)
        assert a == decide(p, act("rotate_logs", agent="a", args={"x": 1})).fingerprint

    def test_no_novelty_section(self, decide: Decide) -> None:
        """Without a ``novelty`` section nothing is novel and ``is_known`` is never asked."""
        asked: list[str] = []
        outcome = decide(policy("rules: []\n"), act("x"), is_known=lambda fp: asked.append(fp) or False)

        assert (Level.AUTO, False, []) == (outcome.level, outcome.novel, asked)


class TestFailClosed:
    POLICY = """
        rules:
          - name: big
            match: {action: pay}
            when: "args.amount > 100"
            level: approve
          - name: flagged
            match: {action: flag}
            when: "args.flag"
            level: suggest
    """

    @pytest.mark.parametrize(
        ("action", "level"),
        [
            (act("pay", args={}), Level.APPROVE),
            (act("pay", args={"amount": "lots"}), Level.APPROVE),
            (act("pay", args={"amount": None}), Level.APPROVE),
            (act("flag", args={"flag": "yes"}), Level.SUGGEST),
            (act("flag", args={"flag": 1}), Level.SUGGEST),
            (act("pay", args={"amount": 50}), Level.AUTO),
        ],
    )
    def test_unevaluable_condition_matches(self, decide: Decide, action: Action, level: Level) -> None:
        """A missing field, a wrong type or a non-boolean result counts as matched: the gate fails closed."""
        assert level == decide(policy(self.POLICY), action).level

    def test_missing_field_message(self) -> None:
        """The reason names the rule, the condition and the missing field, and says the gate fails closed."""
        outcome = policy(self.POLICY).evaluate(act("pay", args={}))
        expected = (
            "The condition of rule 'big' (`args.amount > 100`) could not be evaluated: missing field 'amount'. "
            "It counts as matched, so the gate fails closed: a human must approve it first."
        )

        assert [expected] == [r.message for r in outcome.reasons]
        assert ("big",) == outcome.matched_rules

    def test_wrong_type_message(self) -> None:
        """A comparison between a string and a number is reported as a wrong type."""
        outcome = policy(self.POLICY).evaluate(act("pay", args={"amount": "lots"}))

        assert "could not be evaluated: wrong type of value" in outcome.reasons[0].message
        assert "fails closed" in outcome.reasons[0].message

    def test_non_boolean_message(self) -> None:
        """A condition that gives a value other than true or false says what it gave."""
        outcome = policy(self.POLICY).evaluate(act("flag", args={"flag": "yes"}))

        assert "could not be evaluated: it gave 'yes', not true or false" in outcome.reasons[0].message

    def test_fail_closed_is_not_a_near_miss(self, decide: Decide) -> None:
        """A rule that failed closed is listed as matched, never as a near miss."""
        outcome = decide(policy(self.POLICY), act("pay", args={}))

        assert (("big",), ()) == (outcome.matched_rules, outcome.near_misses)


class TestReviewers:
    POLICY = """
        tiers: [junior, senior, lead]
        defaults: {reviewers: {count: 1}}
        rules:
          - name: a
            match: {action: deploy}
            level: approve
            reviewers: {tier: junior, count: 3}
          - name: b
            match: {action: deploy}
            level: approve
            reviewers: {tier: senior}
          - name: c
            match: {action: deploy}
            level: notify
            reviewers: {tier: lead, count: 5}
          - name: d
            match: {action: read}
            level: notify
    """

    def test_highest_tier_and_largest_count_at_winning_level(self, decide: Decide) -> None:
        """Among the rules at the winning level the highest tier and the largest count are required."""
        outcome = decide(policy(self.POLICY), act("deploy"))

        assert ReviewersRequired(tier="senior", count=3) == outcome.reviewers

    def test_lower_levels_do_not_count(self, decide: Decide) -> None:
        """A rule below the winning level does not add reviewers (rule c asks for a lead at notify)."""
        outcome = decide(policy(self.POLICY), act("deploy"))

        assert "lead" != outcome.reviewers.tier

    def test_defaults_without_rule_reviewers(self, decide: Decide) -> None:
        """Without reviewers on the deciding rules the defaults apply."""
        assert ReviewersRequired(tier=None, count=1) == decide(policy(self.POLICY), act("read")).reviewers

    def test_defaults_after_low_confidence(self, decide: Decide) -> None:
        """When low confidence (not a rule) decided the level, the default reviewers apply."""
        outcome = decide(policy(self.POLICY), act("read", confidence=0.1))

        assert (Level.APPROVE, ReviewersRequired(tier=None, count=1)) == (outcome.level, outcome.reviewers)

    def test_mode_overrides_reviewers(self, decide: Decide) -> None:
        """A mode can change a rule's reviewers while it is on."""
        p = policy("""
            tiers: [junior, senior]
            rules:
              - name: a
                match: {action: deploy}
                level: approve
                reviewers: {tier: senior, count: 2}
            modes:
              incident:
                rules:
                  a: {reviewers: {tier: junior, count: 1}}
        """)

        assert ReviewersRequired(tier="junior", count=1) == decide(p, act("deploy"), mode="incident").reviewers


class TestTimeouts:
    POLICY = """
        defaults: {timeout: 30m, on_timeout: escalate, retries: 3}
        rules:
          - name: slow
            match: {action: deploy}
            level: approve
            timeout: 2h
            on_timeout: retry
            retries: 5
          - name: fast
            match: {action: deploy}
            level: approve
            timeout: 1s
            on_timeout: abort
          - name: only-on-timeout
            match: {action: restart}
            level: approve
            on_timeout: abort
          - name: plain
            match: {action: read}
            level: approve
    """

    def test_smallest_timeout_with_its_on_timeout(self, decide: Decide) -> None:
        """The smallest timeout among the winning rules applies, with that rule's on_timeout."""
        outcome = decide(policy(self.POLICY), act("deploy"))

        assert (timedelta(seconds=1), "abort", 3) == (outcome.timeout, outcome.on_timeout, outcome.retries)

    def test_rule_order_does_not_matter(self, decide: Decide) -> None:
        """Reordering the rules gives the same timeout and on_timeout."""
        p = Policy.from_dict({**policy(self.POLICY).spec.model_dump(), "rules": [
            r.model_dump(exclude_none=True) for r in reversed(policy(self.POLICY).spec.rules)
        ]})
        outcome = decide(p, act("deploy"))

        assert (timedelta(seconds=1), "abort") == (outcome.timeout, outcome.on_timeout)

    def test_on_timeout_without_timeout(self, decide: Decide) -> None:
        """A rule may change only on_timeout; the default timeout stays."""
        outcome = decide(policy(self.POLICY), act("restart"))

        assert (timedelta(minutes=30), "abort") == (outcome.timeout, outcome.on_timeout)

    def test_defaults(self, decide: Decide) -> None:
        """A rule without timeout settings gets the defaults."""
        outcome = decide(policy(self.POLICY), act("read"))

        assert (timedelta(minutes=30), "escalate", 3) == (outcome.timeout, outcome.on_timeout, outcome.retries)

    def test_retries_travel_with_their_rule(self, decide: Decide) -> None:
        """``retries`` come from the rule that decides the timeout."""
        p = policy("""
            rules:
              - name: slow
                match: {action: deploy}
                level: approve
                timeout: 2h
                on_timeout: retry
                retries: 5
        """)

        assert (timedelta(hours=2), "retry", 5) == (
            decide(p, act("deploy")).timeout, decide(p, act("deploy")).on_timeout, decide(p, act("deploy")).retries
        )

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [("1s", 1), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5),
         ("1w", 604800), (45, 45)],
    )
    def test_duration_forms(self, text: str | int, seconds: float) -> None:
        """Durations are a number and a unit (ms, s, m, h, d, w), combinable; a bare number is seconds."""
        assert timedelta(seconds=seconds) == parse_duration(text)

    @pytest.mark.parametrize("text", ["", "5", "5 minutes", "m", "-1s", "0s", "1x", True])
    def test_bad_durations(self, text: object) -> None:
        """Anything else is refused with the value named."""
        with pytest.raises(ValueError, match="bad duration"):
            parse_duration(text)

    @pytest.mark.parametrize(("seconds", "text"), [(5400, "1h30m"), (1800, "30m"), (0.25, "250ms"), (90000, "1d1h")])
    def test_format_duration(self, seconds: float, text: str) -> None:
        """Durations are shown in their shortest readable form."""
        assert text == format_duration(timedelta(seconds=seconds))
