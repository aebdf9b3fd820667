"""The server's doors against a real `signoff serve` process: health/readiness that ask the store.

The PostgreSQL-down case (health answers 503 and shows no connection details) is in
tests/integration/test_health_postgres.py; the login door is in test_login_doors.py.
"""

from __future__ import annotations

import httpx

from tests.server.conftest import Server


class TestHealth:
    def test_health_ready_and_live_answer_while_the_store_does(self, server: Server) -> None:
        """/api/v1/health and /readyz ask the store; /healthz only says the process lives."""
        health = httpx.get(server.url + "/api/v1/health")
        ready = httpx.get(server.url + "/readyz")
        live = httpx.get(server.url + "/healthz")
        assert (200, 200, 200) == (health.status_code, ready.status_code, live.status_code)
        assert ("ok", "ok", "ok") == (health.json()["status"], ready.json()["status"], live.json()["status"])
        assert {"store": "ok"} == health.json()["checks"]

