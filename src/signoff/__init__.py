"""signoff: a human-in-the-loop approval gate for AI agents.

The public names live here and only here; everything else is internal.
"""

from signoff._allowances import Allowance
from signoff._errors import (
    AlreadyExecuted,
    Conflict,
    Denied,
    Expired,
    InvalidAction,
    NotAllowed,
    NotAuthorized,
    NotFound,
    PolicyError,
    Problem,
    QuotaExceeded,
    Rejected,
    SignoffError,
    StillPending,
    StoreUnavailable,
    Suggested,
    UserError,
)
from signoff._gatelike import GateLike
from signoff._model import Action, Decision, Level, Outcome, Reason, ReviewersRequired, Ticket
from signoff.client import RemoteGate
from signoff.gate import BatchResult, Gate, intent
from signoff.policy import Policy

__all__ = [
    "Action",
    "Allowance",
    "AlreadyExecuted",
    "BatchResult",
    "Conflict",
    "Decision",
    "Denied",
    "Expired",
    "Gate",
    "GateLike",
    "InvalidAction",
    "Level",
    "NotAllowed",
    "NotAuthorized",
    "NotFound",
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "QuotaExceeded",
    "Reason",
    "Rejected",
    "RemoteGate",
    "ReviewersRequired",
    "SignoffError",
    "StillPending",
    "StoreUnavailable",
    "Suggested",
    "Ticket",
    "UserError",
    "intent",
]

__version__ = "0.1.0"
