"""The policy document as data: pydantic models that validate it, and build it from Python.

These are the user-facing builders (``signoff.policy.Rule(...)``); the compiled, fast
form lives in ``_compiled``. Unknown keys are refused so a typo never silently
disables a rule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from signoff._model import Level
from signoff.policy._fields import NOVELTY_FIELDS, Duration, LevelField, Names, OnTimeout, ReasonCode
from signoff.policy._fields import SpecModel as _Model
from signoff.policy._notifications import Notifications

__all__ = [
    "Defaults",
    "FloodGuard",
    "Match",
    "Mode",
    "Novelty",
    "OidcLogin",
    "PolicySpec",
    "Reviewers",
    "Rule",
    "RuleOverride",
]

class Match(_Model):
    """What a rule applies to. Every key given must hold; an empty match applies to every action."""

    action: Names = None
    """Exact names or globs (``deploy_*``, ``iam.*``)."""
    tags: list[str] = Field(default_factory=list)
    """All of these tags must be on the action."""
    agent: Names = None
    """Exact agent names or globs."""
    external: bool | None = None
    """Only actions whose ``external`` flag equals this."""


class Reviewers(_Model):
    """Who must approve: at least this tier, and this many distinct people."""

    tier: str | None = None
    count: int = Field(default=1, ge=1, le=20)


class Rule(_Model):
    """One rule: when ``match`` (and ``when``) hold, the action gets at least ``level``."""

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    when: str | None = None
    """A CEL condition over ``action``, ``args``, ``context``."""
    level: LevelField
    reason: ReasonCode | None = None
    message: str | None = None
    """Words for the reviewer; a default is written from the rule when omitted."""
    reviewers: Reviewers | None = None
    timeout: Duration | None = None
    on_timeout: OnTimeout | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    modes: Names = None
    """Only active while one of these modes is on."""
    lease: Duration | None = None
    """How long an approved run of the action may take before it is in doubt (``unknown``, for a
    reviewer to check); the longest of the matched rules' applies (default: ``defaults.lease``)."""


class RuleOverride(_Model):
    """What a mode changes in one rule while it is on."""

    level: LevelField | None = None
    reviewers: Reviewers | None = None
    timeout: Duration | None = None
    on_timeout: OnTimeout | None = None


class Mode(_Model):
    """A mode (``incident``...) overrides thresholds and rules while it is switched on."""

    description: str = ""
    confidence_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    default_level: LevelField | None = None
    rules: dict[str, RuleOverride] = Field(default_factory=dict)


class Novelty(_Model):
    """First-time actions (by fingerprint) need at least ``level`` until a human approved one."""

    level: LevelField = Level.APPROVE
    key: list[str] = Field(default_factory=lambda: ["action"])

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("novelty.key needs at least one field")
        for item in value:
            head = item.split(".", 1)[0]
            if head not in NOVELTY_FIELDS and head != "context":
                raise ValueError(
                    f"unknown novelty key {item!r}: use action, agent, external, tags, args, "
                    "args.NAME or context.NAME"
                )
        return value


class FloodGuard(_Model):
    """An agent submitting far above its own usual rate (a runaway loop, or one bad request buried
    among many) is flagged to reviewers and its tickets are held back from group approval.

    Flagged when, in the last ``window``, it made at least ``min_tickets`` tickets and more than
    ``factor`` times its usual count per window over the ``history`` before (so an agent that is
    always busy is not flagged for being busy). ``defaults.max_pending_per_agent`` stays the hard limit.
    """

    enabled: bool = True
    window: Duration = timedelta(minutes=10)
    history: Duration = timedelta(days=1)
    factor: float = Field(default=5.0, ge=1.0)
    min_tickets: int = Field(default=20, ge=1)


class Defaults(_Model):
    """What applies when no rule says otherwise."""

    level: LevelField = Level.AUTO
    confidence_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    low_confidence_level: LevelField = Level.APPROVE
    """The level an action below the confidence threshold is raised to."""
    timeout: Duration = timedelta(minutes=30)
    on_timeout: OnTimeout = "escalate"
    retries: int = Field(default=3, ge=0, le=100)
    """How many times ``retry`` re-notifies before the ticket aborts."""
    lease: Duration | None = None
    """How long an approved run may take before it is in doubt (default: the gate's
    ``execution_lease``, 15 minutes)."""
    reviewers: Reviewers = Field(default_factory=Reviewers)
    require_reasoning: bool = False
    """Refuse approval tickets whose action has no reasoning."""
    max_pending_per_agent: int = Field(default=1000, ge=1)
    flood_guard: FloodGuard = Field(default_factory=FloodGuard)
    """When an agent's tickets surge far above its own history (see FloodGuard)."""


class OidcLogin(_Model):
    """How an identity provider's people become reviewers (``signoff serve --oidc-issuer``).

    The provider says who someone is and which groups they are in; this section says which
    tier each group earns here, so tiers stay in the policy beside the rules that ask for them.
    Someone whose groups earn no tier is refused at login.
    """

    claim: str = Field(default="groups", min_length=1)
    """The ID token (or userinfo) claim listing the person's groups or roles: a list of strings or one string."""
    tiers: dict[str, list[str]] = Field(default_factory=dict)
    """Tier -> the claim values that earn it; someone with values for several tiers gets the highest."""
    name_claim: str = Field(default="preferred_username", min_length=1)
    """The claim whose value is the reviewer's name in signoff (audit entries, tickets, four eyes)."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    """The scopes asked for; add the one your provider needs to release ``claim`` (often ``groups``)."""

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("must include 'openid' (without it the provider sends no ID token)")
        return value


class PolicySpec(_Model):
    """A whole policy document, as in DESIGN.md."""

    version: Literal[1] = 1
    name: str = ""
    description: str = ""
    defaults: Defaults = Field(default_factory=Defaults)
    tiers: list[str] = Field(default_factory=list)
    novelty: Novelty | None = None
    rules: list[Rule] = Field(default_factory=list)
    modes: dict[str, Mode] = Field(default_factory=dict)
    notifications: Notifications | None = None
    """Where tickets reach reviewers (Slack, email, webhooks, the console)."""
    oidc: OidcLogin | None = None
    """Single sign-on: the claim that maps people to tiers (used when serving with ``--oidc-issuer``)."""
