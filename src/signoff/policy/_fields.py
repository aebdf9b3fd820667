"""The building blocks of the policy document's models: names, levels, durations, reason codes.

Apart from ``_spec`` so that each section's models (``_spec`` for rules, ``_notifications``
for channels and routes) share them without importing each other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from signoff._model import Level
from signoff.policy._durations import parse_duration

__all__ = ["NOVELTY_FIELDS", "REASON_CODES", "Duration", "LevelField", "Names", "OnTimeout", "ReasonCode", "SpecModel"]

REASON_CODES = ("high_risk_action", "low_confidence", "external_impact", "policy_boundary",
                "novel_action", "mode")
NOVELTY_FIELDS = ("action", "agent", "external", "tags", "args")


def _names(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) and v for v in value):
        if not value:
            # An empty list would match nothing, or (read as "no constraint") everything:
            # either way not what the author meant, so refuse it.
            raise ValueError("must be a name or a non-empty list of names")
        return list(value)
    raise ValueError("must be a name or a list of names")


def _level(value: Any) -> Any:
    if isinstance(value, Level):
        return value
    if isinstance(value, str) and value in Level._value2member_map_:
        return Level(value)
    raise ValueError(f"bad level {value!r}: use one of auto, notify, approve, suggest, deny")


def _duration(value: Any) -> Any:
    return parse_duration(value)


Names = Annotated[list[str] | None, BeforeValidator(_names)]
LevelField = Annotated[Level, BeforeValidator(_level)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
OnTimeout = Literal["escalate", "retry", "abort"]
ReasonCode = Literal["high_risk_action", "low_confidence", "external_impact", "policy_boundary",
                     "novel_action", "mode"]


class SpecModel(BaseModel):
    """Unknown keys are refused, so a typo never silently disables a rule or a route."""

    model_config = ConfigDict(extra="forbid", frozen=True)
