"""The HTTP side of ``RemoteGate``: one request at a time, its answer decoded or its error rebuilt.

An operation of the remote Gate is a flow (``signoff._remote_flows``): a generator yielding the
``_Call``s (and ``_Pause``s) it needs. ``RemoteTransport`` drives a flow with an
``httpx.AsyncClient`` (one per event loop) or, for the ``*_sync`` twins, an ``httpx.Client``,
and turns a problem+json answer back into the exception a local Gate raises.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx

from signoff._engine import check_no_running_loop
from signoff._errors import (
    Conflict,
    NotAuthorized,
    NotFound,
    QuotaExceeded,
    SignoffError,
    StoreUnavailable,
    UserError,
)
from signoff._telemetry import ENABLED, trace_headers
from signoff._wire import error_from_problem

__all__ = ["Flow", "RemoteTransport"]

T = TypeVar("T")
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


def _dumps(value: Any) -> bytes:
    # The stdlib codec keeps the core free of compiled dependencies; values it cannot turn into
    # strict JSON (NaN, lone surrogates) would be refused by the server anyway, so refuse them here.
    try:
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise UserError(f"cannot send this as JSON: {exc}") from None


class RemoteTransport:
    """The connections to one signoff server and the driving of flows over them."""

    def __init__(self, url: str, *, token: str, timeout: float) -> None:
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
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

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
        if ENABLED and (trace := trace_headers()):
            kw["headers"] = trace  # W3C traceparent: the server's spans join the caller's trace
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
        if call.method == "GET" or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            # Never connected, or only read: nothing can have been applied.
            said = "nothing was done"
        else:
            said = ("the server did not answer; the request may or may not have been applied; retrying with "
                    "the same idempotency key or claim id is safe")
        return StoreUnavailable(f"cannot reach the signoff server at {self.url} ({call.method} {call.path}): "
                                f"{type(exc).__name__}: {exc}; {said}")

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
