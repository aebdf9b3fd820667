"""``GET /metrics``, ``--log-format json`` and the health endpoints of a real ``signoff serve``.

One server for the module, started with a metrics token, JSON logs with the access log, and a
policy with a 1 s timeout (escalation, then expiry) and two notification channels (the console,
delivered; a webhook to a closed port, retried). Its scrapes are parsed with prometheus-client's
own text parser, and its log lines with ``json.loads``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from signoff import Action, Gate
from tests.server.conftest import POLICY, Server, free_port, signoff_exe, start_server, stop_process, wait_until_up

METRICS_TOKEN = "metrics-" + "m" * 24
HOOK_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
TIMED = POLICY.replace("rules:\n", """rules:
  - name: quick
    match: {action: quick_fix}
    level: approve
    reviewers: {tier: junior}
    timeout: 1s
    on_timeout: escalate
""", 1) + """\
notifications:
  channels:
    team: {kind: console}
    ops-hook: {kind: webhook, url: "http://127.0.0.1:9/nobody-listens", secret: "env:METRICS_TEST_HOOK_SECRET"}
  routes:
    - {match: {rule: prod-deploys}, to: [team, ops-hook]}
  events: [created]
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGNOFF_METRICS_TOKEN", METRICS_TOKEN)
        mp.setenv("METRICS_TEST_HOOK_SECRET", HOOK_SECRET)
        srv = start_server(tmp_path_factory.mktemp("metrics"), TIMED,
                           extra_args=("--log-format", "json", "--access-log", "--log-level", "info"))
    yield srv
    stop_process(srv.proc)
    srv.gate.close()


