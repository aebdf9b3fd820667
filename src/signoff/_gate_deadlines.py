"""The local Gate's background work on its engine loop: polling the store for other processes'
events, and sweeping tickets past their deadline (``on_timeout``: escalate, retry or abort).

The sweeper sleeps until the nearest deadline (at most a second), and a submission wakes it
early only when its deadline comes sooner (``deadline_before``). Each expiry is the pure
transition ``review._transitions.timeout`` applied by the store, so several sweepers (one
per server on a shared database) still expire each ticket exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from signoff._model import Ticket, utcnow
from signoff.review import _transitions as tr

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.policy import Policy
    from signoff.store import Store

__all__ = ["Deadlines", "deadline_before"]


def deadline_before(deadline: object, when: float) -> bool:
    """Is ``deadline`` (an ISO time from an event) earlier than unix time ``when``? Unknown: yes."""
    if not isinstance(deadline, str):
        return True
    try:
        return datetime.fromisoformat(deadline).timestamp() < when
    except ValueError:
        return True


class Deadlines:
    """Mixed into ``Gate``; relies on its policy, store, engine and the sweeper's wake-up state."""

    if TYPE_CHECKING:
        policy: Policy
        store: Store
        _engine: Engine
        _poll_interval: float
        _wake_sweeper: asyncio.Event | None
        _next_sweep: float

    async def _poller(self) -> None:
        while True:
            try:
                await self.store.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # a store that is down is reported by the calls that need it
            await asyncio.sleep(self._poll_interval)

    async def _sweeper(self) -> None:
        assert self._wake_sweeper is not None
        lease = getattr(self.store, "sweeper_lease", None)  # shared databases: one server sweeps at a time
        while True:
            # Cleared before sweeping, so a ticket submitted meanwhile wakes the next wait at once.
            # While a sweep runs, any new deadline wakes us (_next_sweep = 0); while we sleep, only
            # one earlier than the planned wake-up does: a submission with a 30-minute timeout
            # costs the sweeper nothing.
            self._wake_sweeper.clear()
            self._next_sweep = 0.0
            try:
                if lease is not None and not await lease():
                    delay = 1.0
                else:
                    await self.sweep()
                    nd = await self.store.next_deadline()
                    delay = 1.0 if nd is None else max(0.0, min(1.0, (nd - utcnow()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = 1.0
            self._next_sweep = time.time() + delay
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel from
                # close() when the event is set at the same moment, and close() then hangs.
                async with asyncio.timeout(delay):
                    await self._wake_sweeper.wait()
            except TimeoutError:
                pass

    async def sweep(self) -> int:
        """Apply ``on_timeout`` to every ticket past its deadline, and mark every claimed run past its
        lease ``unknown``; returns how many due tickets it visited (another sweeper may have handled
        some of them first: each transition still happens once)."""
        tiers = self.policy.tiers
        n = 0
        while True:
            now = utcnow()
            due = await self._engine.run(self.store.due_tickets(now))
            if not due:
                break
            for tid in due:
                await self._expire(tid, tiers)
                n += 1
        seen: set[str] = set()  # a ticket found due that needs no change is not visited twice
        while True:
            due = [tid for tid in await self._engine.run(self.store.due_leases(utcnow())) if tid not in seen]
            if not due:
                return n
            for tid in due:
                seen.add(tid)
                await self._engine.run(self.store.update_ticket(tid, lambda t: tr.lease_expired(t, now=utcnow())))
                n += 1

    async def _expire(self, ticket_id: str, tiers: Sequence[str] | None = None) -> Ticket:
        tiers = self.policy.tiers if tiers is None else tiers
        return await self._engine.run(self.store.update_ticket(
            ticket_id, lambda t: tr.timeout(t, tiers=tiers, now=utcnow())))
