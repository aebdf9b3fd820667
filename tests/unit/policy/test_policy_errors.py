"""Every way a policy can be wrong gets a PolicyError naming file, line, column and what is wrong."""


from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from signoff._errors import PolicyError, Problem
from signoff._model import Action, Level
from signoff.policy import Policy

WritePolicy = Callable[[str], Path]


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert 1 == len(problems), problems
    return problems[0]


class TestUnknownKey:
    def test_suggests_closest_key(self, write_policy: WritePolicy) -> None:
        """A misspelt rule key is located at the key and the closest valid key is suggested."""
        path = write_policy(
            "rules:\n"
            "  - name: a\n"
            "    level: approve\n"
            "    whne: args.x\n"
        )
        expected = Problem(str(path), 4, 5, "unknown key 'whne' in rules[0]; did you mean 'when'?")

        assert expected == only_problem(path)

    def test_misspelt_required_key_reports_both(self, write_policy: WritePolicy) -> None:
        """A misspelt ``level`` is reported as unknown (with the fix) and the rule as lacking a level."""
        path = write_policy(
            "version: 1\n"
            "rules:\n"
            "  - name: a\n"
            "    levle: approve\n"
        )
        expected = [
            Problem(str(path), 3, 5, "rules[0] needs the key 'level'"),
            Problem(str(path), 4, 5, "unknown key 'levle' in rules[0]; did you mean 'level'?"),
        ]

        assert expected == sorted(problems_of(path), key=lambda p: (p.line, p.column))

    def test_nested_unknown_key(self, write_policy: WritePolicy) -> None:
        """An unknown key inside ``match`` names the nested place and suggests the closest key."""
        path = write_policy(
            "rules:\n"
            "  - name: a\n"
            "    match: {action: x, tag: [pii]}\n"
            "    level: approve\n"
        )
        expected = Problem(str(path), 3, 24, "unknown key 'tag' in rules[0].match; did you mean 'tags'?")

        assert expected == only_problem(path)

    def test_top_level_unknown_key(self, write_policy: WritePolicy) -> None:
        """An unknown top-level key is refused, so a typo never silently disables a section."""
        path = write_policy("version: 1\nrule:\n  - name: a\n    level: deny\n")
        expected = Problem(str(path), 2, 1, "unknown key 'rule' in the policy; did you mean 'rules'?")

        assert expected == only_problem(path)


class TestBadValues:
    def test_bad_level(self, write_policy: WritePolicy) -> None:
        """A level that is not on the spectrum is located at the value, listing the valid ones."""
        path = write_policy("rules:\n  - name: a\n    level: maybe\n")
        expected = Problem(
            str(path), 3, 12,
            "rules[0].level: bad level 'maybe': use one of auto, notify, approve, suggest, deny",
        )

        assert expected == only_problem(path)

    def test_bad_duration(self, write_policy: WritePolicy) -> None:
        """A timeout that is not a number and a unit is located at the value, with examples."""
        path = write_policy("rules:\n  - name: a\n    level: approve\n    timeout: 5 minutes\n")
        expected = Problem(
            str(path), 4, 14,
            "rules[0].timeout: bad duration '5 minutes': write a number and a unit, like 30s, 30m, 2h or 1d",
        )

        assert expected == only_problem(path)

    def test_bad_default_duration(self, write_policy: WritePolicy) -> None:
        """A bad duration under ``defaults`` is located in the flow mapping."""
        path = write_policy("defaults: {level: auto, timeout: soon}\n")
        problem = only_problem(path)

        assert (str(path), 1, 34) == (problem.file, problem.line, problem.column)
        assert problem.message.startswith("defaults.timeout: bad duration 'soon'")

    def test_threshold_out_of_range(self, write_policy: WritePolicy) -> None:
        """A confidence threshold above 1 is refused at its value."""
        path = write_policy("defaults:\n  confidence_threshold: 1.5\n")
        problem = only_problem(path)

        assert (2, 25) == (problem.line, problem.column)
        assert problem.message.startswith("defaults.confidence_threshold:")

    def test_unsupported_version(self, write_policy: WritePolicy) -> None:
        """Only version 1 exists; another version says so."""
        path = write_policy("version: 2\n")
        expected = Problem(str(path), 1, 10, "version: unsupported policy version: only version 1 exists")

        assert expected == only_problem(path)

    def test_empty_name_list(self, write_policy: WritePolicy) -> None:
        """An empty list of action names is refused rather than matching everything or nothing."""
        path = write_policy("rules:\n  - name: a\n    match: {action: []}\n    level: deny\n")
        expected = Problem(str(path), 3, 21, "rules[0].match.action: must be a name or a non-empty list of names")

        assert expected == only_problem(path)


