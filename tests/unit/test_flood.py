"""The flood guard's rule: an agent is flagged against its own history, never by a fixed rate alone."""

from __future__ import annotations

from datetime import timedelta

from signoff.policy._spec import FloodGuard
from signoff.review._flood import held_back, surges

GUARD = FloodGuard(window=timedelta(minutes=10), history=timedelta(days=1), factor=5.0, min_tickets=20)
WINDOWS = 144  # ten-minute windows in a day


def test_a_quiet_agent_that_bursts_is_flagged() -> None:
    """3 a window as usual, then 60 in the last one: flagged, with both figures."""
    found = surges({"loop": (60, 3 * WINDOWS)}, GUARD)
    assert list(found) == ["loop"]
    assert (found["loop"].recent, round(found["loop"].usual, 1)) == (60, 3.0)
    assert "60 tickets in the last 10m, against 3.0 per 10m over the 1d before" in held_back(found["loop"])


def test_a_busy_agent_at_its_usual_rate_is_not() -> None:
    """200 in the last window is normal for an agent that makes 150 a window all day."""
    assert surges({"batch": (200, 150 * WINDOWS)}, GUARD) == {}


def test_the_factor_is_relative_to_the_history() -> None:
    """Just under and just over factor x usual."""
    assert surges({"a": (50, 10 * WINDOWS)}, GUARD) == {}
    assert list(surges({"a": (51, 10 * WINDOWS)}, GUARD)) == ["a"]


def test_a_handful_is_not_a_flood() -> None:
    """A new agent with no history is flagged only from min_tickets on."""
    assert surges({"new": (19, 0)}, GUARD) == {}
    assert list(surges({"new": (20, 0)}, GUARD)) == ["new"]
    assert surges({"new": (20, 0)}, GUARD)["new"].describe() == "20 tickets in the last 10m, none in the 1d before"


def test_disabled() -> None:
    off = GUARD.model_copy(update={"enabled": False})
    assert surges({"loop": (10_000, 0)}, off) == {}
