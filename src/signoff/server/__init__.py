"""The signoff server: JSON API under /api/v1 (agents and reviewers) and the reviewer inbox at /."""

from __future__ import annotations

__all__: list[str] = []
