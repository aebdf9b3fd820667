"""The server's deliverer: takes due notifications from the outbox and sends them, at least once.

It runs beside the gate, never in its way: submissions and decisions only write outbox rows
(in their own transaction); this task claims them under a lease, sends each message with a
timeout, at most ``per_channel`` at once per channel (a dead endpoint holds its own slots,
not everyone's), and records the outcome. A failure is retried with exponential backoff and
jitter (``Retry-After`` honoured) up to ``max_attempts``; a permanent one (a 4xx, an unknown
address) is not. Each final failure goes to the server log and the audit log. A server that
dies mid-send lets its lease run out, and a deliverer sends the row again: receivers drop the
duplicate by the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from signoff._errors import DeliveryFailed, NotFound
from signoff._model import Ticket, utcnow
from signoff._records import AuditDraft, Event, OutboxClaim, OutboxResult
from signoff.notify._base import Channel, Links, Message
from signoff.notify._routing import Router

__all__ = ["Deliverer", "Outbox", "backoff"]


class Outbox(Protocol):
    """What the deliverer needs of a gate (``Gate`` has it: ``_gate_doors``); named here so that
    notify/ does not import the gate it serves."""

    def subscribe(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]: ...
    async def next_notification(self) -> datetime | None: ...
    async def expand_outbox(self, router: Router, *, limit: int = 500) -> int: ...
    async def claim_notifications(self, *, lease: timedelta, limit: int = 100,
                                  now: datetime | None = None) -> list[OutboxClaim]: ...
    async def finish_notifications(self, results: Sequence[OutboxResult],
                                   audit: Sequence[AuditDraft] = ()) -> None: ...
    async def get_ticket(self, ticket_id: str) -> Ticket: ...
    async def message_tickets(self, channel: str, ref: str) -> list[str]: ...
    async def message_ref(self, ticket_id: str, channel: str) -> str | None: ...

log = logging.getLogger("signoff.notify")
_WAITING = ("pending", "suggested", "notified")


def backoff(attempt: int, *, base: float = 2.0, cap: float = 3600.0, retry_after: float | None = None) -> float:
    """Seconds before try ``attempt + 1``: base * 2^(attempt-1), capped, with jitter (half to all of it),
    never sooner than the receiver's ``Retry-After``."""
    delay = min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0)
    return float(max(delay, retry_after or 0.0))


