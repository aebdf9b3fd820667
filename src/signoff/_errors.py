"""The one exception hierarchy of signoff.

Callers pick the level to catch::

    SignoffError                 anything signoff raises on purpose
    ├── PolicyError              a policy file or spec is invalid (has .problems with file:line:col)
    ├── UserError                the API was misused (wrong arguments, sync call inside a loop)
    ├── InvalidAction            an action or submission breaks a rule of the gate (e.g. no reasoning)
    ├── NotFound                 no ticket / reviewer with that id
    ├── Conflict                 a second decision on a decided ticket, an idempotency key reused
    ├── NotAuthorized            who asked may not do this (tier, four eyes, own ticket, token)
    ├── QuotaExceeded            too many pending tickets for one agent
    ├── StoreUnavailable         the store cannot be reached or written: the gate fails closed
    ├── DeliveryFailed           a notification channel could not deliver (retried unless .permanent)
    ├── StillPending             a wait ran out before anyone decided (also a TimeoutError)
    └── NotAllowed               control flow: the action must not run now
        ├── Denied               the policy forbids the action outright
        ├── Suggested            the action may only be suggested; a human executes it
        ├── Rejected             a reviewer rejected it (.feedback holds their words)
        ├── Expired              nobody decided in time, or the ticket was aborted/cancelled
        └── AlreadyExecuted      this approval already ran (an approved action runs at most once)

``SignoffError`` and ``UserError`` are defined in ``_errors_root`` (so the model can raise them
without importing this module) and re-exported here.

``NotAllowed`` is a signal, not a failure: ``gated`` tools raise it so that the
agent's code can tell the model what happened, which is why it carries the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signoff._errors_root import SignoffError, UserError

if TYPE_CHECKING:
    from signoff._model import Decision

__all__ = [
    "AlreadyExecuted",
    "Conflict",
    "DeliveryFailed",
    "Denied",
    "Expired",
    "InvalidAction",
    "NotAllowed",
    "NotAuthorized",
    "NotFound",
    "PolicyError",
    "Problem",
    "QuotaExceeded",
    "Rejected",
    "SignoffError",
    "StillPending",
    "StoreUnavailable",
    "Suggested",
    "UserError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy, where it is."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyError(SignoffError):
    """Raised when a policy cannot be loaded; ``problems`` lists every one found, located."""

    problems: list[Problem]

    def __init__(self, message: str = "", *, problems: list[Problem] | None = None) -> None:
        problems = list(problems or [])
        if not message:
            message = "\n".join(str(p) for p in problems) or "invalid policy"
        super().__init__(message, problems=problems)

    @property
    def file(self) -> str:
        return self.problems[0].file if self.problems else ""

    @property
    def line(self) -> int:
        return self.problems[0].line if self.problems else 0

    @property
    def column(self) -> int:
        return self.problems[0].column if self.problems else 0


class InvalidAction(SignoffError):
    """Raised when an action or a submission breaks a rule of the gate (e.g. a missing reasoning)."""


class NotFound(SignoffError):
    """Raised when a ticket, reviewer or token does not exist."""


class Conflict(SignoffError):
    """Raised on a second decision for a decided ticket, or an idempotency key reused for another action."""


class NotAuthorized(SignoffError):
    """Raised when the caller may not do this: wrong tier, own ticket, same approver twice, bad token."""


class QuotaExceeded(SignoffError):
    """Raised when an agent already has as many pending tickets as its quota allows."""


class StoreUnavailable(SignoffError):
    """Raised when the store cannot be reached or written; nothing that needs a human runs."""


class DeliveryFailed(SignoffError):
    """A notification channel could not deliver. Retried with backoff unless ``permanent`` (a 4xx, a bad address)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message, permanent=permanent, retry_after=retry_after)
        self.permanent = permanent
        self.retry_after = retry_after


def public_message(exc: SignoffError) -> str:
    """The words of ``exc`` that anyone may be shown (an API answer, a page, a batch result).

    A StoreUnavailable's own message can name the database (user, host, name) or a file path,
    which belongs in the operator's log only: it is told in general words instead.
    """
    if isinstance(exc, StoreUnavailable):
        if "may or may not have been written" in str(exc):  # the caller must know the outcome is unknown
            return ("the store became unavailable: the connection failed during COMMIT, so the change may or "
                    "may not have been written")
        return "the store is unavailable, so nothing was done (the gate fails closed)"
    return str(exc) or type(exc).__name__


class StillPending(SignoffError, TimeoutError):
    """Raised by ``wait(timeout=...)`` when the time given passes before a decision; ``ticket_id`` says which."""


class NotAllowed(SignoffError):
    """Control flow: the action must not run now. ``decision`` tells why."""

    decision: Decision | None

    def __init__(self, message: str, *, decision: Decision | None = None, **attrs: Any) -> None:
        super().__init__(message, decision=decision, **attrs)


class Denied(NotAllowed):
    """Raised when the policy forbids the action outright (level ``deny``)."""


class Suggested(NotAllowed):
    """Raised when the action may only be suggested (level ``suggest``): a human executes it."""


class Rejected(NotAllowed):
    """Raised when a reviewer rejected the action; ``feedback`` holds their words to the agent."""

    @property
    def feedback(self) -> str:
        return self.decision.feedback if self.decision is not None else ""


class Expired(NotAllowed):
    """Raised when nobody decided in time, or the ticket was aborted or cancelled."""


class AlreadyExecuted(NotAllowed):
    """Raised when an approval that already ran (or may have run) is used again."""
