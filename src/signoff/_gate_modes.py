"""The mode in force on the local Gate: read it (``mode``, ``get_mode``), switch it (``set_mode``,
``set_mode_async``; audited, the top tier only when a reviewer asks), and follow a switch made
by any gate on the store (its ``mode`` event).

``evaluate`` reads the mode from memory, so a switch costs the hot path nothing. A mode the
current policy no longer defines counts as off. ``Gate`` inherits these; they live apart so
``gate.py`` stays about gating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signoff._errors import UserError
from signoff._records import Event, Reviewer
from signoff.review import _transitions as tr

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.policy import Policy
    from signoff.store import Store

__all__ = ["Modes"]


class Modes:
    """Mixed into ``Gate``; relies on its policy, store, engine and reviewer lookup."""

    _mode: str | None = None  # the mode in force, kept fresh by the store's events

    if TYPE_CHECKING:
        policy: Policy
        store: Store
        _engine: Engine

        async def _reviewer(self, name: str | None) -> Reviewer: ...

    @property
    def mode(self) -> str | None:
        """The mode in force (``None`` when none is switched on)."""
        return self._mode

    async def get_mode(self) -> str | None:
        """The mode in force; the same as ``mode`` here (a RemoteGate asks its server)."""
        return self._mode

    def get_mode_sync(self) -> str | None:
        return self._mode

    async def _load_mode(self) -> None:
        """At start (engine loop): the mode the store holds, if the policy still defines it."""
        self._mode = await self.store.get_mode()
        if self._mode is not None and self._mode not in self.policy.modes:
            self._mode = None  # a mode the current policy no longer defines is off

    def _mode_event(self, ev: Event) -> None:
        """Follow a switch made by any gate on the store (its ``mode`` audit entry)."""
        mode = ev.data.get("mode")
        self._mode = str(mode) if mode and mode in self.policy.modes else None

    def set_mode(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Switch a mode on (``None``: off). Audited; every gate on the store follows.

        A mode changes what runs without a human for every agent, so a ``reviewer`` must be of the
        policy's top tier (NotAuthorized otherwise) and is recorded as the actor. Without one, the
        call is the operator's own (local code with the store in hand), recorded as ``actor``."""
        self._engine.run_sync(self._set_mode(mode, actor=actor, reviewer=reviewer))

    async def set_mode_async(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Async twin of ``set_mode`` (keep in sync)."""
        await self._engine.run(self._set_mode(mode, actor=actor, reviewer=reviewer))

    async def _set_mode(self, mode: str | None, *, actor: str, reviewer: str | None) -> None:
        if mode is not None and mode not in self.policy.modes:
            raise UserError(f"unknown mode {mode!r}; the policy defines {list(self.policy.modes) or 'no modes'}")
        if reviewer is not None:
            tr.check_mode_switch(await self._reviewer(reviewer), tiers=self.policy.tiers)
            actor = reviewer
        await self.store.set_mode(mode, actor=actor)
        self._mode = mode
