"""How the metrics attach to a gate: store errors counted, one set of counters per gate, and
``--metrics-public`` (the app in this process, on a real SQLite file)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from signoff import Action, Gate
from signoff._errors import StoreUnavailable
from signoff.server import ServerSettings, create_app
from signoff.server._metrics import instrument
from tests.server.conftest import POLICY


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    g = Gate.open(policy=tmp_path / "policy.yaml", store=f"sqlite:///{tmp_path}/m.db", sweep=False)
    yield g
    g.close()


def deploy() -> Action:
    return Action(name="deploy_production", args={"service": "api"}, agent="bot", reasoning="ship")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


class TestInstrument:
    def test_store_unavailable_is_counted_and_raised(self, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
        """A write the store refuses with StoreUnavailable still fails (closed) and is counted by operation."""

        async def down(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("the database is down")

        monkeypatch.setattr(gate.store, "insert_tickets", down)
        metrics = instrument(gate)
        with pytest.raises(StoreUnavailable):
            gate.submit_sync(deploy())
        assert 1 == metrics.store_errors.labels("insert_tickets")._value.get()

    def test_one_set_of_counters_per_gate(self, gate: Gate) -> None:
        """Two apps around one gate share its metrics: a submission is counted once, not twice."""
        first, second = instrument(gate), instrument(gate)
        gate.submit_sync(deploy())
        assert (True, 1) == (first is second, first.created.labels("approve", "prod-deploys")._value.get())


class TestReadiness:
    def test_a_store_that_does_not_answer_is_counted(self, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
        """A readiness check the store fails answers 503 and counts a store error (operation ``ready``)."""

        async def down() -> None:
            raise StoreUnavailable("the database is down")

        monkeypatch.setattr(gate, "ping", down)

        async def check() -> tuple[int, int, str]:
            app = create_app(gate, settings=ServerSettings(metrics_public=True))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                ready, healthz = await client.get("/readyz"), await client.get("/healthz")
                return ready.status_code, healthz.status_code, (await client.get("/metrics")).text

        ready, healthz, text = asyncio.run(check())
        assert (503, 200, 1.0) == (ready, healthz, samples(text)[("signoff_store_errors_total",
                                                                  (("operation", "ready"),))])


class TestPublic:
    def test_metrics_public_needs_no_token(self, gate: Gate) -> None:
        """With ``metrics_public`` a scrape needs no token; without it the same scrape gets a 401."""

        async def scrape(public: bool) -> tuple[int, str]:
            app = create_app(gate, settings=ServerSettings(metrics_public=public))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                resp = await client.get("/metrics")
                return resp.status_code, resp.text

        status, text = asyncio.run(scrape(True))
        assert (200, 0.0) == (status, samples(text)[("signoff_tickets_pending", (("tier", "*"),))])
        assert 401 == asyncio.run(scrape(False))[0]
