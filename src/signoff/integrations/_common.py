"""What every framework adapter shares: tool calls in, policy steps, tickets, verdicts out.

Each adapter turns its framework's tool calls into :class:`ToolCall` values and hands a
whole model turn to :class:`ToolGate`:

1. ``plan`` evaluates every call (pure, microseconds). When every call is ``auto`` the
   adapter lets the framework run them and the store is never touched: that is the
   hot path, and why ``plan`` is separate from the I/O below.
2. ``submit`` queues the calls that need a person (or a record) as **one batch**
   (``gate.submit_many``), and records denials in the audit log.
3. ``collect`` reads or waits for the decisions.
4. ``verdicts`` says, per call, whether it runs (with which arguments) or what the model
   is told instead (the reviewer's feedback, the policy's reasons).

A reviewer's edit is remembered by the digest of the *original* call: if the model asks
for that original call again, it goes to a person even where the policy would let it
pass (a fingerprint learnt from the edited approval would otherwise make it ``auto``).
This is the "original call retried behind the reviewer's back" failure of the
frameworks' own middleware.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signoff._decisions import decision_of
from signoff._errors import StillPending, UserError
from signoff._gatelike import GateLike
from signoff._model import Action, Decision, Level, Outcome, Ticket, canonical_json, explain

__all__ = [
    "Describe",
    "Step",
    "ToolCall",
    "ToolGate",
    "Verdict",
    "args_digest",
    "denied_text",
    "edited_note",
    "idempotency_key",
    "missing_extra",
    "pending_text",
    "refusal_text",
    "with_note",
]

Describe = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""``describe(tool_name, args) -> extra Action fields`` (tags, external, confidence, context...)."""

_EXTRA_FIELDS = frozenset({"confidence", "alternatives", "tags", "external", "context", "reasoning"})


def missing_extra(framework: str, extra: str, exc: ImportError) -> ImportError:
    """The error raised when an adapter's framework is not installed: it names the extra."""
    err = ImportError(
        f"signoff.integrations.{framework} needs packages that are not installed ({exc.name or exc}); "
        f"install them with: pip install 'signoff[{extra}]'"
    )
    err.name = exc.name
    return err


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for, as the framework gave it."""

    id: str
    """The framework's tool call id (``call_...``); unique within a turn."""
    name: str
    args: Mapping[str, Any]


@dataclass
class Step:
    """One call on its way through the gate: what the policy said, and later the decision."""

    call: ToolCall
    action: Action
    outcome: Outcome
    forced: bool = False
    """A person must see it although the policy would let it pass (a reviewer edited this exact call before)."""
    ticket: Ticket | None = None
    decision: Decision | None = None

    @property
    def passes(self) -> bool:
        """Runs without any record: ``auto`` and not forced."""
        return self.outcome.level is Level.AUTO and not self.forced

    @property
    def needs_ticket(self) -> bool:
        """Queued in the batch: everything but ``auto`` (unless forced) and ``deny`` (audited, never queued)."""
        if self.outcome.level is Level.DENY:
            return False
        return self.forced or self.outcome.level in (Level.NOTIFY, Level.APPROVE, Level.SUGGEST)

    @property
    def pending(self) -> bool:
        """Waiting for a person: a ticket was queued and no decision is known yet."""
        return self.decision is None and self.ticket is not None and self.ticket.kind == "approval"


@dataclass(frozen=True)
class Verdict:
    """What happens to one call: it runs (with these arguments), or the model reads ``text`` instead."""

    call: ToolCall
    run: bool
    args: Mapping[str, Any]
    """The arguments to run with: the reviewer's when they edited the call."""
    text: str = ""
    """When ``run``: the note to put before the tool's result (empty unless edited). Otherwise: the
    tool result the model reads in place of running (feedback, denial)."""
    edited: bool = False
    is_error: bool = False
    decision: Decision | None = None
    """The decision behind a reviewed call (``gate.execute`` runs it at most once)."""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def edited_note(args: Mapping[str, Any]) -> str:
    """What the model is told when a reviewer changed the arguments of its call."""
    return (f"Note: a reviewer edited the arguments to {_json(dict(args))}. The call ran with the edited "
            "arguments and the original call was not run: do not retry it.")


def with_note(note: str, result: str) -> str:
    """``note`` before a tool's textual result."""
    if not note:
        return result
    return f"{note}\n\nTool result:\n{result}" if result else note


def denied_text(name: str, reasons: str) -> str:
    return f"The call to {name} is not allowed by policy and did not run: {reasons.rstrip('.') or 'denied'}."


