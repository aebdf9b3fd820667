"""A policy rule as the compiled policy keeps it: what ``_compiled`` evaluates and ``_decide`` generates code from.

Its own module so that the generator and the compiled policy both depend on it, not on each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from signoff._model import Level, Reason
from signoff.policy._cel import Condition
from signoff.policy._fields import OnTimeout
from signoff.policy._spec import Reviewers

__all__ = ["_CRule"]


@dataclass(slots=True)
class _CRule:
    index: int
    name: str
    level: Level
    code: str
    tags: frozenset[str]
    agent_re: re.Pattern[str] | None
    agents: tuple[str, ...]
    external: bool | None
    cond: Condition | None
    reviewers: Reviewers | None
    timeout: timedelta | None
    on_timeout: OnTimeout | None
    retries: int | None
    reason: Reason
    mode_reason: Reason | None
