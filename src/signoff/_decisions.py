"""What a decision means to the agent's code: Decision from a ticket, errors for refusals,
``intent`` for the agent's words, and the ``gated`` tool wrapper.

Shared by the local Gate and ``Gate.remote`` (both only need guard/execute and their sync
twins), so neither imports the other.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from signoff._errors import Denied, Expired, NotAllowed, Rejected, Suggested
from signoff._model import Action, Decision, Ticket, explain

__all__ = ["BatchResult", "decision_of", "gated", "intent", "raise_for"]

P = ParamSpec("P")
R = TypeVar("R")


class Guarding(Protocol):
    """What ``gated`` needs from a gate, local or remote."""

    async def guard(self, action: Action, *, state: Any = ..., idempotency_key: str | None = ...,
                    timeout: float | None = ...) -> Decision: ...
    async def execute(self, decision: Decision, fn: Callable[..., Any]) -> Any: ...
    def guard_sync(self, action: Action, *, state: Any = ..., idempotency_key: str | None = ...,
                   timeout: float | None = ...) -> Decision: ...
    def execute_sync(self, decision: Decision, fn: Callable[..., Any]) -> Any: ...


@dataclass(frozen=True)
class _Intent:
    reasoning: str = ""
    confidence: float | None = None
    alternatives: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    state: Any = None


_intent: contextvars.ContextVar[_Intent | None] = contextvars.ContextVar("signoff_intent", default=None)


@contextmanager
def intent(reasoning: str = "", *, confidence: float | None = None, alternatives: Iterable[str] = (),
           context: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
           state: Any = None) -> Any:
    """Give ``gated`` tools the agent's words for the next calls::

        with signoff.intent("order 3 days late; policy 4.2", confidence=0.9):
            await issue_refund(order="A-17", amount=150.0)
    """
    token = _intent.set(_Intent(reasoning, confidence, tuple(alternatives), dict(context or {}),
                                idempotency_key, state))
    try:
        yield
    finally:
        _intent.reset(token)


@dataclass(frozen=True)
class BatchResult:
    """The outcome of deciding several tickets in one call: each ticket on its own."""

    decided: list[Ticket]
    failed: dict[str, str]

    def __repr__(self) -> str:
        return f"<BatchResult decided={len(self.decided)} failed={len(self.failed)}>"


def decision_of(t: Ticket) -> Decision:
    """The Decision a waiter receives for a ticket (pending tickets have none)."""
    if t.kind == "notification":
        status, approved = "notified", True
    elif t.kind == "suggestion":
        status, approved = "suggested", False
    else:
        status, approved = t.status, t.status == "approved"
    explanation = t.explanation
    if t.status == "rejected" and not explanation:
        explanation = f"Rejected by {', '.join(t.decided_by)}" + (f": {t.feedback}" if t.feedback else ".")
    elif t.status == "approved" and not explanation:
        explanation = f"Approved by {', '.join(t.decided_by)}" + \
            (" with edited arguments." if t.edited_args is not None else ".")
    return Decision(
        status=status,  # type: ignore[arg-type]
        approved=approved, action=t.executable_action, feedback=t.feedback, explanation=explanation,
        reviewers=t.decided_by, reasons=t.reasons, level=t.level, ticket_id=t.id,
        edited=t.edited_args is not None, created_at=t.created_at, decided_at=t.decided_at,
    )


def raise_for(decision: Decision) -> None:
    """Turn a decision that forbids acting into the matching NotAllowed error."""
    if decision.approved:
        return
    words = decision.feedback or decision.explanation or explain(decision.reasons, decision.level)
    msg = f"{decision.action.name}: {decision.status}" + (f": {words}" if words else "")
    cls: type[NotAllowed] = {
        "denied": Denied, "suggested": Suggested, "rejected": Rejected,
    }.get(decision.status, Expired)
    raise cls(msg, decision=decision)


def gated(gate: Guarding, name: str | None = None, *, agent: str = "", tags: Iterable[str] = (),
          external: bool = False, timeout: float | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The decorator behind ``Gate.gated`` and ``RemoteGate.gated``."""
    tagset = frozenset(tags)

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(fn)
        action_name = name or fn.__name__

        def build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Action, _Intent]:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            it = _intent.get() or _Intent()
            return Action(name=action_name, args=dict(bound.arguments), agent=agent, tags=tagset,
                          external=external, reasoning=it.reasoning, confidence=it.confidence,
                          alternatives=it.alternatives, context=it.context), it

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                action, it = build(args, kwargs)
                decision = await gate.guard(action, state=it.state, idempotency_key=it.idempotency_key,
                                            timeout=timeout)
                return await gate.execute(decision, fn)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            action, it = build(args, kwargs)
            decision = gate.guard_sync(action, state=it.state, idempotency_key=it.idempotency_key,
                                       timeout=timeout)
            return gate.execute_sync(decision, fn)

        return cast(Callable[P, R], sync_wrapper)

    return deco