class TestConditionSyntax:
    def test_points_into_quoted_expression(self, write_policy: WritePolicy) -> None:
        """A CEL syntax error in a quoted condition points at the bad token inside the file line."""
        line = '    when: "args.amount > > 3"'
        path = write_policy(f"rules:\n  - name: a\n{line}\n    level: approve\n")
        problem = only_problem(path)

        assert (str(path), 3, 26) == (problem.file, problem.line, problem.column)
        assert ">" == line[problem.column - 1]
        assert 2 == line[: problem.column].count(">"), "it points at the second, extraneous '>'"
        assert "rules[0] (a) when: invalid CEL condition: Syntax error: unexpected '>'" == problem.message

    def test_points_into_plain_expression(self, write_policy: WritePolicy) -> None:
        """A CEL syntax error in an unquoted condition points at the bad token."""
        path = write_policy("rules:\n  - name: a\n    when: args.amount > > 3\n    level: approve\n")
        problem = only_problem(path)

        assert (3, 25) == (problem.line, problem.column)
        assert "invalid CEL condition" in problem.message

    def test_points_into_block_expression(self, write_policy: WritePolicy) -> None:
        """In a ``|`` block the error points at the line and column of the token in the file."""
        text = (
            "rules:\n"
            "  - name: a\n"
            "    when: |\n"
            "      args.amount > 3 &&\n"
            "        args.x == )\n"
            "    level: approve\n"
        )
        path = write_policy(text)
        problem = only_problem(path)

        assert (5, 19) == (problem.line, problem.column)
        assert ")" == text.splitlines()[problem.line - 1][problem.column - 1]
        assert "rules[0] (a) when: invalid CEL condition: Syntax error: unexpected ')'" == problem.message

    def test_unknown_variable(self, write_policy: WritePolicy) -> None:
        """A condition may only read action, args and context; another name is pointed at."""
        path = write_policy("rules:\n  - name: a\n    when: amount > 3\n    level: approve\n")
        expected = Problem(
            str(path), 3, 11,
            "rules[0] (a) when: unknown variable 'amount' in condition: use action, args or context",
        )

        assert expected == only_problem(path)

    def test_a_macros_loop_variable_is_not_an_unknown_variable(self, write_policy: WritePolicy) -> None:
        """``exists``/``all`` bind their own variable; the policy loads and the macro decides."""
        path = write_policy("rules:\n  - name: a\n    when: args.items.exists(i, i > 3)\n    level: approve\n"
                            "  - name: b\n    when: args.tags.all(t, t.startsWith('ok')) && size(args.tags) > 0\n"
                            "    level: deny\n")
        pol = Policy.load(path)
        cases = ({"items": [1, 5], "tags": ["no"]}, {"items": [1], "tags": ["ok1", "ok2"]}, {"items": [], "tags": []})
        levels = [pol.evaluate(Action(name="x", args=a)).level for a in cases]
        assert [Level.APPROVE, Level.DENY, Level.AUTO] == levels


class TestCrossReferences:
    def test_unknown_tier(self, write_policy: WritePolicy) -> None:
        """A reviewers tier not declared under ``tiers`` is refused with the closest tier suggested."""
        path = write_policy(
            "tiers: [junior, senior]\n"
            "rules:\n"
            "  - name: a\n"
            "    level: approve\n"
            "    reviewers: {tier: senoir, count: 2}\n"
        )
        expected = Problem(str(path), 5, 23, "unknown tier 'senoir'; did you mean 'senior'? (tiers: junior, senior)")

        assert expected == only_problem(path)

    def test_tier_without_tiers(self, write_policy: WritePolicy) -> None:
        """A tier used when no tiers are declared says to add a ``tiers:`` list."""
        path = write_policy("rules:\n  - name: a\n    level: approve\n    reviewers: {tier: senior}\n")
        problem = only_problem(path)

        assert (4, 23) == (problem.line, problem.column)
        assert "add a 'tiers:' list" in problem.message

    def test_duplicate_rule_name(self, write_policy: WritePolicy) -> None:
        """A second rule with the same name is located at its name and points to the first."""
        path = write_policy(
            "rules:\n"
            "  - name: a\n"
            "    level: approve\n"
            "  - name: a\n"
            "    level: deny\n"
        )
        expected = Problem(str(path), 4, 11, "duplicate rule name 'a' (first used by rules[0])")

        assert expected == only_problem(path)

    def test_rule_names_unknown_mode(self, write_policy: WritePolicy) -> None:
        """A rule restricted to a mode that is not defined is refused."""
        path = write_policy(
            "rules:\n"
            "  - name: a\n"
            "    level: approve\n"
            "    modes: [incidnet]\n"
            "modes:\n"
            "  incident: {confidence_threshold: 0.5}\n"
        )
        expected = Problem(str(path), 4, 12, "rule 'a' names mode 'incidnet', which is not defined under 'modes:'")

        assert expected == only_problem(path)

    def test_mode_overrides_unknown_rule(self, write_policy: WritePolicy) -> None:
        """A mode overriding a rule that does not exist is located at the key, with the closest name."""
        path = write_policy(
            "rules:\n"
            "  - name: high-risk\n"
            "    level: approve\n"
            "modes:\n"
            "  incident:\n"
            "    rules:\n"
            "      high-rsk: {level: notify}\n"
        )
        expected = Problem(
            str(path), 7, 7, "mode 'incident' overrides unknown rule 'high-rsk'; did you mean 'high-risk'?",
        )

        assert expected == only_problem(path)

    def test_all_problems_at_once(self, write_policy: WritePolicy) -> None:
        """Independent problems are all reported together, so one run of ``policy check`` shows them all."""
        path = write_policy(
            "tiers: [senior]\n"
            "rules:\n"
            "  - name: a\n"
            "    level: approve\n"
            "    reviewers: {tier: lead}\n"
            "  - name: a\n"
            "    level: deny\n"
        )
        expected = [(5, 23), (6, 11)]

        assert expected == [(p.line, p.column) for p in problems_of(path)]


