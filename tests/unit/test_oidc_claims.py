"""Single sign-on's identity rule (server/ui/_oidc_claims): the verified claims make a reviewer or a clear refusal."""

from __future__ import annotations

from typing import Any

import pytest

from signoff.policy._spec import OidcLogin
from signoff.server.ui._base import HTTPProblem
from signoff.server.ui._oidc_claims import claim_values, identity, tier_for

TIERS = ["junior", "senior", "admin"]
SPEC = OidcLogin(tiers={"junior": ["support"], "senior": ["sre", "dba"], "admin": ["root"]})


def refusal(claims: dict[str, Any], spec: OidcLogin = SPEC) -> HTTPProblem:
    with pytest.raises(HTTPProblem) as info:
        identity(claims, spec, TIERS)
    return info.value


class TestTierFor:
    def test_the_highest_tier_earned_wins(self) -> None:
        """Values for several tiers give the highest of the policy's order, whatever the map's order."""
        assert "senior" == tier_for(["support", "dba"], SPEC.tiers, TIERS)

    def test_no_value_earns_nothing(self) -> None:
        """Values the map does not name earn no tier."""
        assert tier_for(["sales"], SPEC.tiers, TIERS) is None

    def test_a_tier_the_policy_lacks_is_ignored(self) -> None:
        """A map entry for a tier not (or no longer) in the policy grants nothing."""
        assert tier_for(["x"], {"gone": ["x"]}, TIERS) is None


class TestClaimValues:
    def test_one_string_is_one_value(self) -> None:
        """Some providers send a single role as a string."""
        assert ["sre"] == claim_values({"groups": "sre"}, "groups")

    def test_a_dotted_claim_reaches_into_objects(self) -> None:
        """Keycloak's realm_access.roles and the like."""
        assert ["sre", "x"] == claim_values({"realm_access": {"roles": ["sre", "x"]}}, "realm_access.roles")

    def test_absent_is_none(self) -> None:
        """No claim at all is not an error by itself (the tier check refuses)."""
        assert claim_values({}, "groups") is None

    def test_a_claim_of_another_shape_is_refused(self) -> None:
        """Numbers or objects cannot name groups: refused, naming the claim."""
        with pytest.raises(HTTPProblem) as info:
            claim_values({"groups": [1, 2]}, "groups")
        assert (403, True) == (info.value.status, "'groups' claim is not a list of names" in info.value.message)


class TestIdentity:
    def test_a_mapped_group_makes_a_reviewer(self) -> None:
        """Name from preferred_username, tier from groups."""
        who = identity({"sub": "u1", "preferred_username": "ana", "groups": ["staff", "sre"]}, SPEC, TIERS)
        assert ("ana", "senior", "u1", ("staff", "sre")) == (who.name, who.tier, who.subject, who.values)

    def test_an_unmapped_group_is_refused_naming_the_groups(self) -> None:
        """The page says which values were seen and where an administrator maps them."""
        problem = refusal({"sub": "u1", "preferred_username": "ana", "groups": ["sales"]})
        assert (403, "No reviewer tier for your groups") == (problem.status, problem.title)
        assert "'groups' values (sales)" in problem.message and "oidc.tiers" in problem.message

    def test_no_groups_at_all_is_refused(self) -> None:
        """A token without the claim is an unmapped person, not an error page about claims."""
        assert "(none)" in refusal({"sub": "u1", "preferred_username": "ana"}).message

    def test_a_missing_name_claim_is_refused(self) -> None:
        """Without a name there is no reviewer to be."""
        assert "no 'preferred_username' claim" in refusal({"sub": "u1", "groups": ["sre"]}).message

    def test_another_name_claim_can_be_chosen(self) -> None:
        """name_claim: email names reviewers by address."""
        spec = OidcLogin(tiers={"senior": ["sre"]}, name_claim="email")
        assert "ana@example.com" == identity({"sub": "u1", "email": "ana@example.com", "groups": ["sre"]}, spec,
                                             TIERS).name

    def test_an_invisible_name_is_refused(self) -> None:
        """Control characters or newlines in a name would forge audit lines: refused."""
        assert "visible characters only" in refusal({"sub": "u1", "preferred_username": "ana\nroot",
                                                     "groups": ["sre"]}).message
