"""Health on PostgreSQL: a real `signoff serve` on its own throwaway cluster, then the cluster stopped.

Readiness must ask the database (503 once it is gone, while /healthz still says the process
lives), and no answer to anyone, authenticated or not, may show the connection details
(user, host, port, database name) that the driver's error messages carry.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signoff import Gate
from tests.integration._policies import DEPLOYS as POLICY
from tests.postgres_server import Cluster, create_database, start_own_cluster
from tests.server.conftest import free_port, stop_process, wait_until_up

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "correct horse battery"


@dataclass
class Deployment:
    cluster: Cluster
    db_name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    cluster = start_own_cluster()  # this test stops it
    proc: subprocess.Popen[bytes] | None = None
    try:
        db_name = "t_health_" + secrets.token_hex(6)
        db = create_database(cluster.url, db_name)
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        gate = Gate.open(policy=policy, store=db, sweep=False)
        try:
            gate.add_reviewer("alice", tier="senior", password=PASSWORD)
        finally:
            gate.close()
        port = free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "signoff"), "serve", "--policy", str(policy),
                                     "--db", db, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc, log)
        yield Deployment(cluster=cluster, db_name=db_name, url=url, proc=proc, log=log)
    finally:
        if proc is not None:
            stop_process(proc)
        cluster.stop()


def leaks(body: str, dep: Deployment) -> list[str]:
    """The connection details found in ``body``."""
    found = [s for s in (dep.db_name, "127.0.0.1", str(dep.cluster.port), dep.cluster.user, "user=", "host=",
                         "dbname=", "password") if s in body]
    return found + [m for m in re.findall(r"postgres\w*", body)]


def test_health_is_503_without_connection_details_once_the_database_is_down(deployment: Deployment) -> None:
    """Stop PostgreSQL under a running server: health and readiness answer 503, liveness 200, and no
    answer (health, a token lookup, a login) shows the database user, host, port or name."""
    url = deployment.url
    before = httpx.get(url + "/api/v1/health", timeout=10)
    assert (200, {"store": "ok"}) == (before.status_code, before.json()["checks"])

    with httpx.Client(base_url=url, timeout=30) as browser:  # the login form, shown while the database is up
        form = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        deployment.cluster.stop()
        health = httpx.get(url + "/api/v1/health", timeout=30)
        ready = httpx.get(url + "/readyz", timeout=30)
        live = httpx.get(url + "/healthz", timeout=30)
        api = httpx.get(url + "/api/v1/tickets", headers={"Authorization": "Bearer so_agent_" + "x" * 40}, timeout=30)
        login = browser.post("/login", data={"name": "alice", "password": PASSWORD,
                                             "csrf_token": token.group(1)})

    assert (503, 503, 200) == (health.status_code, ready.status_code, live.status_code), health.text
    assert {"store": "unavailable"} == health.json()["checks"]
    assert (503, 503) == (api.status_code, login.status_code), (api.text, login.text)
    bodies = {"health": health.text, "readyz": ready.text, "api": api.text, "login": login.text}
    assert {name: [] for name in bodies} == {name: leaks(body, deployment) for name, body in bodies.items()}
    # The operator still learns why: the server's log has the reason.
    assert "readiness check: the store did not answer" in deployment.log.read_text()
