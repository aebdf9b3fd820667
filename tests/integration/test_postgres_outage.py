"""PostgreSQL stopped under a real ``signoff serve``: ``auto`` answers keep coming for an agent token
the server verified recently, a token it never saw gets 503, an approve-level submit gets 503 (the
gate fails closed), and once the database is back a token revoked meanwhile is refused.

Its own throwaway cluster (this test stops and starts it). The only time bounds are generous
"does not hang" ones: ten times the pool timeout the server runs with.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signoff import Gate
from signoff._tokens import hash_token
from tests.integration._policies import DEPLOYS as POLICY
from tests.postgres_server import Cluster, create_database, start_own_cluster
from tests.server.conftest import free_port, stop_process, wait_until_up

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

POOL_TIMEOUT = 2.0  # seconds a request waits for a connection (the URL's pool_timeout)
HANG = 10 * POOL_TIMEOUT
TOKEN_CACHE = 2.0  # ServerSettings.token_cache_seconds: the short cache that lapses during the outage
AUTO = {"action": {"name": "lookup", "args": {"q": "order"}, "reasoning": "r"}}
DEPLOY = {"action": {"name": "deploy", "args": {"service": "api"}, "reasoning": "green"}}


@dataclass
class Deployment:
    cluster: Cluster
    db: str
    url: str
    tokens: dict[str, str]
    policy: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    cluster = start_own_cluster()  # this test stops it
    proc: subprocess.Popen[bytes] | None = None
    try:
        db = create_database(cluster.url, "t_outage_" + secrets.token_hex(6))
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        with Gate.open(policy=policy, store=db, sweep=False) as gate:
            tokens = {name: gate.create_token_sync("agent", name) for name in ("seen", "unseen", "revoked")}
        port = free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "signoff"), "serve", "--policy", str(policy),
                                     "--db", f"{db}?pool_timeout={POOL_TIMEOUT:g}", "--host", "127.0.0.1",
                                     "--port", str(port), "--log-level", "warning"],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc, log)
        yield Deployment(cluster=cluster, db=db, url=url, tokens=tokens, policy=policy)
    finally:
        if proc is not None:
            stop_process(proc)
        cluster.stop()


def _post(url: str, path: str, token: str, body: object) -> httpx.Response:
    return httpx.post(f"{url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=HANG)


def _halt(cluster: Cluster) -> None:
    """Stop PostgreSQL and keep its data (``Cluster.stop`` removes it): started again with ``start``."""
    subprocess.run(cluster._cmd("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "-t", "60", "stop"),
                   check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cluster.root)


def _revoke(db: str, token: str) -> None:
    """As an operator would, in the database."""
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE tokens SET revoked = true WHERE token_hash = %s", (hash_token(token),))


def test_auto_keeps_answering_for_a_recent_token_while_postgres_is_stopped(deployment: Deployment) -> None:
    """Verified before the stop: auto answers after the short cache lapsed; never verified: 503; an
    approve-level submit: 503 and nothing queued; revoked in the database just before the stop:
    honoured meanwhile (the server could not know), refused with 401 once PostgreSQL is back."""
    url, tokens = deployment.url, deployment.tokens
    before = [_post(url, "/evaluate", tokens[name], AUTO).status_code for name in ("seen", "revoked")]
    _revoke(deployment.db, tokens["revoked"])  # the server has not asked since: it still remembers it
    _halt(deployment.cluster)
    time.sleep(TOKEN_CACHE + 0.5)  # past the short cache: every answer below needs the memory (or the store)

    auto = [_post(url, "/evaluate", tokens["seen"], AUTO) for _ in range(3)]
    submit = _post(url, "/tickets", tokens["seen"], DEPLOY)
    unseen = _post(url, "/evaluate", tokens["unseen"], AUTO)
    revoked_during = _post(url, "/evaluate", tokens["revoked"], AUTO)

    deployment.cluster.start(durable=False)
    deadline = time.monotonic() + HANG
    while (revoked_after := _post(url, "/evaluate", tokens["revoked"], AUTO)).status_code == 200 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    seen_after = _post(url, "/evaluate", tokens["seen"], AUTO)

    assert [200, 200] == before
    assert [(200, "auto")] * 3 == [(r.status_code, r.json()["level"]) for r in auto], [r.text for r in auto]
    assert (503, 503, 200) == (submit.status_code, unseen.status_code, revoked_during.status_code), \
        (submit.text, unseen.text)
    assert (401, 200) == (revoked_after.status_code, seen_after.status_code), revoked_after.text
    with Gate.open(policy=deployment.policy, store=deployment.db, sweep=False) as gate:
        assert [] == gate.list_tickets_sync()  # the refused submit queued nothing