class Deliverer:
    """Claims due notifications and sends them through the channels (one per server)."""

    def __init__(self, gate: Outbox, router: Router, channels: Mapping[str, Channel], links: Links, *,
                 per_channel: int = 4,
                 max_in_flight: int = 64, lease: timedelta = timedelta(minutes=2), max_attempts: int = 10,
                 send_timeout: float = 60.0, idle: float = 2.0, retry_base: float = 2.0, retry_cap: float = 3600.0,
                 max_rate: float = 200.0) -> None:
        self.gate = gate
        self.router = router
        self.channels = dict(channels)
        self.links = links
        self.lease = lease
        self.max_attempts = max_attempts
        self.send_timeout = send_timeout
        self.idle = idle
        """The longest wait between looks at the outbox (rows written by other processes)."""
        self.max_in_flight = max_in_flight
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_rate = max_rate
        """Messages started per second at most: delivery shares the server's CPU with the gate, and a
        burst of submissions must not slow down because their notifications go out at the same time."""
        """The first retry waits about this long (then twice as long each time, up to an hour)."""
        self._slots = {name: asyncio.Semaphore(per_channel) for name in self.channels}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.batch_delay = 0.25
        """The least time between two looks at the outbox: a notification waits up to this long more, and a
        burst of submissions shares one expansion and one claim (measured: at 0.05 s the deliverer's own
        transactions cost a burst of submissions ~20% of its rate; at 0.25 s, within the noise)."""
        self.flush_interval = 0.05
        """Outcomes are recorded together this often: one write transaction for many deliveries, so
        the deliverer takes the store's writer lock from submissions and decisions as rarely as it can."""
        self._outcomes: list[tuple[list[OutboxResult], list[AuditDraft]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.quiet_gap = 0.05
        self.max_defer = 1.0
        """While submissions and decisions stream in, claiming waits for a ``quiet_gap`` without one,
        but never longer than ``max_defer``: delivery is the server's side job, so a burst keeps its
        rate and its notifications follow it (under sustained load delivery still runs every second)."""
        self._last_event = 0.0
        self.observe: Callable[[str, Sequence[str]], None] | None = None
        """Told each delivery's channel and the statuses of its rows (the server's metrics)."""

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until cancelled; wakes when the gate commits anything (new rows) or a retry is due."""
        async with self.gate.subscribe() as events:  # the outbox cursor started when the gate opened
            waker = asyncio.create_task(self._wake_on(events))
            try:
                while True:
                    self._wake.clear()  # before reading: an event committed from now on wakes us again
                    await self._yield_to_the_gate()
                    try:
                        started = await self.deliver_due()
                    except Exception:  # the store faltered: keep the server up, try again shortly
                        log.warning("notifications: could not read the outbox; retrying", exc_info=True)
                        started = 0
                    if not started:
                        await self._sleep()
                    # Let events gather: one expansion and one claim for a burst of submissions, not two
                    # write transactions per submission competing with the submissions themselves.
                    await asyncio.sleep(self.batch_delay)
            finally:
                waker.cancel()
                await self.drain()

    async def _wake_on(self, events: asyncio.Queue[Event]) -> None:
        while True:
            await events.get()
            self._last_event = time.monotonic()
            self._wake.set()

    async def _yield_to_the_gate(self) -> None:
        start = time.monotonic()
        while (time.monotonic() - self._last_event < self.quiet_gap
               and time.monotonic() - start < self.max_defer):
            await asyncio.sleep(self.quiet_gap)

    async def _sleep(self) -> None:
        wait = self.idle
        with contextlib.suppress(Exception):
            nxt = await self.gate.next_notification()
            if nxt is not None:
                wait = min(wait, max(0.0, (nxt - utcnow()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait or 0.01)

    async def deliver_due(self) -> int:
        """Expand new events, claim what is due and start sending it; returns how many messages were started."""
        while await self.gate.expand_outbox(self.router) >= 500:
            pass
        room = self.max_in_flight - len(self._tasks)
        if room <= 0:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            return 1
        per_round = max(1, int(self.max_rate * self.batch_delay))
        claims = await self.gate.claim_notifications(lease=self.lease, limit=min(room, per_round))
        groups: dict[str, list[OutboxClaim]] = {}
        for c in claims:
            groups.setdefault(c.coalesce_key or c.id, []).append(c)
        for group in groups.values():
            task = asyncio.create_task(self._deliver(group, claimed=utcnow()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(groups)

    async def drain(self) -> None:
        """Wait for the messages being sent and record their outcomes (tests, and a clean shutdown)."""
        while self._tasks or self._outcomes or (self._flusher is not None and not self._flusher.done()):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if self._flusher is not None:
                await asyncio.gather(self._flusher, return_exceptions=True)
            await self._flush()

    def _record(self, results: list[OutboxResult], audit: list[AuditDraft]) -> None:
        self._outcomes.append((results, audit))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_interval)
        await self._flush()

    async def _flush(self) -> None:
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await self.gate.finish_notifications([r for rs, _ in batch for r in rs], [a for _, au in batch for a in au])
        except Exception as exc:  # sent but not recorded: sent again after the lease (at least once)
            log.warning("notifications: could not record %d deliveries: %s", sum(len(rs) for rs, _ in batch), exc)

    # -- one message ----------------------------------------------------------------------------
    async def _deliver(self, group: Sequence[OutboxClaim], *, claimed: datetime) -> None:
        try:
            results, audit = await self._send(group, claimed)
        except Exception as exc:  # reading the tickets failed: the store faltered; the lease will free the rows
            log.warning("notifications: %s on %s not sent: %s", group[0].event, group[0].channel, exc)
            return
        if self.observe is not None:
            self.observe(group[0].channel, [r.status for r in results])
        self._record(results, audit)

    async def _send(self, group: Sequence[OutboxClaim],
                    claimed: datetime) -> tuple[list[OutboxResult], list[AuditDraft]]:
        first = group[0]
        now = utcnow()
        channel = self.channels.get(first.channel)
        if channel is None:
            return self._failed(group, f"channel {first.channel!r} is no longer configured", permanent=True)
        tickets, skipped = await self._tickets(group)
        if not tickets:
            return [OutboxResult(id=c.id, status="skipped", attempts=c.attempts, due_at=now, detail=why)
                    for c, why in skipped], []
        async with self._slots[first.channel]:
            if utcnow() - claimed > self.lease / 2:
                # Waited for a slot (a slow channel) until the lease is half gone: give the rows back
                # rather than risk another deliverer sending them too.
                return [OutboxResult(id=c.id, status="pending", attempts=c.attempts, due_at=utcnow(),
                                     detail="waiting for a free slot on this channel") for c in group], []
            previous = await self._previous(first, tickets[0][1])
            shown = [t for _, t in tickets]
            if previous is not None:
                # The earlier message may have carried similar tickets (coalesced): the edit shows them
                # all, as they stand now, so one decision does not wipe the others from the message.
                shown += await self._also_in(first.channel, previous, {t.id for t in shown})
            message = Message(id=first.id, type=first.event, at=first.created_at, channel=first.channel,  # type: ignore[arg-type]
                              tickets=tuple(shown), links=self.links, previous=previous,
                              attempt=first.attempts + 1,
                              extra={k: str(v) for k, v in first.extra.items() if v is not None})
            try:
                sent = await asyncio.wait_for(channel.send(message), timeout=self.send_timeout)
            except DeliveryFailed as exc:
                return self._retry_or_fail(group, skipped, str(exc), permanent=exc.permanent,
                                           retry_after=exc.retry_after)
            except TimeoutError:
                return self._retry_or_fail(group, skipped, f"no answer within {self.send_timeout:g} s")
            except Exception as exc:
                return self._retry_or_fail(group, skipped, f"{type(exc).__name__}: {exc}")
        done = utcnow()
        results = [OutboxResult(id=c.id, status="delivered", attempts=c.attempts + 1, due_at=done, delivered_at=done,
                                message_id=first.id, ref=sent.ref, detail=sent.detail) for c, _ in tickets]
        results += [OutboxResult(id=c.id, status="skipped", attempts=c.attempts, due_at=done, detail=why)
                    for c, why in skipped]
        return results, []

    async def _tickets(self, group: Sequence[OutboxClaim]) -> tuple[list[tuple[OutboxClaim, Ticket]],
                                                                     list[tuple[OutboxClaim, str]]]:
        """The tickets to tell about now, and the rows with nothing left to say (and why)."""
        keep: list[tuple[OutboxClaim, Ticket]] = []
        skipped: list[tuple[OutboxClaim, str]] = []
        for c in group:
            try:
                t = await self.gate.get_ticket(c.ticket_id)
            except NotFound:
                skipped.append((c, "the ticket no longer exists"))
                continue
            if c.event == "ticket.created" and t.status not in _WAITING:
                skipped.append((c, f"{t.status} before it was sent"))
            elif c.event == "ticket.expiring" and (t.status != "pending" or t.deadline is None
                                                   or t.deadline.isoformat() != c.extra.get("deadline")):
                skipped.append((c, "no longer expiring (decided, or its deadline moved)"))
            else:
                keep.append((c, t))
        return keep, skipped

    async def _also_in(self, channel: str, ref: str, known: set[str]) -> list[Ticket]:
        out = []
        for ticket_id in await self.gate.message_tickets(channel, ref):
            if ticket_id not in known:
                with contextlib.suppress(NotFound):
                    out.append(await self.gate.get_ticket(ticket_id))
        return out

    async def _previous(self, claim: OutboxClaim, ticket: Ticket) -> str | None:
        if claim.event == "ticket.created":
            return None
        return await self.gate.message_ref(ticket.id, claim.channel)

    def _retry_or_fail(self, group: Sequence[OutboxClaim], skipped: Sequence[tuple[OutboxClaim, str]], error: str, *,
                       permanent: bool = False,
                       retry_after: float | None = None) -> tuple[list[OutboxResult], list[AuditDraft]]:
        attempts = group[0].attempts + 1
        gone = {c.id for c, _ in skipped}
        live = [c for c in group if c.id not in gone]
        done = utcnow()
        skips = [OutboxResult(id=c.id, status="skipped", attempts=c.attempts, due_at=done, detail=why)
                 for c, why in skipped]
        if permanent or attempts >= self.max_attempts:
            results, audit = self._failed(live, error, permanent=permanent)
            return results + skips, audit
        delay = backoff(attempts, base=self.retry_base, cap=self.retry_cap, retry_after=retry_after)
        log.info("notifications: %s to %s failed (try %d of %d), again in %.0f s: %s", group[0].event,
                 group[0].channel, attempts, self.max_attempts, delay, error)
        return [OutboxResult(id=c.id, status="pending", attempts=attempts, due_at=done + timedelta(seconds=delay),
                             detail=error) for c in live] + skips, []

    def _failed(self, group: Sequence[OutboxClaim], error: str, *,
                permanent: bool) -> tuple[list[OutboxResult], list[AuditDraft]]:
        done = utcnow()
        why = error if permanent else f"{error} (gave up after {self.max_attempts} tries)"
        for c in group:
            log.warning("notifications: %s about %s to %s failed: %s", c.event, c.ticket_id, c.channel, why)
        return ([OutboxResult(id=c.id, status="failed", attempts=c.attempts + 1, due_at=done, detail=why)
                 for c in group],
                [AuditDraft(kind="notification_failed", actor="signoff", ticket_id=c.ticket_id,
                            data={"notification": c.id, "event": c.event, "channel": c.channel, "error": why,
                                  "attempts": c.attempts + 1})
                 for c in group])

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.drain()
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.aclose()
