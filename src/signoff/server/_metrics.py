"""``GET /metrics``: this server's counters in the Prometheus text format (prometheus-client).

Why counted here and not from the store's events: on a shared PostgreSQL every server sees
every server's events, so counting events would count each ticket once per server. Each
server counts what *its own* gate wrote (a submission it stored, a decision it committed, a
timeout its sweeper applied), so the series of several servers add up: scrape each server
(one target per ``signoff serve``) and ``sum`` across them. The pending gauge is the
exception: it is read from the shared store at scrape time (``max`` across servers).

How: ``instrument(gate, metrics)`` wraps the gate's store's two write methods and its
``evaluate`` on that one instance (a closure each; no lock beyond prometheus-client's own),
and reads the ``Change`` a transition returned once its transaction committed. A write that
failed counts nothing but a store error.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from signoff._errors import NotAuthorized, StoreUnavailable

if TYPE_CHECKING:
    from starlette.requests import Request

    from signoff._model import Ticket
    from signoff._records import Change, Reviewer
    from signoff.gate import Gate
    from signoff.server._principals import Authenticator
    from signoff.server._settings import ServerSettings

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "authorize", "instrument"]

_DECIDED = frozenset({"approved", "rejected", "expired", "aborted", "cancelled"})
_TIMED_OUT = frozenset({"escalated", "retried", "expired", "aborted"})


class Metrics:
    """One app's registry (not the process-global one, so that several apps in one process,
    as in tests, keep apart)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=False)
        self.created = Counter("signoff_tickets_created", "Tickets this server stored, by level and first "
                               "matched rule", ["level", "rule"], registry=r)
        self.decided = Counter("signoff_tickets_decided", "Tickets this server moved to a final status "
                               "(approved, rejected, expired, aborted, cancelled)", ["level", "rule", "outcome"],
                               registry=r)
        self.time_to_decision = Histogram(
            "signoff_time_to_decision_seconds", "From a ticket's creation to its final status",
            ["level", "outcome"], registry=r,
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, float("inf")))
        self.evaluate = Histogram(
            "signoff_evaluate_seconds", "Policy evaluation of one action (Gate.evaluate)", registry=r,
            buckets=(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, float("inf")))
        self.timeouts = Counter("signoff_timeouts", "Deadlines this server's sweeper applied, by what "
                                "happened (escalated, retried, expired, aborted)", ["result"], registry=r)
        self.escalations = Counter("signoff_escalations", "Tickets escalated to a higher tier, by the tier "
                                   "they went to", ["tier"], registry=r)
        self.notifications = Counter("signoff_notifications", "Notification deliveries by channel and result "
                                     "(delivered, retry, failed, skipped)", ["channel", "result"], registry=r)
        self.store_errors = Counter("signoff_store_errors", "Store calls that failed with StoreUnavailable, by "
                                    "operation", ["operation"], registry=r)
        self.pending = Gauge("signoff_tickets_pending", "Pending tickets in the store by tier, read at scrape "
                             "time (tier=\"*\": all of them, exact)", ["tier"], registry=r)

    # -- what the hooks call ----------------------------------------------------------------
    def tickets_created(self, made: Sequence[tuple[Ticket, bool]]) -> None:
        for ticket, created in made:
            if created:
                self.created.labels(_level(ticket), _rule(ticket)).inc()

    def changed(self, change: Change) -> None:
        t = change.ticket
        for draft in change.audit:
            kind = draft.kind
            if kind in _DECIDED and t.status == kind:
                level = _level(t)
                self.decided.labels(level, _rule(t), kind).inc()
                if t.decided_at is not None:
                    self.time_to_decision.labels(level, kind).observe(
                        max(0.0, (t.decided_at - t.created_at).total_seconds()))
            if kind in _TIMED_OUT and draft.actor == "signoff":
                self.timeouts.labels(kind).inc()
                if kind == "escalated":
                    self.escalations.labels(t.tier or "any").inc()

    def delivered(self, channel: str, statuses: Sequence[str]) -> None:
        for status in statuses:
            self.notifications.labels(channel, "retry" if status == "pending" else status).inc()

    async def render(self, gate: Gate, *, timeout: float) -> bytes:
        """The text exposition, with the pending gauge read now (one grouped count of the pending
        tickets by tier, exact however many, within ``timeout`` seconds)."""
        import asyncio

        try:
            counts = await asyncio.wait_for(gate.pending_by_tier(), timeout)
        except (StoreUnavailable, TimeoutError):
            self.store_errors.labels("metrics").inc()
            self.pending.clear()  # unknown rather than stale
        else:
            by_tier = dict.fromkeys([*gate.policy.tiers, "any"], 0)
            for tier, n in counts.items():
                by_tier[tier or "any"] = by_tier.get(tier or "any", 0) + n
            for tier, n in by_tier.items():
                self.pending.labels(tier).set(n)
            self.pending.labels("*").set(sum(counts.values()))
        return generate_latest(self.registry)


