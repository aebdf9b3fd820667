"""The policy's oidc: section (single sign-on's claim-to-tier map): defaults, and mistakes at file:line:col."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from signoff._errors import PolicyError
from signoff.policy import Policy

WritePolicy = Callable[[str], Path]

HEAD = "version: 1\ntiers: [junior, senior]\n"


def problems(write_policy: WritePolicy, section: str) -> list[tuple[int, int, str]]:
    path = write_policy(HEAD + "oidc:\n" + section)
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    return [(p.line, p.column, p.message) for p in info.value.problems]


class TestOidcSection:
    def test_a_good_section_loads_with_its_defaults(self, write_policy: WritePolicy) -> None:
        """Only tiers given: the claim is groups, the name preferred_username, the scopes openid profile email."""
        spec = Policy.load(write_policy(HEAD + "oidc:\n  tiers: {senior: [sre], junior: [support, sales]}\n")).spec.oidc
        assert spec is not None
        assert ("groups", "preferred_username", ["openid", "profile", "email"], {"senior": ["sre"],
                "junior": ["support", "sales"]}) == (spec.claim, spec.name_claim, spec.scopes, spec.tiers)

    def test_no_section_is_none(self, write_policy: WritePolicy) -> None:
        """A policy without the section has none (password login only)."""
        assert Policy.load(write_policy(HEAD)).spec.oidc is None

    def test_an_unknown_tier_is_located_and_named_with_a_hint(self, write_policy: WritePolicy) -> None:
        """A tier the policy does not declare points at its key, with the closest tier."""
        assert [(6, 5, "oidc.tiers: unknown tier 'seniro'; did you mean 'senior'? (tiers: junior, senior)")] == \
            problems(write_policy, "  tiers:\n    senior: [sre]\n    seniro: [ops]\n")

    def test_a_tier_with_no_values_is_refused(self, write_policy: WritePolicy) -> None:
        """An empty list would grant nothing: said where it is."""
        assert [(5, 13, "oidc.tiers.junior: list the values of the 'groups' claim that earn it")] == \
            problems(write_policy, "  tiers:\n    junior: []\n")

    def test_scopes_without_openid_are_refused(self, write_policy: WritePolicy) -> None:
        """Without openid there is no ID token."""
        assert [(5, 11, "oidc.scopes: must include 'openid' (without it the provider sends no ID token)")] == \
            problems(write_policy, "  tiers: {senior: [sre]}\n  scopes: [profile]\n")

    def test_a_misspelt_key_gets_a_suggestion(self, write_policy: WritePolicy) -> None:
        """Unknown keys are refused like everywhere else in the policy."""
        assert [(5, 3, "unknown key 'name_clam' in oidc; did you mean 'name_claim'?")] == \
            problems(write_policy, "  tiers: {senior: [sre]}\n  name_clam: email\n")


def test_the_example_in_docs_oidc_loads(write_policy: WritePolicy) -> None:
    """docs/oidc.md's policy is a real one: it loads, and its groups map as the page says."""
    import re

    page = (Path(__file__).resolve().parents[3] / "docs" / "oidc.md").read_text(encoding="utf-8")
    block = next(m.group(1) for m in re.finditer(r"```yaml\n(.*?)```", page, re.DOTALL))
    spec = Policy.load(write_policy(block)).spec.oidc
    assert spec is not None
    assert {"senior": ["signoff-seniors"], "junior": ["signoff-reviewers", "support-leads"]} == spec.tiers
