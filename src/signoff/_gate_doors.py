"""The doors a server needs on a local ``Gate`` beyond the agent and reviewer methods.

``signoff serve`` uses these so that it never reaches into the gate's store or engine:
group commit, execution claims for a runner in another process, reviewer and token
lookups, the audit log, event subscription, readiness, inbox session revocation and the
notification outbox.
They are not part of ``GateLike``: a ``RemoteGate`` has no store to open these doors on.
``Gate`` inherits them; they live apart so ``gate.py`` stays about gating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from signoff._errors import UserError
from signoff._model import Action, Ticket, utcnow
from signoff._records import AuditDraft, NotificationRecord, OutboxClaim, OutboxResult
from signoff.review import _transitions as tr
from signoff.store._records import AuditEntry, Event, Reviewer, TicketQuery, TokenRecord

if TYPE_CHECKING:
    from signoff._engine import Engine
    from signoff.notify._routing import Router
    from signoff.policy import Policy
    from signoff.store import Store

__all__ = ["ServerDoors"]

R = TypeVar("R")


class ServerDoors:
    """Mixed into ``Gate``; relies on its engine, store, instance, ``_submit`` and ``_sync``."""

    execution_lease: timedelta = tr.DEFAULT_LEASE
    """How long a claimed run may take before it is in doubt (set it on a gate to change it): past it with
    no finish, the sweeper marks the run ``unknown`` and a reviewer records whether it happened."""

    if TYPE_CHECKING:
        _engine: Engine
        store: Store
        instance: str
        policy: Policy

        async def _submit(self, actions: list[Action], *, states: list[Any], keys: list[str | None],
                          batch: bool, review: list[bool] | None = None) -> list[Ticket]: ...

        def _sync(self, name: str, coro: Awaitable[R]) -> R: ...

    # What ``signoff serve`` needs beyond the agent and reviewer methods above, so that it never
    # reaches into the gate's store or engine. Not part of ``Gate.remote``'s surface.

    async def offload(self, call: Coroutine[Any, Any, R]) -> R:
        """Await ``call`` (a coroutine of this gate's methods) on the gate's engine thread.

        Why: the SQLite store commits where it is awaited, and a durable commit waits for an
        fsync (0.3-1 ms, more on a busy disk). A server's event loop that awaited it would stall
        every connection meanwhile; offloaded, the loop goes on serving.
        """
        return await self._engine.run_here(call)

    async def submit_together(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                              idempotency_keys: Sequence[str | None] | None = None) -> list[Ticket]:
        """Queue several independent actions in one transaction: one durable commit, each its own ticket.

        Unlike ``submit_many`` the tickets form no batch (each is reviewed alone); it is how a
        server lets concurrent ``submit`` calls share a commit (group commit). All or nothing:
        one refused action (denied, over its agent's quota, a key taken) fails the whole call and
        writes nothing, so the caller can then submit each on its own.
        """
        return await self._submit(list(actions), states=list(states or [None] * len(actions)),
                                  keys=list(idempotency_keys or [None] * len(actions)), batch=False)

    async def claim_execution(self, ticket_id: str, *, action: Action, instance: str | None = None,
                              claim_id: str | None = None, lease: float | timedelta | None = None) -> Ticket:
        """Claim the one run of an approved ticket for ``instance`` (default: this gate's own).

        ``action`` must be what the reviewer approved (Conflict otherwise). ``claim_id`` is the
        caller's (one per attempt to run): the same claim again is answered with the same claim, so
        a caller whose answer was lost may still run; any other claim raises AlreadyExecuted. The
        run has ``lease`` seconds (default ``lease_for``: the policy's, else ``execution_lease``) to
        finish; past it, the sweeper marks it ``unknown`` for a reviewer. A claim left ``executing``
        by another instance turns the ticket ``unknown`` (returned, not raised). ``execute`` is claim,
        run, finish in one call; these two doors serve a runner in another process.
        """
        who = instance or self.instance
        span = None if lease is None else lease if isinstance(lease, timedelta) else timedelta(seconds=lease)
        return await self._engine.run(self.store.update_ticket(
            ticket_id, lambda t: tr.claim_execution(t, action=action, instance=who, now=utcnow(),
                                                    claim_id=claim_id, lease=span or self.lease_for(t))))

    async def runs_in_doubt(self, *, limit: int = 100) -> list[Ticket]:
        """Approved tickets whose run is in doubt (``execution: unknown``), oldest first: the inbox asks
        reviewers "did this run?" about each (``record_execution``)."""
        return await self._engine.run(self.store.in_doubt(limit))

    def lease_for(self, ticket: Ticket) -> timedelta:
        """The run-time budget of ``ticket``'s run: the longest ``lease`` of the rules it matched, else the
        policy's ``defaults.lease``, else ``execution_lease`` (the policy in force when the run is claimed)."""
        spec = self.policy.spec
        leases = [r.lease for r in spec.rules if r.lease is not None and r.name in ticket.rules]
        return max(leases) if leases else spec.defaults.lease or self.execution_lease

    async def finish_execution(self, ticket_id: str, *, ok: bool, error: str = "",
                               claim_id: str | None = None) -> Ticket:
        """Record how the claimed run of ``ticket_id`` ended (``executed`` or ``failed`` with ``error``);
        with its ``claim_id``, the same finish again is answered, not refused (safe to retry)."""
        return await self._engine.run(self.store.update_ticket(
            ticket_id, lambda t: tr.finish_execution(t, ok=ok, error=error, claim_id=claim_id)))

    async def count_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                            agent: str | None = None, action: str | None = None, group: str | None = None,
                            batch: str | None = None) -> int:
        """How many tickets match every filter given (the filters of ``list_tickets``)."""
        q = TicketQuery(status=status if isinstance(status, (str, type(None))) else tuple(status), kind=kind,
                        agent=agent, action=action, group=group, batch=batch)
        return await self._engine.run(self.store.count_tickets(q))

    async def pending_by_tier(self) -> dict[str | None, int]:
        """Pending tickets per tier (None: any reviewer), exact: one grouped read (``/metrics``)."""
        return await self._engine.run(self.store.pending_by_tier())

    async def get_reviewer(self, name: str) -> Reviewer | None:
        """The reviewer account called ``name`` (tier, password hash, disabled), or None."""
        return await self._engine.run(self.store.get_reviewer(name))

    async def find_reviewer(self, *, slack_id: str | None = None, email: str | None = None) -> Reviewer | None:
        """The reviewer a Slack user id or an email address belongs to, or None (notification channels)."""
        return await self._engine.run(self.store.find_reviewer(slack_id=slack_id, email=email))

    async def put_reviewer(self, reviewer: Reviewer, *, actor: str) -> None:
        """Create or update a reviewer account as given (audited as ``actor``); single sign-on keeps a
        reviewer's tier in step with the identity provider through it. An unknown tier is a UserError."""
        tiers = self.policy.tiers
        if reviewer.tier is not None and reviewer.tier not in tiers:
            raise UserError(f"unknown tier {reviewer.tier!r}; the policy's tiers are {list(tiers) or 'none'}")
        await self._engine.run(self.store.put_reviewer(reviewer, actor=actor))

    async def find_token(self, token: str) -> TokenRecord | None:
        """The stored record of API token ``token`` (looked up by its SHA-256), revoked ones included;
        None when nobody issued it. Who may use it (not revoked, an enabled reviewer) is the caller's
        check."""
        from signoff._tokens import hash_token

        return await self._engine.run(self.store.find_token(hash_token(token)))

    async def create_token(self, kind: Literal["agent", "reviewer"], name: str) -> str:
        """A new API token for agent or reviewer ``name``; only its SHA-256 is stored, so keep the
        returned secret now. A reviewer token needs an existing reviewer (UserError otherwise)."""
        from signoff._tokens import hash_token, new_token

        secret = new_token(kind)
        record = TokenRecord(token_hash=hash_token(secret), kind=kind, name=name, created_at=utcnow())
        await self._engine.run(self._put_token(record))
        return secret

    async def _put_token(self, record: TokenRecord) -> None:
        if record.kind == "reviewer" and await self.store.get_reviewer(record.name) is None:
            raise UserError(f"no reviewer {record.name!r}: add them first (`signoff reviewer add`)")
        await self.store.put_token(record)

    async def audit_entries(self, *, after: int = 0, limit: int | None = None,
                            ticket_id: str | None = None) -> list[AuditEntry]:
        """Audit entries after sequence number ``after``, oldest first (only ``ticket_id``'s, if given)."""
        return await self._engine.run(self.store.audit_entries(after=after, limit=limit, ticket_id=ticket_id))

    async def audit_head(self) -> tuple[int, str] | None:
        """The last audit entry's sequence number and hash; None while the log is empty."""
        return await self._engine.run(self.store.audit_head())

    def subscribe(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """``async with gate.subscribe() as queue``: every change committed from then on, as it commits
        (here or, through the store, in another process). Live only: read what came before from
        ``audit_entries`` (an event's ``seq`` is its audit entry's). A reader that falls 10,000 events
        behind loses live events, never blocks the gate."""
        return self.store.notifier.subscribe()

    async def ping(self) -> None:
        """One round trip to the store; raises StoreUnavailable when it does not answer (readiness)."""
        await self._engine.run(self.store.ping())

    async def revoke_session(self, session_hash: str, *, expires_at: datetime) -> None:
        """Record a logged-out inbox session (the SHA-256 of its id) until ``expires_at``, for every
        server on the store."""
        await self._engine.run(self.store.revoke_session(session_hash, expires_at=expires_at))

    async def session_revoked(self, session_hash: str) -> bool:
        """Whether an inbox session was logged out (on any server on the store)."""
        return await self._engine.run(self.store.session_revoked(session_hash))

    def submit_together_sync(self, actions: Sequence[Action], **kw: Any) -> list[Ticket]:
        return self._sync("submit_together_sync", self.submit_together(actions, **kw))

    def runs_in_doubt_sync(self, *, limit: int = 100) -> list[Ticket]:
        return self._sync("runs_in_doubt_sync", self.runs_in_doubt(limit=limit))

    def claim_execution_sync(self, ticket_id: str, *, action: Action, instance: str | None = None,
                             claim_id: str | None = None, lease: float | timedelta | None = None) -> Ticket:
        return self._sync("claim_execution_sync", self.claim_execution(ticket_id, action=action, instance=instance,
                                                                       claim_id=claim_id, lease=lease))

    def finish_execution_sync(self, ticket_id: str, *, ok: bool, error: str = "",
                              claim_id: str | None = None) -> Ticket:
        return self._sync("finish_execution_sync", self.finish_execution(ticket_id, ok=ok, error=error,
                                                                         claim_id=claim_id))

    def count_tickets_sync(self, **kw: Any) -> int:
        return self._sync("count_tickets_sync", self.count_tickets(**kw))

    def get_reviewer_sync(self, name: str) -> Reviewer | None:
        return self._sync("get_reviewer_sync", self.get_reviewer(name))

    # -- the notification outbox (the server's deliverer, the ticket page, the CLI) --------------
    async def init_outbox(self) -> None:
        """Notifications start here: audit entries from now on are expanded (``expand_outbox``)."""
        await self._engine.run(self.store.init_outbox())

    async def expand_outbox(self, router: Router, *, limit: int = 500) -> int:
        """Turn new ticket events (audit entries) into per-channel notifications; entries read."""
        return await self._engine.run(self.store.expand_outbox(router, limit=limit))

    async def claim_notifications(self, *, lease: timedelta, limit: int = 100,
                                  now: datetime | None = None) -> list[OutboxClaim]:
        """Lease due notifications to this server's deliverer (see ``store._outbox``)."""
        return await self._engine.run(self.store.claim_notifications(now=now or utcnow(), lease=lease, limit=limit))

    async def finish_notifications(self, results: Sequence[OutboxResult], audit: Sequence[AuditDraft] = ()) -> None:
        await self._engine.run(self.store.finish_notifications(results, audit))

    async def message_ref(self, ticket_id: str, channel: str) -> str | None:
        return await self._engine.run(self.store.message_ref(ticket_id, channel))

    async def message_tickets(self, channel: str, ref: str) -> list[str]:
        """The tickets a channel's message (``ref``) announced: several when coalesced."""
        return await self._engine.run(self.store.message_tickets(channel, ref))

    async def list_notifications(self, *, ticket_id: str | None = None, status: str | None = None,
                                 channel: str | None = None, limit: int = 100) -> list[NotificationRecord]:
        return await self._engine.run(self.store.list_notifications(ticket_id=ticket_id, status=status,
                                                                    channel=channel, limit=limit))

    async def next_notification(self) -> datetime | None:
        return await self._engine.run(self.store.next_notification())

    def find_reviewer_sync(self, **kw: Any) -> Reviewer | None:
        return self._sync("find_reviewer_sync", self.find_reviewer(**kw))

    def find_token_sync(self, token: str) -> TokenRecord | None:
        return self._sync("find_token_sync", self.find_token(token))

    def create_token_sync(self, kind: Literal["agent", "reviewer"], name: str) -> str:
        return self._sync("create_token_sync", self.create_token(kind, name))

    def audit_entries_sync(self, **kw: Any) -> list[AuditEntry]:
        return self._sync("audit_entries_sync", self.audit_entries(**kw))
