"""The operations of ``RemoteGate``, each written once as a flow over HTTP.

A flow is a generator that yields the HTTP calls it needs and receives their decoded answers
(the idea of ``httpx.Auth.auth_flow``), so one definition serves both the async methods and
the ``*_sync`` twins (``signoff._remote_transport`` drives it either way). Long waits are
long-polls repeated until a decision or the caller's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from signoff._allowances import EXPIRIES, Allowance
from signoff._codec import ACTION, state_from_answer, state_to_request
from signoff._decisions import BatchResult
from signoff._errors import StillPending, UserError
from signoff._model import Action, Decision, Outcome, Ticket
from signoff._remote_transport import Flow, RemoteTransport, _Call, _Pause
from signoff._wire import (
    decision_from_dict,
    insights_from_dict,
    outcome_from_dict,
    surge_from_dict,
    ticket_from_dict,
    verify_from_dict,
)
from signoff.audit import VerifyResult
from signoff.insights import Insights
from signoff.review._flood import Surge
from signoff.review._grouping import shown_ids

__all__ = ["RemoteFlows"]


def _q(value: str) -> str:
    return quote(value, safe="")


_state_fields = state_to_request
"""The state fields of a submission, as the server reads them (``signoff._codec``)."""


def _action(action: Action) -> dict[str, Any]:
    if not isinstance(action, Action):
        raise UserError(f"expected a signoff.Action, got {type(action).__name__}")
    return ACTION.dump(action)


class RemoteFlows(RemoteTransport):
    """One flow per operation of the remote Gate (``_f_<operation>``); ``RemoteGate`` drives them."""

    _poll: float
    """The longest single long-poll, in seconds."""
    instance: str
    """Who claims an execution (this process), as a local Gate's instance does."""

    def _f_one(self, method: str, path: str, body: Any = None, params: Any = None) -> Flow[Any]:
        return (yield _Call(method, path, body, params))

    def _f_evaluate(self, action: Action) -> Flow[Outcome]:
        data = yield _Call("POST", "/evaluate", {"action": _action(action)})
        return outcome_from_dict(data)

    def _f_wait(self, ticket_id: str, timeout: float | None, *, path: str = "wait") -> Flow[dict[str, Any]]:
        give_up = None if timeout is None else time.monotonic() + timeout
        url = f"/tickets/{_q(ticket_id)}/{path}"
        while True:
            chunk = self._poll if give_up is None else max(0.0, min(self._poll, give_up - time.monotonic()))
            started = time.monotonic()
            data = yield _Call("GET", url, params={"timeout": round(chunk, 3)}, read_timeout=chunk + self._timeout)
            if data["decided"]:
                return cast(dict[str, Any], data)
            if give_up is not None and time.monotonic() >= give_up:
                raise StillPending(f"ticket {ticket_id} is still pending after {timeout:g}s", ticket_id=ticket_id)
            if time.monotonic() - started < min(chunk, 1.0) / 2:
                # Answered "not yet" long before the time asked: the server is shutting down or capped
                # the wait very low. Pause instead of hammering it.
                yield _Pause(0.5)

    def _f_wait_decision(self, ticket_id: str, timeout: float | None) -> Flow[Decision]:
        data = yield from self._f_wait(ticket_id, timeout)
        return decision_from_dict(data["decision"])

    def _f_resume(self, ticket_id: str) -> Flow[tuple[Decision, Any]]:
        data = yield from self._f_wait(ticket_id, None, path="resume")
        return decision_from_dict(data["decision"]), state_from_answer(data)

    def _f_guard(self, action: Action, state: Any, idempotency_key: str | None,
                 timeout: float | None) -> Flow[Decision]:
        give_up = None if timeout is None else time.monotonic() + timeout
        first = self._poll if timeout is None else min(self._poll, timeout)
        body = {"action": _action(action), **_state_fields(state), "idempotency_key": idempotency_key,
                "wait": first}
        data = yield _Call("POST", "/guard", body, read_timeout=first + self._timeout)
        if data["decision"] is not None:
            return decision_from_dict(data["decision"])
        ticket_id = str(data["ticket"]["id"])
        remaining = None if give_up is None else max(0.0, give_up - time.monotonic())
        return (yield from self._f_wait_decision(ticket_id, remaining))

    def _f_submit(self, action: Action, state: Any, idempotency_key: str | None) -> Flow[Ticket]:
        body = {"action": _action(action), **_state_fields(state), "idempotency_key": idempotency_key}
        return ticket_from_dict((yield _Call("POST", "/tickets", body)))

    def _f_submit_many(self, actions: Sequence[Action], states: Sequence[Any] | None,
                       keys: Sequence[str | None] | None, review: Sequence[bool] | None = None
                       ) -> Flow[list[Ticket]]:
        actions = list(actions)
        states = list(states) if states is not None else [None] * len(actions)
        keys = list(keys) if keys is not None else [None] * len(actions)
        asks = list(review) if review is not None else [False] * len(actions)
        if len(states) != len(actions) or len(keys) != len(actions) or len(asks) != len(actions):
            raise UserError("states, idempotency_keys and require_review must have one entry per action")
        items = [{"action": _action(a), **_state_fields(s), "idempotency_key": k, "require_review": r}
                 for a, s, k, r in zip(actions, states, keys, asks, strict=True)]
        data = yield _Call("POST", "/tickets/batch", {"items": items})
        return [ticket_from_dict(t) for t in data]

    def _f_list(self, status: str | Sequence[str] | None, kind: str | None, agent: str | None,
                action: str | None, group: str | None, batch: str | None, limit: int, offset: int,
                newest_first: bool) -> Flow[list[Ticket]]:
        params: list[tuple[str, Any]] = []
        if status is not None:
            params += [("status", s) for s in ([status] if isinstance(status, str) else status)]
        for key, value in (("kind", kind), ("agent", agent), ("action", action), ("group", group),
                           ("batch", batch)):
            if value is not None:
                params.append((key, value))
        if newest_first:
            params.append(("newest_first", "true"))
        out: list[Ticket] = []
        while len(out) < limit:
            want = limit - len(out)
            page = yield _Call("GET", "/tickets", params=[*params, ("limit", want), ("offset", offset + len(out))])
            out += [ticket_from_dict(t) for t in page["tickets"]]
            if len(page["tickets"]) < min(want, int(page["limit"])) or not page["tickets"]:
                break
        return out

    def _f_ticket(self, method: str, path: str, body: Any = None) -> Flow[Ticket]:
        return ticket_from_dict((yield _Call(method, path, body)))

    def _f_batch(self, path: str, body: Any) -> Flow[BatchResult]:
        data = yield _Call("POST", path, body)
        return BatchResult(decided=[ticket_from_dict(t) for t in data["decided"]], failed=dict(data["failed"]))

    def _f_decide_many(self, ticket_ids: Iterable[str], reviewer: str | None, approve: bool,
                       feedback: str) -> Flow[BatchResult]:
        decisions = [{"ticket_id": tid, "approve": approve, "feedback": feedback} for tid in ticket_ids]
        if not decisions:
            return BatchResult(decided=[], failed={})
        return (yield from self._f_batch("/tickets/decide", {"decisions": decisions, "reviewer": reviewer}))

    def _f_claim(self, ticket_id: str, action: Action, claim_id: str = "", lease: float | None = None) -> Flow[Ticket]:
        body = {"action": _action(action), "instance": self.instance, "claim_id": claim_id or None, "lease": lease}
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/execution/claim", body))

    def _f_finish(self, ticket_id: str, ok: bool, error: str, claim_id: str = "") -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/execution/finish",
                                          {"ok": ok, "error": error, "claim_id": claim_id or None}))

    def _f_surges(self) -> Flow[dict[str, Surge]]:
        data = yield _Call("GET", "/surges")
        return {s.agent: s for s in map(surge_from_dict, data)}

    def _f_in_doubt(self, limit: int) -> Flow[list[Ticket]]:
        data = yield _Call("GET", "/executions/in-doubt", params={"limit": limit})
        return [ticket_from_dict(t) for t in data]

    def _f_record_execution(self, ticket_id: str, reviewer: str | None, outcome: str, note: str) -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/execution/record",
                                          {"outcome": outcome, "note": note, "reviewer": reviewer}))

    def _f_get(self, ticket_id: str) -> Flow[Ticket]:
        return (yield from self._f_ticket("GET", f"/tickets/{_q(ticket_id)}"))

    def _f_find(self, idempotency_key: str, agent: str) -> Flow[Ticket | None]:
        params = {"agent": agent} if agent else None
        data = yield _Call("GET", f"/idempotency-keys/{_q(idempotency_key)}", params=params, absent=True)
        return None if data is None else ticket_from_dict(data)

    def _f_cancel(self, ticket_id: str, reason: str) -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/cancel", {"reason": reason}))

    def _f_approve(self, ticket_id: str, reviewer: str | None, args: Mapping[str, Any] | None,
                   comment: str) -> Flow[Ticket]:
        body = {"args": dict(args) if args is not None else None, "comment": comment, "reviewer": reviewer}
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/approve", body))

    def _f_reject(self, ticket_id: str, reviewer: str | None, feedback: str) -> Flow[Ticket]:
        body = {"feedback": feedback, "reviewer": reviewer}
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/reject", body))

    def _f_decide_group(self, group: str, ticket_ids: Iterable[str], reviewer: str | None, approve: bool,
                        feedback: str) -> Flow[BatchResult]:
        body = {"ticket_ids": shown_ids(ticket_ids), "approve": approve, "feedback": feedback, "reviewer": reviewer}
        return (yield from self._f_batch(f"/groups/{_q(group)}/decide", body))

    def _f_decide_batch(self, batch: str, reviewer: str | None, approve: bool, feedback: str) -> Flow[BatchResult]:
        body = {"approve": approve, "feedback": feedback, "reviewer": reviewer}
        return (yield from self._f_batch(f"/batches/{_q(batch)}/decide", body))

    def _f_flag(self, ticket_id: str, reviewer: str | None, note: str) -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/notifications/{_q(ticket_id)}/flag",
                                          {"note": note, "reviewer": reviewer}))

    def _f_resolve(self, ticket_id: str, reviewer: str | None, done: bool, note: str) -> Flow[Ticket]:
        path = f"/suggestions/{_q(ticket_id)}/{'done' if done else 'dismiss'}"
        return (yield from self._f_ticket("POST", path, {"note": note, "reviewer": reviewer}))

    def _f_mode(self, mode: str | None, reviewer: str | None) -> Flow[Any]:
        return self._f_one("PUT", "/mode", {"mode": mode, "reviewer": reviewer})

    def _f_get_mode(self) -> Flow[str | None]:
        return cast(str | None, (yield _Call("GET", "/mode"))["mode"])

    def _f_insights(self, min_volume: int) -> Flow[Insights]:
        return insights_from_dict((yield _Call("GET", "/insights", params={"min_volume": min_volume})))

    def _f_verify(self) -> Flow[VerifyResult]:
        return verify_from_dict((yield _Call("GET", "/audit/verify")))

    # -- standing approvals ----------------------------------------------------------------------
    def _f_allow(self, ticket_id: str, reviewer: str | None, condition: str | None, expires: Any,
                 any_agent: bool, comment: str) -> Flow[Allowance]:
        body = {"condition": condition, "expires": _expires(expires), "any_agent": any_agent, "comment": comment,
                "reviewer": reviewer}
        return Allowance.from_dict((yield _Call("POST", f"/tickets/{_q(ticket_id)}/allow", body)))

    def _f_allowance(self, allowance_id: str, verb: str, reviewer: str | None) -> Flow[Allowance]:
        body = {"reviewer": reviewer}
        return Allowance.from_dict((yield _Call("POST", f"/allowances/{_q(allowance_id)}/{verb}", body)))

    def _f_allowances(self, include_ended: bool) -> Flow[list[Allowance]]:
        data = yield _Call("GET", "/allowances", params={"include_ended": "true" if include_ended else "false"})
        return [Allowance.from_dict(a) for a in data["allowances"]]


def _expires(expires: Any) -> str:
    """The API takes the inbox's choices; a timedelta is for a local gate."""
    if expires is None:
        return "never"
    if isinstance(expires, str) and expires in EXPIRIES:
        return expires
    raise UserError(f"unknown allowance expiry {expires!r}: over the API use one of {', '.join(EXPIRIES)}")
