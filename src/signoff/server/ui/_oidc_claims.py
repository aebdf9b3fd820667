"""Who an identity provider says someone is, as a signoff reviewer: a name and a tier, or a refusal.

Pure (no I/O), so every refusal is tested without a provider. The policy's ``oidc:`` section
(``signoff.policy._spec.OidcLogin``) names the claim holding the person's groups and which
values earn which tier; the highest tier earned wins. Someone whose values earn none is
refused: an identity provider lets many people in, and only those the policy names review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signoff._text import reveal
from signoff.policy._spec import OidcLogin
from signoff.server.ui._base import HTTPProblem

__all__ = ["Identity", "claim_values", "identity", "tier_for"]

MAX_NAME = 200


@dataclass(frozen=True)
class Identity:
    """A person as the provider vouched for them: their reviewer name and the tier their groups earn."""

    name: str
    tier: str
    subject: str
    values: tuple[str, ...]


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str] | None:
    """The strings of ``claim`` (a list, or one string); a dotted name reaches into nested objects
    (``realm_access.roles``). None when the claim is absent."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise HTTPProblem(403, f"The identity provider's {claim!r} claim is not a list of names, so no tier can "
                           "be read from it. An administrator must point oidc.claim at a claim of strings.",
                      title="Login refused")


def tier_for(values: Sequence[str], mapping: Mapping[str, Sequence[str]], tiers: Sequence[str]) -> str | None:
    """The highest of ``tiers`` (ordered lowest first) that one of ``values`` earns, or None."""
    have = set(values)
    earned = [tier for tier, wanted in mapping.items() if tier in tiers and have.intersection(wanted)]
    return max(earned, key=list(tiers).index) if earned else None


def identity(claims: Mapping[str, Any], spec: OidcLogin, tiers: Sequence[str]) -> Identity:
    """The reviewer the verified ``claims`` make, or an HTTPProblem that says why not, in words."""
    subject = claims.get("sub")
    name = claims.get(spec.name_claim)
    if not isinstance(subject, str) or not subject:
        raise HTTPProblem(403, "The identity provider's answer names no subject ('sub').", title="Login refused")
    if not isinstance(name, str) or not name.strip():
        raise HTTPProblem(
            403, f"The identity provider did not say what to call you: its answer has no {spec.name_claim!r} "
                 "claim. An administrator can ask the provider to release it or choose another claim with "
                 "oidc.name_claim in the policy.", title="Login refused")
    if len(name) > MAX_NAME or name != reveal(name, one_line=True):
        shown = reveal(name, one_line=True, max_len=60)
        raise HTTPProblem(403, f"The name the identity provider gives you ({shown!r}) cannot be a reviewer's "
                               "name here: use visible characters only.",
                          title="Login refused")
    values = claim_values(claims, spec.claim) or []
    tier = tier_for(values, spec.tiers, tiers)
    if tier is None:
        shown = ", ".join(reveal(v, one_line=True, max_len=40) for v in values[:10]) or "none"
        more = f" and {len(values) - 10} more" if len(values) > 10 else ""
        raise HTTPProblem(
            403, f"You signed in at the identity provider as {name}, but none of your {spec.claim!r} values "
                 f"({shown}{more}) gives a reviewer tier here, so you cannot review. Nothing was created. "
                 "An administrator can map one of them to a tier under oidc.tiers in the policy.",
            title="No reviewer tier for your groups")
    return Identity(name=name, tier=tier, subject=subject, values=tuple(values))