def instrument(gate: Gate) -> Metrics:
    """Count what ``gate`` writes and time what it evaluates, on this instance only; once per gate
    (a second app around the same gate shares the first one's metrics rather than counting twice)."""
    existing = getattr(gate, "_signoff_metrics", None)
    if isinstance(existing, Metrics):
        return existing
    metrics = Metrics()
    store: Any = gate.store
    insert, update = store.insert_tickets, store.update_ticket_by

    async def insert_tickets(*args: Any, **kwargs: Any) -> Any:
        try:
            made = await insert(*args, **kwargs)
        except StoreUnavailable:
            metrics.store_errors.labels("insert_tickets").inc()
            raise
        metrics.tickets_created(made)
        return made

    async def update_ticket_by(ticket_id: str, reviewer: str | None,
                               change: Callable[[Ticket, Reviewer | None], Change | None]) -> Any:
        # Every change to a ticket comes through here (the store's update_ticket calls it).
        seen: list[Change | None] = [None]

        def spy(t: Ticket, rv: Reviewer | None) -> Change | None:
            seen[0] = c = change(t, rv)  # the last call is the one committed (a retried transaction calls again)
            return c

        try:
            result = await update(ticket_id, reviewer, spy)
        except StoreUnavailable:
            metrics.store_errors.labels("update_ticket").inc()
            raise
        if seen[0] is not None:
            metrics.changed(seen[0])
        return result

    store.insert_tickets, store.update_ticket_by = insert_tickets, update_ticket_by
    evaluate, observe, clock = gate.evaluate, metrics.evaluate.observe, time.perf_counter

    def timed_evaluate(action: Any) -> Any:
        start = clock()
        outcome = evaluate(action)
        observe(clock() - start)
        return outcome

    gate.evaluate = timed_evaluate  # type: ignore[method-assign]
    gate._signoff_metrics = metrics  # type: ignore[attr-defined]
    return metrics


async def authorize(request: Request, settings: ServerSettings, auth: Authenticator) -> None:
    """Let the scrape through, or raise: public with ``--metrics-public``; otherwise ``Authorization:
    Bearer`` with the metrics token (``SIGNOFF_METRICS_TOKEN``) or any reviewer's API token."""
    from fastapi.security.utils import get_authorization_scheme_param

    from signoff.server._error_map import Unauthenticated

    if settings.metrics_public:
        return
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing credentials: /metrics wants 'Authorization: Bearer <token>' with the "
                              "metrics token (SIGNOFF_METRICS_TOKEN) or a reviewer token")
    if settings.metrics_token and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return
    principal = await auth.principal(token)
    if principal is None:
        raise Unauthenticated("the token is not valid for /metrics: not the metrics token, and not a known "
                              "reviewer token")
    if principal.kind != "reviewer":
        raise NotAuthorized("/metrics is for operators: use the metrics token or a reviewer token, not an agent's")


def _level(t: Ticket) -> str:
    return str(getattr(t.level, "value", t.level))


def _rule(t: Ticket) -> str:
    return t.rules[0] if t.rules else ""
