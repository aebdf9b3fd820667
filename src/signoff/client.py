"""``Gate.remote(url, token=...)``: the Gate's interface over HTTP, against ``signoff serve``.

Every method of a local Gate that makes sense across the network is here under the same
name and signature, returns the same types (``Ticket``, ``Decision``, ``Outcome``...) and
raises the same exceptions (the server sends the exception's class in its problem+json
answers). Waits are long-polls woken by the decision on the server, repeated until a
decision or the caller's timeout; never a tight polling loop.

Each operation is written once, as a generator that yields the HTTP calls it needs and
receives their decoded answers (the idea of ``httpx.Auth.auth_flow``); the async methods
drive it with an ``httpx.AsyncClient`` and the ``*_sync`` twins with an ``httpx.Client``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx

from signoff import _execution as execution
from signoff._codec import ACTION, state_from_answer, state_to_request
from signoff._decisions import BatchResult, gated
from signoff._engine import check_no_running_loop
from signoff._errors import (
    Conflict,
    NotAuthorized,
    NotFound,
    QuotaExceeded,
    SignoffError,
    StillPending,
    StoreUnavailable,
    UserError,
)
from signoff._model import Action, Decision, Outcome, Ticket
from signoff._wire import (
    decision_from_dict,
    error_from_problem,
    insights_from_dict,
    outcome_from_dict,
    ticket_from_dict,
    verify_from_dict,
)
from signoff.audit import VerifyResult
from signoff.insights import Insights
from signoff.review._grouping import shown_ids

__all__ = ["RemoteGate"]

T = TypeVar("T")
R = TypeVar("R")
_FALLBACK: dict[int, type[SignoffError]] = {
    401: NotAuthorized, 403: NotAuthorized, 404: NotFound, 409: Conflict, 413: UserError, 422: UserError,
    429: QuotaExceeded, 502: StoreUnavailable, 503: StoreUnavailable, 504: StoreUnavailable,
}


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: Any = None
    params: Any = None
    read_timeout: float | None = None
    absent: bool = False
    """A 404 answers ``None`` to the flow instead of raising NotFound (a lookup that may find nothing)."""


@dataclass(frozen=True)
class _Pause:
    seconds: float


Flow = Generator[_Call | _Pause, Any, T]


def _q(value: str) -> str:
    return quote(value, safe="")


def _dumps(value: Any) -> bytes:
    # The stdlib codec keeps the core free of compiled dependencies; values it cannot turn into
    # strict JSON (NaN, lone surrogates) would be refused by the server anyway, so refuse them here.
    try:
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise UserError(f"cannot send this as JSON: {exc}") from None


_state_fields = state_to_request
"""The state fields of a submission, as the server reads them (``signoff._codec``)."""


def _action(action: Action) -> dict[str, Any]:
    if not isinstance(action, Action):
        raise UserError(f"expected a signoff.Action, got {type(action).__name__}")
    return ACTION.dump(action)


class RemoteGate:
    """A Gate on the other side of HTTP. Make one with ``signoff.Gate.remote(url, token=...)``.

    An agent token submits and waits as its agent; a reviewer token decides as its reviewer
    (the ``reviewer=`` arguments may be left out; when given they must name the token's
    reviewer). Close with ``close()`` / ``await aclose()`` or use it as a context manager.
    """

    def __init__(self, url: str, *, token: str, timeout: float = 30.0, poll_seconds: float = 25.0) -> None:
        base = url.rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        if not base.startswith(("http://", "https://")):
            raise UserError(f"Gate.remote needs an http(s) URL like http://127.0.0.1:8080, got {url!r}")
        if not token:
            raise UserError("Gate.remote needs a token: create one with `signoff token create`")
        self.url = base
        self._api = base + "/api/v1"
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Accept": "application/json"}
        self._timeout = timeout
        self._poll = poll_seconds
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    def __repr__(self) -> str:
        return f"<RemoteGate {self.url}>"

    # -- transport ------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self._api, headers=self._headers, timeout=self._timeout)
        return self._client

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[old]  # its loop is gone; so are its connections
            client = httpx.AsyncClient(base_url=self._api, headers=self._headers, timeout=self._timeout,
                                       limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
            self._aclients[loop] = client
        return client

    def _request_args(self, call: _Call) -> dict[str, Any]:
        kw: dict[str, Any] = {"params": call.params}
        if call.body is not None:
            kw["content"] = _dumps(call.body)
        if call.read_timeout is not None:
            kw["timeout"] = httpx.Timeout(self._timeout, read=call.read_timeout)
        return kw

    def _decode(self, call: _Call, resp: httpx.Response) -> Any:
        if resp.status_code < 400:
            return json.loads(resp.content) if resp.content else None
        if call.absent and resp.status_code == 404:
            return None
        try:
            body = json.loads(resp.content) if resp.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if not body.get("detail"):
            body["detail"] = f"HTTP {resp.status_code} from {call.method} {self._api}{call.path}: {resp.text[:300]}"
        if resp.status_code == 429 and resp.headers.get("retry-after", "").isdigit():
            attrs = body.setdefault("attrs", {})
            if isinstance(attrs, dict):
                attrs["retry_after"] = int(resp.headers["retry-after"])
        fallback = _FALLBACK.get(resp.status_code, SignoffError)
        raise error_from_problem(resp.status_code, body, fallback=fallback)

    def _unreachable(self, call: _Call, exc: httpx.TransportError) -> StoreUnavailable:
        return StoreUnavailable(f"cannot reach the signoff server at {self.url} ({call.method} {call.path}): "
                                f"{type(exc).__name__}: {exc}; nothing was done")

    async def _drive(self, flow: Flow[T]) -> T:
        client = self._async_client()
        answer: Any = None
        try:
            while True:
                step = flow.send(answer)
                if isinstance(step, _Pause):
                    await asyncio.sleep(step.seconds)
                    answer = None
                    continue
                try:
                    resp = await client.request(step.method, step.path, **self._request_args(step))
                except httpx.TransportError as exc:
                    raise self._unreachable(step, exc) from exc
                answer = self._decode(step, resp)
        except StopIteration as stop:
            return cast(T, stop.value)

    def _drive_sync(self, flow: Flow[T]) -> T:
        client = self._sync_client()
        answer: Any = None
        try:
            while True:
                step = flow.send(answer)
                if isinstance(step, _Pause):
                    time.sleep(step.seconds)
                    answer = None
                    continue
                try:
                    resp = client.request(step.method, step.path, **self._request_args(step))
                except httpx.TransportError as exc:
                    raise self._unreachable(step, exc) from exc
                answer = self._decode(step, resp)
        except StopIteration as stop:
            return cast(T, stop.value)

    def _twin(self, name: str, flow: Flow[T]) -> T:
        try:
            check_no_running_loop(name)
        except UserError:
            flow.close()
            raise
        return self._drive_sync(flow)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connections (those of running loops are dropped; ``aclose`` closes them properly)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._aclients.clear()

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._aclients.pop(loop, None)
        if client is not None:
            await client.aclose()
        self.close()

    def __enter__(self) -> RemoteGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RemoteGate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- flows (one per operation; see the module docstring) ------------------------------------
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

    def _f_claim(self, ticket_id: str, action: Action) -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/execution/claim",
                                          {"action": _action(action), "instance": self.instance}))

    def _f_finish(self, ticket_id: str, ok: bool, error: str) -> Flow[Ticket]:
        return (yield from self._f_ticket("POST", f"/tickets/{_q(ticket_id)}/execution/finish",
                                          {"ok": ok, "error": error}))

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

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, action: Action) -> Outcome:
        """The policy's outcome for ``action``, computed by the server (one HTTP round trip)."""
        return self._drive_sync(self._f_evaluate(action))

    async def evaluate_async(self, action: Action) -> Outcome:
        return await self._drive(self._f_evaluate(action))

    @property
    def mode(self) -> str | None:
        """Deprecated: a property that blocks on HTTP. Use ``get_mode()`` / ``get_mode_sync()``.

        .. deprecated:: 0.2.0
        """
        warnings.warn("RemoteGate.mode blocks on an HTTP round trip; use `await gate.get_mode()` or "
                      "`gate.get_mode_sync()`", DeprecationWarning, stacklevel=2)
        return self.get_mode_sync()

    async def get_mode(self) -> str | None:
        """The mode in force on the server (one HTTP round trip)."""
        return await self._drive(self._f_get_mode())

    def get_mode_sync(self) -> str | None:
        return self._twin("get_mode_sync", self._f_get_mode())

    # -- agent side -----------------------------------------------------------------------------
    async def guard(self, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                    timeout: float | None = None) -> Decision:
        """Evaluate; if a human is needed, submit and wait until decided (or ``timeout``: StillPending)."""
        return await self._drive(self._f_guard(action, state, idempotency_key, timeout))

    async def submit(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        return await self._drive(self._f_submit(action, state, idempotency_key))

    async def submit_many(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                          idempotency_keys: Sequence[str | None] | None = None,
                          require_review: Sequence[bool] | None = None) -> list[Ticket]:
        return await self._drive(self._f_submit_many(actions, states, idempotency_keys, require_review))

    async def wait(self, ticket_id: str, timeout: float | None = None) -> Decision:
        """Long-poll until decided; StillPending when ``timeout`` seconds pass first."""
        return await self._drive(self._f_wait_decision(ticket_id, timeout))

    async def resume(self, ticket_id: str) -> tuple[Decision, Any]:
        """The decision (waiting if needed) and the state stored at submission (JSON value or bytes)."""
        return await self._drive(self._f_resume(ticket_id))

    async def get_ticket(self, ticket_id: str) -> Ticket:
        return await self._drive(self._f_get(ticket_id))

    async def list_tickets(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                           agent: str | None = None, action: str | None = None, group: str | None = None,
                           batch: str | None = None, limit: int = 500, offset: int = 0,
                           newest_first: bool = False) -> list[Ticket]:
        return await self._drive(self._f_list(status, kind, agent, action, group, batch, limit, offset,
                                              newest_first))

    async def find_ticket(self, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        """The ticket submitted under ``idempotency_key`` (an agent token: its own agent's only)."""
        return await self._drive(self._f_find(idempotency_key, agent))

    async def cancel(self, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        """Withdraw a pending ticket (the server records the token's agent as the actor)."""
        return await self._drive(self._f_cancel(ticket_id, reason))

    async def execute(self, decision: Decision, fn: Callable[..., Any]) -> Any:
        """Run ``fn(**decision.args)`` if the decision allows it, at most once per approval
        (claim, run, finish: ``signoff._execution``, shared with the local Gate)."""
        return await execution.drive(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action: self._drive(self._f_claim(tid, action)),
            finish=lambda tid, ok, error: self._drive(self._f_finish(tid, ok, error)))

    def gated(self, name: str | None = None, *, agent: str = "", tags: Iterable[str] = (),
              external: bool = False, timeout: float | None = None) -> Callable[[Callable[..., R]], Callable[..., R]]:
        """Wrap a tool like ``Gate.gated``: it runs only when allowed, with the reviewer's edited arguments."""
        # Gate.gated only calls guard/execute and their _sync twins, which this class has with the
        # same signatures: reuse it rather than keep a copy in step.
        return gated(self, name, agent=agent, tags=tags, external=external, timeout=timeout)

    # -- reviewer side --------------------------------------------------------------------------
    async def approve(self, ticket_id: str, *, reviewer: str | None = None, args: Mapping[str, Any] | None = None,
                      comment: str = "") -> Ticket:
        return await self._drive(self._f_approve(ticket_id, reviewer, args, comment))

    async def reject(self, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        return await self._drive(self._f_reject(ticket_id, reviewer, feedback))

    async def decide_many(self, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        return await self._drive(self._f_decide_many(list(ticket_ids), reviewer, approve, feedback))

    async def decide_group(self, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None,
                           approve: bool, feedback: str = "") -> BatchResult:
        """Decide the tickets of ``group`` the reviewer was shown (``ticket_ids``), and no other."""
        return await self._drive(self._f_decide_group(group, ticket_ids, reviewer, approve, feedback))

    async def decide_batch(self, batch: str, *, reviewer: str | None = None, approve: bool,
                           feedback: str = "") -> BatchResult:
        return await self._drive(self._f_decide_batch(batch, reviewer, approve, feedback))

    async def flag(self, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        return await self._drive(self._f_flag(ticket_id, reviewer, note))

    async def resolve_suggestion(self, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                 note: str = "") -> Ticket:
        return await self._drive(self._f_resolve(ticket_id, reviewer, done, note))

    async def set_mode_async(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Switch a mode on (``None``: off). The token's reviewer is the actor and must be of the policy's
        top tier (the server answers 403 otherwise); ``actor`` and ``reviewer`` are accepted for the
        local Gate's signature, and a ``reviewer`` other than the token's is refused."""
        await self._drive(self._f_mode(mode, reviewer))

    def set_mode(self, mode: str | None, *, actor: str = "operator", reviewer: str | None = None) -> None:
        """Sync-first like ``evaluate`` (the 0.1 contract's ``gate.set_mode("incident")``), and like a local
        Gate's it may be called anywhere, a running loop included (it then blocks that loop for one round
        trip, as ``evaluate`` does); async code should prefer ``set_mode_async``."""
        self._drive_sync(self._f_mode(mode, reviewer))

    async def insights(self, *, min_volume: int = 20) -> Insights:
        return await self._drive(self._f_insights(min_volume))

    async def verify_audit(self) -> VerifyResult:
        return await self._drive(self._f_verify())

    def add_reviewer(self, name: str, *, tier: str | None = None, password: str | None = None,
                     actor: str = "admin") -> None:
        """Not over HTTP: reviewers are managed where the database is (``signoff reviewer add``)."""
        raise UserError("reviewers cannot be added through the API; run `signoff reviewer add --db URL NAME` "
                        "where the server's database is")

    # -- sync twins (keep in sync with the async methods above) ---------------------------------
    def guard_sync(self, action: Action, *, state: Any = None, idempotency_key: str | None = None,
                   timeout: float | None = None) -> Decision:
        return self._twin("guard_sync", self._f_guard(action, state, idempotency_key, timeout))

    def submit_sync(self, action: Action, *, state: Any = None, idempotency_key: str | None = None) -> Ticket:
        return self._twin("submit_sync", self._f_submit(action, state, idempotency_key))

    def submit_many_sync(self, actions: Sequence[Action], *, states: Sequence[Any] | None = None,
                         idempotency_keys: Sequence[str | None] | None = None,
                         require_review: Sequence[bool] | None = None) -> list[Ticket]:
        return self._twin("submit_many_sync", self._f_submit_many(actions, states, idempotency_keys, require_review))

    def wait_sync(self, ticket_id: str, timeout: float | None = None) -> Decision:
        return self._twin("wait_sync", self._f_wait_decision(ticket_id, timeout))

    def resume_sync(self, ticket_id: str) -> tuple[Decision, Any]:
        return self._twin("resume_sync", self._f_resume(ticket_id))

    def get_ticket_sync(self, ticket_id: str) -> Ticket:
        return self._twin("get_ticket_sync", self._f_get(ticket_id))

    def list_tickets_sync(self, *, status: str | Sequence[str] | None = None, kind: str | None = None,
                          agent: str | None = None, action: str | None = None, group: str | None = None,
                          batch: str | None = None, limit: int = 500, offset: int = 0,
                          newest_first: bool = False) -> list[Ticket]:
        return self._twin("list_tickets_sync", self._f_list(status, kind, agent, action, group, batch, limit,
                                                             offset, newest_first))

    def find_ticket_sync(self, *, idempotency_key: str, agent: str = "") -> Ticket | None:
        return self._twin("find_ticket_sync", self._f_find(idempotency_key, agent))

    def cancel_sync(self, ticket_id: str, *, actor: str = "agent", reason: str = "") -> Ticket:
        return self._twin("cancel_sync", self._f_cancel(ticket_id, reason))

    def approve_sync(self, ticket_id: str, *, reviewer: str | None = None, args: Mapping[str, Any] | None = None,
                     comment: str = "") -> Ticket:
        return self._twin("approve_sync", self._f_approve(ticket_id, reviewer, args, comment))

    def reject_sync(self, ticket_id: str, *, reviewer: str | None = None, feedback: str = "") -> Ticket:
        return self._twin("reject_sync", self._f_reject(ticket_id, reviewer, feedback))

    def decide_many_sync(self, ticket_ids: Iterable[str], *, reviewer: str | None = None, approve: bool,
                         feedback: str = "") -> BatchResult:
        return self._twin("decide_many_sync", self._f_decide_many(list(ticket_ids), reviewer, approve, feedback))

    def decide_group_sync(self, group: str, *, ticket_ids: Iterable[str], reviewer: str | None = None,
                          approve: bool, feedback: str = "") -> BatchResult:
        return self._twin("decide_group_sync", self._f_decide_group(group, ticket_ids, reviewer, approve, feedback))

    def decide_batch_sync(self, batch: str, *, reviewer: str | None = None, approve: bool,
                          feedback: str = "") -> BatchResult:
        return self._twin("decide_batch_sync", self._f_decide_batch(batch, reviewer, approve, feedback))

    def flag_sync(self, ticket_id: str, *, reviewer: str | None = None, note: str = "") -> Ticket:
        return self._twin("flag_sync", self._f_flag(ticket_id, reviewer, note))

    def resolve_suggestion_sync(self, ticket_id: str, *, reviewer: str | None = None, done: bool,
                                note: str = "") -> Ticket:
        return self._twin("resolve_suggestion_sync", self._f_resolve(ticket_id, reviewer, done, note))

    def insights_sync(self, *, min_volume: int = 20) -> Insights:
        return self._twin("insights_sync", self._f_insights(min_volume))

    def verify_audit_sync(self) -> VerifyResult:
        return self._twin("verify_audit_sync", self._f_verify())

    def execute_sync(self, decision: Decision, fn: Callable[..., Any]) -> Any:
        """Sync twin of ``execute``: ``fn`` runs in the calling thread."""
        return execution.drive_sync(
            execution.execution_flow(decision), fn,
            claim=lambda tid, action: self._twin("execute_sync", self._f_claim(tid, action)),
            finish=lambda tid, ok, error: self._twin("execute_sync", self._f_finish(tid, ok, error)))