class TestDocument:
    def test_yaml_syntax_error(self, write_policy: WritePolicy) -> None:
        """A YAML syntax error is a located PolicyError, not a parser traceback."""
        path = write_policy("rules:\n  - name: a\n    level: [approve\n")
        expected = Problem(
            str(path), 4, 1,
            "YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got '<stream end>'",
        )

        assert expected == only_problem(path)

    def test_yaml_bad_indentation(self, write_policy: WritePolicy) -> None:
        """A mapping value where none may stand is located where YAML noticed it."""
        path = write_policy("rules:\n  - name: a\n    level: approve\n   bad: x\n")
        problem = only_problem(path)

        assert (str(path), 4) == (problem.file, problem.line)
        assert problem.message.startswith("YAML syntax error:")

    def test_duplicate_yaml_key(self, write_policy: WritePolicy) -> None:
        """A key given twice is refused (YAML loaders silently keep the last one)."""
        path = write_policy("defaults:\n  level: auto\n  level: approve\n")
        expected = Problem(str(path), 3, 3, "duplicate key 'level'")

        assert expected == only_problem(path)

    def test_empty_file(self, write_policy: WritePolicy) -> None:
        """An empty file is an error, not a policy that allows everything."""
        path = write_policy("")
        expected = Problem(str(path), 1, 1, "the policy file is empty")

        assert expected == only_problem(path)

    def test_comments_only(self, write_policy: WritePolicy) -> None:
        """A file with only comments is empty too."""
        path = write_policy("# rules to come\n")
        expected = Problem(str(path), 1, 1, "the policy file is empty")

        assert expected == only_problem(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file names the file, with no line or column."""
        path = tmp_path / "nope.yaml"
        expected = Problem(str(path), 0, 0, "no such policy file")

        assert expected == only_problem(path)

    def test_not_a_mapping(self, write_policy: WritePolicy) -> None:
        """A document that is a list, not a mapping, says what a policy must be."""
        path = write_policy("- name: a\n  level: deny\n")
        expected = Problem(str(path), 1, 1, "a policy must be a mapping (version, defaults, rules...)")

        assert expected == only_problem(path)

    def test_error_attributes(self, write_policy: WritePolicy) -> None:
        """PolicyError carries the first problem's location as attributes and all problems in its text."""
        path = write_policy("rules:\n  - name: a\n    level: maybe\n")
        with pytest.raises(PolicyError) as info:
            Policy.load(path)

        assert (str(path), 3, 12) == (info.value.file, info.value.line, info.value.column)
        assert str(info.value).startswith(f"{path}:3:12: rules[0].level: bad level 'maybe'")

    def test_from_yaml_uses_given_filename(self) -> None:
        """Text loaded with ``from_yaml`` is located under the filename given."""
        with pytest.raises(PolicyError) as info:
            Policy.from_yaml("rules:\n  - name: a\n    level: maybe\n", "inline.yaml")

        assert ("inline.yaml", 3, 12) == (info.value.file, info.value.line, info.value.column)

    def test_python_dict_errors_name_the_path(self) -> None:
        """A policy built from a dict has no lines, but the problem still names the key path."""
        with pytest.raises(PolicyError) as info:
            Policy.from_dict({"rules": [{"name": "a", "level": "maybe"}]})

        assert info.value.problems[0].message.startswith("rules[0].level: bad level 'maybe'")
