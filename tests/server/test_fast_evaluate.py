"""POST /api/v1/evaluate answers the same bytes whether the fast path takes the request or the
FastAPI route does: each request goes to one app with the fast path and to one without it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from signoff import Gate
from signoff._model import utcnow
from signoff._tokens import hash_token, new_token
from signoff.server import ServerSettings, create_app
from signoff.server._fast_evaluate import FastEvaluate
from signoff.store import TokenRecord

POLICY = """\
version: 1
defaults: {level: auto, confidence_threshold: 0.7, timeout: 30m}
tiers: [senior]
rules:
  - name: prod-deploys
    match: {action: deploy_production}
    level: approve
    reason: high_risk_action
  - name: big-payments
    match: {action: send_payment}
    when: "args.amount > 1000"
    level: approve
"""
ACTION = {"name": "deploy_production", "args": {"service": "api", "version": "1.4.2"}, "reasoning": "green",
          "confidence": 0.9}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Gate, dict[str, str]]]:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    with Gate.open(policy=str(policy), store=f"sqlite:///{tmp_path}/db.sqlite", sweep=False) as gate:
        gate.add_reviewer("alice", tier="senior")
        tokens = {"agent": new_token("agent"), "reviewer": new_token("reviewer")}
        for kind, name in (("agent", "bot"), ("reviewer", "alice")):
            gate._engine.run_sync(gate.store.put_token(TokenRecord(
                token_hash=hash_token(tokens[kind]), kind=kind, name=name, created_at=utcnow())))
        yield gate, tokens


def _apps(gate: Gate) -> tuple[Any, Any]:
    settings = ServerSettings(max_request_bytes=4096)
    fast, slow = create_app(gate, settings=settings), create_app(gate, settings=settings)
    assert any(m.cls is FastEvaluate for m in fast.user_middleware)
    slow.user_middleware = [m for m in slow.user_middleware if m.cls is not FastEvaluate]
    return fast, slow


async def _both(gate: Gate, requests: list[dict[str, Any]]) -> list[tuple[int, dict[str, str], bytes]]:
    fast, slow = _apps(gate)
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t") as a, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://t") as b:
        for req in requests:
            ra = await a.post("/api/v1/evaluate", **req)
            rb = await b.post("/api/v1/evaluate", **req)
            assert (ra.status_code, dict(ra.headers), ra.content) == (rb.status_code, dict(rb.headers), rb.content), req
            out.append((ra.status_code, dict(ra.headers), ra.content))
    return out


def _req(token: str | None, body: Any = ACTION, *, raw: bytes | None = None, ctype: str = "application/json",
         scheme: str = "Bearer") -> dict[str, Any]:
    headers = {"Content-Type": ctype}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    content = raw if raw is not None else orjson.dumps({"action": body})
    return {"headers": headers, "content": content}


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per request the fast path looked at: True when it answered it itself."""
    seen: list[bool] = []
    answer = FastEvaluate._answer

    async def spy(self: FastEvaluate, *args: Any) -> bytes | None:
        try:
            result = await answer(self, *args)
        except Exception:
            seen.append(False)
            raise
        seen.append(result is not None)
        return result

    monkeypatch.setattr(FastEvaluate, "_answer", spy)
    return seen


def test_well_formed_requests_get_the_routes_answer(setup: tuple[Gate, dict[str, str]], taken: list[bool]) -> None:
    gate, tokens = setup
    answers = asyncio.run(_both(gate, [
        _req(tokens["agent"]),
        _req(tokens["reviewer"], {**ACTION, "agent": "someone"}),
        _req(tokens["agent"], {"name": "send_payment", "args": {"amount": 5000}}),
        _req(tokens["agent"], {"name": "read_file", "args": {}, "confidence": 0.2}),
        _req(tokens["agent"], ctype="application/json; charset=utf-8"),
        _req(tokens["agent"], scheme="bearer"),
    ]))
    assert [a[0] for a in answers] == [200] * 6
    assert taken == [True] * 6  # all answered by the fast path, with the route's bytes
    assert orjson.loads(answers[0][2])["level"] == "approve"
    assert orjson.loads(answers[2][2])["matched_rules"] == ["big-payments"]


def test_everything_else_gets_the_routes_own_error(setup: tuple[Gate, dict[str, str]], taken: list[bool]) -> None:
    gate, tokens = setup
    answers = asyncio.run(_both(gate, [
        _req(None),                                            # no token: 401
        _req("so_agent_unknown"),                              # unknown token: 401
        _req(tokens["agent"], scheme="Basic"),                 # not a bearer token: 401
        _req(tokens["agent"], {**ACTION, "agent": "other"}),   # another agent's name: 403
        _req(tokens["agent"], {"name": ""}),                   # invalid action: 422
        _req(tokens["agent"], raw=b'{"action": '),             # not JSON: 422
        _req(tokens["agent"], raw=b"[1, 2]"),                  # JSON, wrong shape: 422
        _req(tokens["agent"], raw=b'{"action": {"name": "x", "args": {"n": NaN}}}'),
        _req(tokens["agent"], ctype="text/plain"),             # not declared JSON: the route decides
        _req(tokens["agent"], {**ACTION, "reasoning": "x" * 5000}),  # over the body limit: 413
    ]))
    statuses = [a[0] for a in answers]
    assert statuses[:4] == [401, 401, 401, 403]
    assert statuses[4:8] == [422] * 4
    assert statuses[9] == 413
    assert not any(taken)
