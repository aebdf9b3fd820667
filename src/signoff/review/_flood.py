"""The flood guard: which agents are submitting far above their own usual rate.

Flooding the reviewer is a known attack (OWASP Agentic T10) and a runaway loop looks the same:
hundreds of similar tickets, one of them not like the others, approved together. A fixed
threshold would flag a busy agent for being busy, so each agent is measured against its own
history: its approval tickets in the last window against its mean per window over the history
before it. A surging agent's tickets are flagged to reviewers and held back from group
approval (``held_back``); each can still be decided on its own, and rejecting in bulk stays
possible. The quota (``max_pending_per_agent``) remains the hard limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from signoff.policy._durations import format_duration
from signoff.policy._spec import FloodGuard

__all__ = ["Surge", "held_back", "surges", "windows"]


@dataclass(frozen=True)
class Surge:
    """An agent submitting far above its usual rate."""

    agent: str
    recent: int
    """Its approval tickets in the last window."""
    usual: float
    """Its mean per window over the history before."""
    window: timedelta

    history: timedelta
    """How far back ``usual`` looks."""

    def describe(self) -> str:
        w, h = format_duration(self.window), format_duration(self.history)
        if self.usual == 0:
            return f"{self.recent} tickets in the last {w}, none in the {h} before"
        return f"{self.recent} tickets in the last {w}, against {self.usual:.1f} per {w} over the {h} before"


def windows(guard: FloodGuard, now: datetime) -> tuple[datetime, datetime]:
    """(start of the history, start of the recent window) for a count at ``now``."""
    recent = now - guard.window
    return recent - guard.history, recent


def surges(counts: Mapping[str, tuple[int, int]], guard: FloodGuard) -> dict[str, Surge]:
    """The surging agents, from each agent's (recent, history) ticket counts."""
    if not guard.enabled:
        return {}
    per_history = guard.history / guard.window
    out: dict[str, Surge] = {}
    for agent, (recent, history) in counts.items():
        usual = history / per_history
        if recent >= guard.min_tickets and recent > guard.factor * usual:
            out[agent] = Surge(agent=agent, recent=recent, usual=usual, window=guard.window, history=guard.history)
    return out


def held_back(surge: Surge) -> str:
    """Why a surging agent's ticket is not approved with others."""
    return (f"held back from group approval: agent {surge.agent!r} is submitting far above its usual rate "
            f"({surge.describe()}); decide its tickets one by one")
