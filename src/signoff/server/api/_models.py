"""Request and response bodies of the JSON API (they are what /api/v1/openapi.json documents).

Responses are built as plain dicts by ``signoff._wire`` and sent with orjson; these models
describe them for the OpenAPI document and for clients in other languages. The records'
shapes (``TicketOut``, ``DecisionOut``...) come from ``signoff._codec``, which also writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signoff._codec import ACTION, AUDIT_ENTRY, DECISION, OUTCOME, REASON, REVIEWERS, TICKET
from signoff._model import DecisionStatus, TicketKind, TicketStatus
from signoff._wire import RECOMMENDATION, REVIEWER_STAT, STAT

TicketStatusName: TypeAlias = TicketStatus
DecisionStatusName: TypeAlias = DecisionStatus
TicketKindName: TypeAlias = TicketKind
LevelName = Literal["auto", "notify", "approve", "suggest", "deny"]
"""``Level``'s values (tests/unit/test_codec.py checks they agree)."""

_SHORT = 200
_TEXT = 20_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- shared pieces -------------------------------------------------------------------------------
class ActionIn(_In):
    """What an agent wants to do. With an agent token, ``agent`` may be left out: it is the token's agent."""

    name: str = Field(min_length=1, max_length=_SHORT, examples=["deploy_production"])
    args: dict[str, Any] = Field(default_factory=dict, examples=[{"service": "api", "version": "1.4.2"}])
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reasoning: str = Field(default="", max_length=_TEXT)
    alternatives: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=100)
    external: bool = False
    agent: str = Field(default="", max_length=_SHORT)
    context: dict[str, Any] = Field(default_factory=dict)


# The records as the API sends them: derived from the dataclasses in signoff._model by the one
# codec (signoff._codec), so a field added to a record is documented here too. Built at run
# time, so the type checker knows them only as models.
if TYPE_CHECKING:
    ActionOut: TypeAlias = BaseModel
    ReasonOut: TypeAlias = BaseModel
    ReviewersOut: TypeAlias = BaseModel
    OutcomeOut: TypeAlias = BaseModel
    TicketOut: TypeAlias = BaseModel
    DecisionOut: TypeAlias = BaseModel
    AuditEntryOut: TypeAlias = BaseModel
    StatOut: TypeAlias = BaseModel
    ReviewerStatOut: TypeAlias = BaseModel
    RecommendationOut: TypeAlias = BaseModel
else:
    ActionOut = ACTION.model
    ReasonOut = REASON.model
    ReviewersOut = REVIEWERS.model
    OutcomeOut = OUTCOME.model
    TicketOut = TICKET.model
    DecisionOut = DECISION.model
    AuditEntryOut = AUDIT_ENTRY.model
    StatOut = STAT.model
    ReviewerStatOut = REVIEWER_STAT.model
    RecommendationOut = RECOMMENDATION.model


# -- agents -------------------------------------------------------------------------------------
class EvaluateIn(_In):
    action: ActionIn


class _WithState(_In):
    state: Any = Field(default=None, description="The agent's state as JSON, stored with the ticket.")
    state_b64: str | None = Field(default=None, max_length=12_000_000,
                                  description="The agent's state as base64 bytes (instead of `state`).")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=_SHORT)

    @model_validator(mode="after")
    def _one_state(self) -> _WithState:
        if self.state is not None and self.state_b64 is not None:
            raise ValueError("give the state as `state` (JSON) or `state_b64` (bytes), not both")
        return self


class SubmitIn(_WithState):
    action: ActionIn


class SubmitItemIn(SubmitIn):
    require_review: bool = Field(default=False, description=(
        "A person must approve this action even where the policy says notify (a tool its author gated). "
        "Never lowers deny or suggest."))


class SubmitManyIn(_In):
    items: list[SubmitItemIn] = Field(min_length=1, max_length=1000)


class GuardIn(SubmitIn):
    wait: float = Field(default=0.0, ge=0.0, le=3600.0,
                        description="Seconds to wait for a decision before answering with the pending ticket.")


class GuardOut(BaseModel):
    """Either the decision (no human needed, or decided within ``wait``) or the pending ticket to wait on."""

    decision: DecisionOut | None
    ticket: TicketOut | None


class WaitOut(BaseModel):
    """``decided`` false: the long-poll ran out first; ask again."""

    decided: bool
    ticket_id: str
    decision: DecisionOut | None


class ResumeOut(WaitOut):
    state: Any = None
    state_b64: str | None = None
    state_kind: Literal["json", "bytes"] | None = None


class CancelIn(_In):
    reason: str = Field(default="", max_length=_TEXT)


class ClaimIn(_In):
    action: ActionIn
    instance: str = Field(min_length=1, max_length=_SHORT)
    claim_id: str | None = Field(default=None, min_length=1, max_length=_SHORT)
    """The caller's id for this attempt to run: the same claim again is answered with the same claim."""
    lease: float | None = Field(default=None, gt=0, le=7 * 86400)
    """Seconds the run may take before it is in doubt (default: the server's execution lease)."""


