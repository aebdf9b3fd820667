"""OpenTelemetry spans with the ticket id, and the W3C traceparent crossing from Gate.remote to the server.

The server runs in this process (uvicorn in a thread, on a real loopback port and a real SQLite
file) so that its spans and the agent's land in one SDK in-memory exporter; the requests between
them are real HTTP. Needs the ``otel`` extra and opentelemetry-sdk (dev).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from signoff import Action, Gate
from signoff._model import utcnow
from signoff._tokens import hash_token, new_token
from signoff.server import create_app
from signoff.store import TokenRecord

POLICY = """\
version: 1
defaults: {level: auto, timeout: 30m}
tiers: [senior]
rules:
  - name: deploys
    match: {action: deploy}
    level: approve
"""


def _exporter() -> InMemorySpanExporter:
    """One SDK provider per process (OpenTelemetry allows setting it once); each test its own exporter."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another tracer provider was set before this test"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


class Served:
    def __init__(self, tmp: Path) -> None:
        (tmp / "policy.yaml").write_text(POLICY)
        self.gate = Gate.open(policy=tmp / "policy.yaml", store=f"sqlite:///{tmp}/traced.db")
        self.gate.add_reviewer("alice", tier="senior")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.gate), host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)

    def token(self, kind: str, name: str) -> str:
        secret = new_token(kind)  # type: ignore[arg-type]
        self.gate._engine.run_sync(self.gate.store.put_token(TokenRecord(
            token_hash=hash_token(secret), kind=kind, name=name, created_at=utcnow())))  # type: ignore[arg-type]
        return secret

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.gate.close()


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Served, InMemorySpanExporter]]:
    exporter = _exporter()
    served = Served(tmp_path)
    try:
        yield served, exporter
    finally:
        served.close()
        exporter.shutdown()


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans}
    out = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        out.append(span)
    return out


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