def get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(srv: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(f"{srv.url}/metrics", METRICS_TOKEN)
    assert 200 == status, text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def until(check: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


def deploy(agent: str) -> Action:
    return Action(name="deploy_production", args={"service": "api"}, agent=agent, reasoning="ship it")


class TestAuthentication:
    def test_no_token_is_401(self, served: Server) -> None:
        """Without credentials the scrape is refused with a 401 naming what to send."""
        status, body = get(f"{served.url}/metrics")
        assert (401, True) == (status, "SIGNOFF_METRICS_TOKEN" in body)

    def test_agent_token_is_403(self, served: Server) -> None:
        """An agent's token is not enough: counts across agents are for operators."""
        _, token = served.agent()
        assert 403 == get(f"{served.url}/metrics", token)[0]

    def test_wrong_token_is_401(self, served: Server) -> None:
        """A token that is neither the metrics token nor any known token is refused."""
        assert 401 == get(f"{served.url}/metrics", "metrics-" + "x" * 24)[0]

    def test_metrics_and_reviewer_tokens_are_accepted(self, served: Server) -> None:
        """The metrics token and a reviewer's token both scrape."""
        assert (200, 200) == (get(f"{served.url}/metrics", METRICS_TOKEN)[0],
                              get(f"{served.url}/metrics", served.token("reviewer", "alice"))[0])


class TestCounters:
    def test_submissions_and_decisions_move_the_counters(self, served: Server) -> None:
        """Two tickets created, one approved, one rejected: created, decided, time-to-decision, pending."""
        before = scrape(served)
        name, token = served.agent()
        agent = Gate.remote(served.url, token=token)
        alice = Gate.remote(served.url, token=served.token("reviewer", "alice"))
        try:
            one = agent.submit_sync(deploy(name))
            two = agent.submit_sync(deploy(name))
            during = scrape(served)
            alice.approve_sync(one.id)
            alice.reject_sync(two.id, feedback="not today")
        finally:
            agent.close()
            alice.close()
        after = scrape(served)
        deploys = {"level": "approve", "rule": "prod-deploys"}
        created = ("signoff_tickets_created_total", deploys)
        approved = ("signoff_tickets_decided_total", {**deploys, "outcome": "approved"})
        rejected = ("signoff_tickets_decided_total", {**deploys, "outcome": "rejected"})
        ttd = ("signoff_time_to_decision_seconds_count", {"level": "approve", "outcome": "approved"})
        moved = {k: value(after, n, **lb) - value(before, n, **lb)
                 for k, (n, lb) in {"created": created, "approved": approved, "rejected": rejected,
                                    "ttd": ttd}.items()}
        assert {"created": 2, "approved": 1, "rejected": 1, "ttd": 1} == moved
        pending = value(during, "signoff_tickets_pending", tier="*") - value(after, "signoff_tickets_pending", tier="*")
        assert 2 == pending

    def test_evaluate_is_timed(self, served: Server) -> None:
        """Each evaluation adds one observation to the evaluate latency histogram."""
        before = value(scrape(served), "signoff_evaluate_seconds_count")
        name, token = served.agent()
        agent = Gate.remote(served.url, token=token)
        try:
            for _ in range(3):
                agent.evaluate(deploy(name))
        finally:
            agent.close()
        assert 3 == value(scrape(served), "signoff_evaluate_seconds_count") - before

    def test_timeouts_escalate_then_expire(self, served: Server) -> None:
        """A 1 s junior ticket escalates to senior, then expires: both counted, and the escalation by tier."""
        name, token = served.agent()
        agent = Gate.remote(served.url, token=token)
        try:
            ticket = agent.submit_sync(Action(name="quick_fix", args={}, agent=name, reasoning="small"))
        finally:
            agent.close()
        until(lambda: served.gate.get_ticket_sync(ticket.id).status == "expired")
        after = scrape(served)
        assert (True, True, True) == (value(after, "signoff_timeouts_total", result="escalated") >= 1,
                                      value(after, "signoff_timeouts_total", result="expired") >= 1,
                                      value(after, "signoff_escalations_total", tier="senior") >= 1)

    def test_notifications_delivered_and_retried(self, served: Server) -> None:
        """The console channel's deliveries and the unreachable webhook's retries are counted by channel."""
        name, token = served.agent()
        agent = Gate.remote(served.url, token=token)
        try:
            agent.submit_sync(deploy(name))
        finally:
            agent.close()

        def counted() -> bool:
            s = scrape(served)
            return (value(s, "signoff_notifications_total", channel="team", result="delivered") >= 1
                    and value(s, "signoff_notifications_total", channel="ops-hook", result="retry") >= 1)

        until(counted)

    def test_pending_by_tier(self, served: Server) -> None:
        """The pending gauge has every tier of the policy (zero or not) and the exact total."""
        samples = scrape(served)
        tiers = {dict(labels)["tier"] for (n, labels) in samples if n == "signoff_tickets_pending"}
        assert {"junior", "senior", "any", "*"} <= tiers


class TestHealth:
    def test_healthz_and_readyz(self, served: Server) -> None:
        """Liveness and readiness need no token and answer 200 while the store answers."""
        assert (200, 200) == (get(f"{served.url}/healthz")[0], get(f"{served.url}/readyz")[0])


class TestJsonLogs:
    def test_every_line_is_json_with_ticket_ids_and_no_secret(self, served: Server) -> None:
        """Each line of the log parses as one JSON object; a ticket's requests carry its id; no token,
        metrics token or webhook secret appears anywhere."""
        name, token = served.agent()
        agent = Gate.remote(served.url, token=token)
        try:
            ticket = agent.submit_sync(deploy(name))
            agent.get_ticket_sync(ticket.id)
        finally:
            agent.close()
        get(f"{served.url}/metrics?token={METRICS_TOKEN}", METRICS_TOKEN)
        until(lambda: ticket.id in Path(served.log).read_text())
        text = Path(served.log).read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert all(isinstance(line, dict) and {"ts", "level", "logger", "message"} <= line.keys() for line in lines)
        tagged = [line for line in lines if line.get("ticket_id") == ticket.id]
        assert any(line.get("path", "").endswith(ticket.id) and line.get("status") == 200 for line in tagged), tagged
        secrets = [token, METRICS_TOKEN, HOOK_SECRET, *served.tokens.values()]
        assert [] == [s for s in secrets if s in text]


class TestSeveralServers:
    def test_each_server_counts_its_own_work(self, served: Server, tmp_path: Path) -> None:
        """Two servers on one database: a ticket submitted on one and decided on the other is created on the
        first's counters and decided on the second's, once in all (sums across servers are right); the
        pending gauge, read from the shared store, is the same on both."""
        port = free_port()
        second_url, log = f"http://127.0.0.1:{port}", tmp_path / "second.log"
        policy = Path(served.db.removeprefix("sqlite:///")).parent / "policy.yaml"
        with log.open("wb") as out:
            proc = subprocess.Popen([signoff_exe(), "serve", "--policy", str(policy), "--db", served.db,
                                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                     "--metrics-public"], stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "METRICS_TEST_HOOK_SECRET": HOOK_SECRET})
        try:
            wait_until_up(second_url, proc, log)
            second = Server(url=second_url, db=served.db, gate=served.gate, proc=proc, log=log)
            key = ("signoff_tickets_created_total", (("level", "approve"), ("rule", "prod-deploys")))
            done = ("signoff_tickets_decided_total",
                    (("level", "approve"), ("outcome", "approved"), ("rule", "prod-deploys")))
            before = [scrape(served), scrape(second)]
            name, token = served.agent()
            agent = Gate.remote(served.url, token=token)
            alice = Gate.remote(second_url, token=served.token("reviewer", "alice"))
            try:
                ticket = agent.submit_sync(deploy(name))
                alice.approve_sync(ticket.id)
            finally:
                agent.close()
                alice.close()
            after = [scrape(served), scrape(second)]
            moved = [(a.get(key, 0) - b.get(key, 0), a.get(done, 0) - b.get(done, 0))
                     for a, b in zip(after, before, strict=True)]
            assert [(1, 0), (0, 1)] == moved
            pending = [s[("signoff_tickets_pending", (("tier", "*"),))] for s in after]
            assert pending[0] == pending[1]
        finally:
            stop_process(proc)