def pending_text(name: str, ticket_id: str) -> str:
    return (f"Pending approval: ticket {ticket_id}. The call to {name} did not run yet; a reviewer must "
            "decide first. Ask again later with the same arguments to get the decision.")


def refusal_text(decision: Decision) -> str:
    """The tool result that stands in for a call that must not run, in words the model can act on."""
    name = decision.action.name
    if decision.status == "rejected":
        who = ", ".join(decision.reviewers) or "a reviewer"
        words = f": {decision.feedback}" if decision.feedback else "."
        return f"The call to {name} was rejected by {who} and did not run{words}"
    if decision.status == "denied":
        # Only the deny reasons: another matching rule's "a human must approve it first" would
        # invite the model to ask for an approval that can never be given.
        return denied_text(name, explain(decision.reasons, Level.DENY) or decision.explanation)
    if decision.status == "suggested":
        tid = f" (ticket {decision.ticket_id})" if decision.ticket_id else ""
        return (f"The call to {name} did not run: policy only allows suggesting it. It was recorded for a "
                f"person to carry out{tid}.")
    why = decision.explanation or decision.feedback or decision.status
    return f"The call to {name} did not run ({decision.status}): {why}"


class ToolGate:
    """The policy, the batch and the verdicts for one agent's tool calls (see the module docstring).

    Adapters own one each; it keeps the digests of calls a reviewer edited (in memory: a
    restarted process learns them again from the decisions it resumes with).
    """

    def __init__(self, gate: GateLike, *, agent: str = "", describe: Describe | None = None) -> None:
        if not isinstance(gate, GateLike):
            raise UserError(f"expected a signoff.Gate or signoff.RemoteGate (a GateLike), got {type(gate).__name__}")
        self.gate = gate
        self.agent = agent
        self.describe = describe
        self._edited_originals: set[str] = set()

    # -- pure -------------------------------------------------------------------------------
    def action(self, call: ToolCall, *, reasoning: str = "", context: Mapping[str, Any] | None = None) -> Action:
        """The Action a call becomes: name, arguments, agent, the model's words, extra fields from ``describe``."""
        if not isinstance(call.args, Mapping):
            raise UserError(f"tool call {call.name!r} ({call.id}) has arguments that are not an object: "
                            f"{type(call.args).__name__}")
        if self.describe is None:
            return Action(name=call.name, args=call.args, agent=self.agent, reasoning=reasoning,
                          context=context or {})
        extra = dict(self.describe(call.name, call.args) or {})
        unknown = set(extra) - _EXTRA_FIELDS
        if unknown:
            raise UserError(f"describe() returned unknown Action field(s) {sorted(unknown)}; "
                            f"allowed: {sorted(_EXTRA_FIELDS)}")
        extra.setdefault("reasoning", reasoning)
        extra["context"] = {**dict(context or {}), **dict(extra.get("context") or {})}
        return Action(name=call.name, args=call.args, agent=self.agent, **extra)

    def plan(self, calls: Iterable[ToolCall], *, reasoning: str = "",
             context: Mapping[str, Any] | None = None) -> list[Step]:
        """Evaluate every call of one turn; no I/O."""
        steps = []
        for call in calls:
            action = self.action(call, reasoning=reasoning, context=context)
            outcome = self.gate.evaluate(action)
            forced = bool(self._edited_originals) and action.digest() in self._edited_originals
            steps.append(Step(call=call, action=action, outcome=outcome, forced=forced))
        return steps

    def verdicts(self, steps: Sequence[Step]) -> list[Verdict]:
        """Per call: run (with the reviewer's arguments) or the text the model reads instead."""
        out = []
        for s in steps:
            if s.passes:
                out.append(Verdict(call=s.call, run=True, args=s.call.args))
                continue
            d = s.decision
            if d is None:
                raise UserError(f"no decision yet for tool call {s.call.name!r} ({s.call.id})")
            if d.approved:
                if d.edited:
                    self._edited_originals.add(s.action.digest())
                out.append(Verdict(call=s.call, run=True, args=d.args, edited=d.edited,
                                   text=edited_note(d.args) if d.edited else "", decision=d))
            else:
                out.append(Verdict(call=s.call, run=False, args=s.call.args, text=refusal_text(d),
                                   is_error=d.status != "rejected", decision=d))
        return out

    def remember_edit(self, original: Action) -> None:
        """Send any later call identical to ``original`` to a person (a reviewer edited it)."""
        self._edited_originals.add(original.digest())

    # -- I/O, async -------------------------------------------------------------------------
    async def submit(self, steps: Sequence[Step], *, keys: Sequence[str | None] | None = None,
                     states: Sequence[Any] | None = None) -> list[Step]:
        """Queue every call that needs a ticket as one batch; record denials. Returns the queued steps."""
        queued = self._queued(steps, keys, states)
        for s in steps:
            if s.outcome.level is Level.DENY and s.decision is None:
                s.decision = await self.gate.guard(s.action)  # audited there; returns at once
        if queued:
            tickets = await self.gate.submit_many([s.action for s, _, _ in queued],
                                                  states=[st for _, _, st in queued],
                                                  idempotency_keys=[k for _, k, _ in queued],
                                                  require_review=[s.forced for s, _, _ in queued])
            self._attach(queued, tickets)
        return [s for s, _, _ in queued]

    async def collect(self, steps: Sequence[Step], *, timeout: float = 0.0) -> bool:
        """Fill in the decisions, waiting up to ``timeout`` seconds in all; True when none is pending."""
        pending = [s for s in steps if s.pending]
        if pending:
            deadline = time.monotonic() + max(0.0, timeout)

            async def one(s: Step) -> None:
                assert s.ticket is not None
                try:
                    s.decision = await self.gate.wait(s.ticket.id,
                                                      timeout=max(0.0, deadline - time.monotonic()))
                except StillPending:
                    pass

            await asyncio.gather(*(one(s) for s in pending))
        return not any(s.pending for s in steps)

    # -- I/O, sync (keep in sync with the async twins above) -----------------------------
    def submit_sync(self, steps: Sequence[Step], *, keys: Sequence[str | None] | None = None,
                    states: Sequence[Any] | None = None) -> list[Step]:
        queued = self._queued(steps, keys, states)
        for s in steps:
            if s.outcome.level is Level.DENY and s.decision is None:
                s.decision = self.gate.guard_sync(s.action)
        if queued:
            tickets = self.gate.submit_many_sync([s.action for s, _, _ in queued],
                                                 states=[st for _, _, st in queued],
                                                 idempotency_keys=[k for _, k, _ in queued],
                                                 require_review=[s.forced for s, _, _ in queued])
            self._attach(queued, tickets)
        return [s for s, _, _ in queued]

    def collect_sync(self, steps: Sequence[Step], *, timeout: float = 0.0) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        for s in steps:
            if s.pending:
                assert s.ticket is not None
                try:
                    s.decision = self.gate.wait_sync(s.ticket.id, timeout=max(0.0, deadline - time.monotonic()))
                except StillPending:
                    pass
        return not any(s.pending for s in steps)

    # -- tickets queued before a pause (the policy may say otherwise now) -------------------
    # Why: a call a person approved (or rejected) must be resumed by that decision, even when
    # the policy would now let it pass (the approval itself taught novelty; the policy or the
    # mode changed). The ticket is found by its idempotency key; only resumed runs pay for it.
    async def adopt(self, steps: Sequence[Step], keys: Sequence[str | None]) -> None:
        """Attach the tickets already queued under ``keys`` to the steps that would pass now."""
        for s, key in zip(steps, keys, strict=True):
            if key is not None and s.passes:
                self._adopt(s, await self.gate.find_ticket(idempotency_key=key, agent=s.action.agent))

    def adopt_sync(self, steps: Sequence[Step], keys: Sequence[str | None]) -> None:
        for s, key in zip(steps, keys, strict=True):
            if key is not None and s.passes:
                self._adopt(s, self.gate.find_ticket_sync(idempotency_key=key, agent=s.action.agent))

    @staticmethod
    def _adopt(s: Step, t: Ticket | None) -> None:
        if t is None:
            return
        s.forced, s.ticket = True, t
        if t.kind != "approval" or t.status != "pending":
            s.decision = decision_of(t)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _queued(steps: Sequence[Step], keys: Sequence[str | None] | None,
                states: Sequence[Any] | None) -> list[tuple[Step, str | None, Any]]:
        if keys is not None and len(keys) != len(steps):
            raise UserError("keys must have one entry per step")
        if states is not None and len(states) != len(steps):
            raise UserError("states must have one entry per step")
        out = []
        for i, s in enumerate(steps):
            if s.needs_ticket and s.decision is None and s.ticket is None:
                out.append((s, keys[i] if keys is not None else None, states[i] if states is not None else None))
        return out

    @staticmethod
    def _attach(queued: list[tuple[Step, str | None, Any]], tickets: list[Ticket]) -> None:
        for (s, _, _), t in zip(queued, tickets, strict=True):
            s.ticket = t
            if t.kind != "approval" or t.status != "pending":
                s.decision = decision_of(t)


def idempotency_key(*parts: Any) -> str:
    """A stable key from parts (framework, thread, task, call id...)."""
    return ":".join(str(p) for p in parts)


def args_digest(args: Mapping[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(dict(args)).encode()).hexdigest()[:16]