class TestTraceContext:
    def test_traceparent_crosses_from_gate_remote_to_the_server(
            self, traced: tuple[Served, InMemorySpanExporter]) -> None:
        """The agent's submit, wait and execute and the reviewer's decide are spans with the ticket id; the
        server's spans for those requests are their children in the same trace, down to the server
        gate's own decide span."""
        served, exporter = traced
        agent = Gate.remote(served.url, token=served.token("agent", "bot"))
        alice = Gate.remote(served.url, token=served.token("reviewer", "alice"))
        tracer = trace.get_tracer("test")

        async def run() -> str:
            with tracer.start_as_current_span("agent-run"):
                ticket = await agent.submit(Action(name="deploy", args={"v": 1}, agent="bot", reasoning="ship"))
            with tracer.start_as_current_span("review"):
                await alice.approve(ticket.id)
            decision = await agent.wait(ticket.id, timeout=10)
            assert "ran" == await agent.execute(decision, lambda **_: "ran")
            await agent.aclose()
            await alice.aclose()
            return ticket.id

        tid = asyncio.run(run())
        spans = list(exporter.get_finished_spans())
        root, review = named(spans, "agent-run")[0], named(spans, "review")[0]
        submits, decide = named(spans, "signoff.submit"), named(spans, "signoff.decide")
        submit = next(s for s in submits if s.parent is not None and s.parent.span_id == root.context.span_id)
        client_decide = [s for s in decide if s.parent is not None and s.parent.span_id == review.context.span_id]
        server_submit = [s for s in spans if s.kind == trace.SpanKind.SERVER and s.name == "POST /api/v1/tickets"]
        server_approve = [s for s in spans if s.kind == trace.SpanKind.SERVER
                          and s.name == "POST /api/v1/tickets/{ticket_id}/approve"]
        gate_decide = [s for s in decide if s not in client_decide]
        assert tid == (submit.attributes or {}).get("signoff.ticket_id")
        # the server's request span continues the agent's trace, under the agent's submit span; the
        # server gate's submit runs in the group commit's batch (shared by concurrent requests), its own span
        assert server_submit
        assert {(root.context.trace_id, submit.context.span_id)} == {
            (s.context.trace_id, s.parent.span_id if s.parent else None) for s in server_submit}
        on_server = [s for s in submits if s is not submit]
        assert [tid] == [(s.attributes or {}).get("signoff.ticket_id") for s in on_server]
        # the reviewer's decide: client span -> server request span -> the server gate's decide span
        assert 1 == len(client_decide) and 1 == len(server_approve) and 1 == len(gate_decide)
        assert server_approve[0].parent is not None and gate_decide[0].parent is not None
        assert server_approve[0].parent.span_id == client_decide[0].context.span_id
        assert server_approve[0] in ancestors(gate_decide[0], spans)
        assert {review.context.trace_id} == {s.context.trace_id for s in (*client_decide, *server_approve,
                                                                         *gate_decide)}
        assert [tid, tid] == [(s.attributes or {}).get("signoff.ticket_id") for s in (client_decide[0], gate_decide[0])]
        for name in ("signoff.wait", "signoff.execute"):
            assert tid in [(s.attributes or {}).get("signoff.ticket_id") for s in named(spans, name)], name

    def test_the_sync_twins_of_gate_remote_are_spans_too(self, traced: tuple[Served, InMemorySpanExporter]) -> None:
        """``submit_sync``, ``approve_sync``, ``wait_sync`` and ``execute_sync`` on Gate.remote open the same
        spans as their async twins, under the caller's span, and the server's request spans are theirs."""
        served, exporter = traced
        agent = Gate.remote(served.url, token=served.token("agent", "bot"))
        alice = Gate.remote(served.url, token=served.token("reviewer", "alice"))
        with trace.get_tracer("test").start_as_current_span("sync-run") as root:
            ticket = agent.submit_sync(Action(name="deploy", args={"v": 2}, agent="bot", reasoning="ship"))
            alice.approve_sync(ticket.id)
            decision = agent.wait_sync(ticket.id, timeout=10)
            assert "ran" == agent.execute_sync(decision, lambda **_: "ran")
        agent.close()
        alice.close()
        spans = list(exporter.get_finished_spans())
        top = root.get_span_context().span_id
        mine = {s.name: s for s in spans if s.parent is not None and s.parent.span_id == top}
        assert {"signoff.submit", "signoff.decide", "signoff.wait", "signoff.execute"} <= set(mine)
        for name in ("signoff.submit", "signoff.decide", "signoff.wait", "signoff.execute"):
            assert ticket.id == (mine[name].attributes or {}).get("signoff.ticket_id"), name
        server_submit = [s for s in spans if s.kind == trace.SpanKind.SERVER and s.name == "POST /api/v1/tickets"]
        assert [mine["signoff.submit"].context.span_id] == [s.parent.span_id for s in server_submit if s.parent]

    def test_local_gate_guard_span(self, traced: tuple[Served, InMemorySpanExporter]) -> None:
        """A local Gate's guard is a span too, with the ticket of an action that needs no human."""
        served, exporter = traced

        async def run() -> None:
            await served.gate.guard(Action(name="read", args={}, agent="bot", reasoning="look"))

        asyncio.run(run())
        assert named(list(exporter.get_finished_spans()), "signoff.guard")
        with trace.get_tracer("test").start_as_current_span("sync-caller") as caller:  # the sync twin, too
            served.gate.guard_sync(Action(name="read", args={}, agent="bot", reasoning="look again"))
        guards = named(list(exporter.get_finished_spans()), "signoff.guard")
        assert caller.get_span_context().span_id in [s.parent.span_id for s in guards if s.parent]


class TestTraceMiddleware:
    def test_server_span_joins_the_callers_trace(self) -> None:
        """For a FastAPI without native telemetry: the request's span is the child of the traceparent sent,
        named by route with the ticket id as an attribute."""
        import httpx
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        from signoff._telemetry import TraceMiddleware, trace_headers

        exporter = _exporter()

        async def ok(request: object) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = TraceMiddleware(Starlette(routes=[Route("/api/v1/tickets/{tid}/wait", ok)]))

        async def run() -> tuple[int, int]:
            with trace.get_tracer("test").start_as_current_span("agent") as span:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                    await c.get("/api/v1/tickets/tk_0123456789abcdef/wait", headers=trace_headers())
                return span.get_span_context().trace_id, span.get_span_context().span_id

        trace_id, span_id = asyncio.run(run())
        server = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
        exporter.shutdown()
        assert [("GET /api/v1/tickets/{ticket_id}/wait", trace_id, span_id, "tk_0123456789abcdef")] == [
            (s.name, s.context.trace_id, s.parent.span_id if s.parent else None,
             (s.attributes or {}).get("signoff.ticket_id")) for s in server]