class FinishIn(_In):
    ok: bool
    error: str = Field(default="", max_length=_TEXT)
    claim_id: str | None = Field(default=None, min_length=1, max_length=_SHORT)
    """The claim's id: the same finish again is answered, not refused."""


class RecordExecutionIn(_In):
    outcome: Literal["ran", "not_run", "reapprove"]
    """What happened to a run in doubt; ``reapprove`` is a new approval to run it again."""
    note: str = Field(default="", max_length=_TEXT)
    reviewer: str | None = Field(default=None, max_length=_SHORT)


# -- reviewers -----------------------------------------------------------------------------------
class TicketPage(BaseModel):
    tickets: list[TicketOut]
    total: int
    limit: int
    offset: int


class ApproveIn(_In):
    args: dict[str, Any] | None = Field(default=None, description="Edited arguments (the policy checks them again).")
    comment: str = Field(default="", max_length=_TEXT)
    reviewer: str | None = Field(default=None, max_length=_SHORT,
                                 description="Optional; must be the token's reviewer when given.")


class RejectIn(_In):
    feedback: str = Field(default="", max_length=_TEXT)
    reviewer: str | None = Field(default=None, max_length=_SHORT)


class DecideIn(_In):
    approve: bool
    feedback: str = Field(default="", max_length=_TEXT)
    reviewer: str | None = Field(default=None, max_length=_SHORT)


class OneDecision(_In):
    ticket_id: str = Field(min_length=1, max_length=_SHORT)
    approve: bool
    feedback: str = Field(default="", max_length=_TEXT)
    args: dict[str, Any] | None = None


class DecideManyIn(_In):
    decisions: list[OneDecision] = Field(min_length=1, max_length=1000)
    reviewer: str | None = Field(default=None, max_length=_SHORT)


class BatchResultOut(BaseModel):
    """Each ticket decided on its own: ``failed`` maps a ticket id to why it was not."""

    decided: list[TicketOut]
    failed: dict[str, str]


class NoteIn(_In):
    note: str = Field(default="", max_length=_TEXT)
    reviewer: str | None = Field(default=None, max_length=_SHORT)


class ModeIn(_In):
    mode: str | None = Field(description="A mode the policy defines, or null to switch modes off.", max_length=_SHORT)
    reviewer: str | None = Field(default=None, max_length=_SHORT,
                                 description="Optional; must be the token's reviewer when given.")


class ModeOut(BaseModel):
    mode: str | None
    modes: list[str]


class TimelinePoint(BaseModel):
    day: str
    approved: int
    decided: int


class LevelChange(BaseModel):
    from_: str = Field(alias="from", description="The level under the policy in force.")
    to: str = Field(description="The level under the candidate.")
    count: int


class Change(BaseModel):
    action: str = Field(description="The action's name (the agent's words).")
    from_level: str = Field(description="The level under the policy in force.")
    from_rules: str = Field(description="Rules matched under the policy in force, comma-separated; - for none.")
    to_level: str = Field(description="The level under the candidate.")
    to_rules: str = Field(description="Rules matched under the candidate.")
    count: int


class ShadowOut(BaseModel):
    """Where a shadow policy (``signoff serve --shadow-policy``) disagreed with the policy in force."""

    candidate: str = Field(description="The candidate policy's file.")
    evaluated: int = Field(description="Actions evaluated under both.")
    disagreed: int = Field(description="Actions whose level or matched rules differed.")
    would_auto: int = Field(description="Requests that waited for a reviewer the candidate would have let run.")
    would_auto_approved: int
    would_auto_rejected: int
    rejected_ids: list[str] = Field(description="Up to 50 of those reviewers rejected.")
    would_ask: int = Field(description="Actions that ran without a human where the candidate asks one.")
    would_deny: int
    dropped: int = Field(description="Disagreements counted but not itemised (the shadow buffer was full).")
    transitions: list[LevelChange]
    changes: list[Change]
    headline: str


class InsightsOut(BaseModel):
    total: int
    rules: list[StatOut]
    actions: list[StatOut]
    recommendations: list[RecommendationOut]
    timeline: dict[str, list[TimelinePoint]]
    shadow: ShadowOut | None = Field(None, description="Present while a shadow policy has recorded figures.")
    reviewers: list[ReviewerStatOut] = Field(
        default_factory=list, description="Per reviewer: your own figures; everyone's for the policy's top tier.")


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at the end.")


class SurgeOut(BaseModel):
    agent: str
    recent: int = Field(description="Its approval tickets in the last window.")
    usual: float = Field(description="Its mean per window over the history before.")
    window_seconds: float
    history_seconds: float
    message: str = Field(description="The sentence reviewers read.")


class VerifyOut(BaseModel):
    ok: bool
    count: int
    first_bad: int | None
    problem: str
    message: str


class ProblemOut(BaseModel):
    """An RFC 9457 problem: ``detail`` says what is wrong; ``error`` names the signoff exception."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    error: str | None = None
    attrs: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
