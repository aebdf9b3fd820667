"""Hostile agent values against a real `signoff serve`: refused at the door, and harmless once stored.

An agent that sends arguments nested hundreds of levels deep, or an integer beyond 64 bits,
must get a clear 422 and store nothing; a ticket stored earlier (by an older version, before
the limits existed) must not take the inbox, its own page or the ticket list down for every
reviewer. The server here is a process of its own, so its log can be checked for tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff import _limits
from signoff._model import Action, Level, Ticket, utcnow
from tests.server.conftest import PASSWORD, Server, start_server, stop_process

DEPTH = 600


def nested(depth: int, leaf: Any = "bottom") -> Any:
    """``[[[...leaf...]]]``: a value ``depth`` containers deep."""
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_body(depth: int) -> bytes:
    # Built as text: json.dumps itself recurses, and the point is what the server does with it.
    return ('{"action": {"name": "deploy_production", "args": {"payload": ' + "[" * depth + '"x"' + "]" * depth
            + "}}}").encode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("hostile"))
    yield srv
    code = stop_process(srv.proc)
    srv.gate.close()
    log = srv.log.read_text()
    assert (0, False) == (code, "Traceback" in log), log


def agent_client(server: Server) -> tuple[str, httpx.Client]:
    name, token = server.agent("hostile")
    return name, httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def reviewer_api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {server.token('reviewer', 'alice')}"})


def inbox_session(server: Server) -> httpx.Client:
    """A browser-like client logged in to the inbox as alice (login form, CSRF token and all)."""
    client = httpx.Client(base_url=server.url, timeout=30, headers={"Origin": server.url})
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    done = client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token.group(1),
                                       "next": "/"})
    assert done.status_code in (200, 303), done.text
    assert client.get("/").status_code == 200
    return client


def agent_tickets(server: Server, agent: str) -> list[Ticket]:
    return server.gate.list_tickets_sync(agent=agent, status=None, limit=100)  # type: ignore[no-any-return]


class TestRefusedAtTheDoor:
    @pytest.mark.parametrize("depth", [DEPTH, _limits.MAX_DEPTH + 1])
    def test_deep_args_get_422_naming_the_field_and_limit_and_nothing_is_stored(self, served: Server,
                                                                                depth: int) -> None:
        """600 levels (the attack) and one level over the limit are both refused the same clear way."""
        agent, client = agent_client(served)
        with client:
            r = client.post("/api/v1/tickets", content=deep_body(depth), headers={"content-type": "application/json"})
        assert 422 == r.status_code, r.text
        detail = r.json()["detail"]
        assert "args['payload']" in detail and str(_limits.MAX_DEPTH) in detail, detail
        assert [] == agent_tickets(served, agent)

    @pytest.mark.parametrize("field", ["context", "args"])
    def test_deep_values_refused_on_every_agent_endpoint(self, served: Server, field: str) -> None:
        """guard, batch submit and evaluate check the same bound as submit."""
        agent, client = agent_client(served)
        action = {"name": "deploy_production", field: {"k": nested(_limits.MAX_DEPTH + 5)}}
        with client:
            answers = [client.post("/api/v1/guard", json={"action": action}),
                       client.post("/api/v1/tickets/batch", json={"items": [{"action": action}]}),
                       client.post("/api/v1/evaluate", json={"action": action})]
        assert [422, 422, 422] == [r.status_code for r in answers], [r.text for r in answers]
        assert all(f"{field}['k']" in r.json()["detail"] for r in answers)
        assert [] == agent_tickets(served, agent)

    def test_huge_integer_is_refused_not_rounded(self, served: Server) -> None:
        """2**70 would become 1.1805916207174113e+21 after orjson: a number the agent never sent."""
        agent, client = agent_client(served)
        body = b'{"action": {"name": "deploy_production", "args": {"amount": 1180591620717411303424}}}'
        with client:
            r = client.post("/api/v1/tickets", content=body, headers={"content-type": "application/json"})
        assert 422 == r.status_code, r.text
        assert "args['amount']" in r.json()["detail"] and "64 bits" in r.json()["detail"]
        assert [] == agent_tickets(served, agent)

    def test_large_float_and_64_bit_integers_pass_exactly(self, served: Server) -> None:
        """What fits is kept exact: the limit refuses only what would be changed."""
        agent, client = agent_client(served)
        body = (b'{"action": {"name": "deploy_production", "args": {"big": 9223372036854775807, '
                b'"small": -9223372036854775808, "float": 1e30}}}')
        with client:
            r = client.post("/api/v1/tickets", content=body, headers={"content-type": "application/json"})
        assert 201 == r.status_code, r.text
        assert {"big": 2**63 - 1, "small": -(2**63), "float": 1e30} == r.json()["action"]["args"]
        [stored] = agent_tickets(served, agent)
        assert 2**63 - 1 == stored.action.args["big"] and isinstance(stored.action.args["big"], int)


@pytest.fixture(scope="module")
def deep_ticket(served: Server) -> str:
    """A deep ticket written straight into the store, as a version without the limits would have."""
    action = Action._unchecked(name="deploy_production", agent="old-agent",
                               args={"payload": nested(DEPTH), "huge": 2**70},
                               context={"ctx": nested(DEPTH)}, tags=frozenset({"t"}))
    ticket = Ticket(id="tk_deep_legacy", kind="approval", action=action, status="pending", level=Level.APPROVE,
                    rules=("prod-deploys",), group_key="legacy", digest=action.digest(), created_at=utcnow())
    served.gate._engine.run_sync(served.gate.store.insert_tickets([(ticket, None)]))
    return ticket.id


class TestStoredEarlier:
    def test_reviewer_pages_and_list_still_answer(self, served: Server, deep_ticket: str) -> None:
        """The inbox, the ticket's page and the unfiltered ticket list all answer 200 with a placeholder."""
        browser = inbox_session(served)
        try:
            with reviewer_api(served) as api:
                inbox = browser.get("/")
                page = browser.get(f"/tickets/{deep_ticket}")
                listed = api.get("/api/v1/tickets")
                one = api.get(f"/api/v1/tickets/{deep_ticket}")
                audit = browser.get("/audit")
        finally:
            browser.close()
        assert [200, 200, 200, 200, 200] == [r.status_code for r in (inbox, page, listed, one, audit)]
        assert deep_ticket in inbox.text
        placeholder = f"nested deeper than {_limits.MAX_DEPTH} levels"
        assert placeholder in page.text
        [mine] = [t for t in listed.json()["tickets"] if t["id"] == deep_ticket]
        assert placeholder in str(mine["action"]["args"]["payload"])
        assert "1180591620717411303424" in str(mine["action"]["args"]["huge"])
        assert placeholder in str(one.json()["action"]["context"])


def test_helpers_are_importable(tmp_path: Path) -> None:
    """The module's own helpers build what they say (guards the test against testing nothing)."""
    assert 3 == str(nested(3)).count("[")
    assert deep_body(2).startswith(b'{"action"') and b'[["x"]]' in deep_body(2)


class TestMisleadingText:
    def test_hidden_characters_in_tags_and_context_are_marked_and_counted(self, served: Server) -> None:
        """Only the tags and the context hide characters: the banner and the inbox badge still say so."""
        _, client = agent_client(served)
        with client:
            r = client.post("/api/v1/tickets", json={"action": {
                "name": "deploy_production", "args": {"service": "api"}, "tags": ["safe\u202eexe.txt"],
                "context": {"env": "prod\u200b"}}})
        assert 201 == r.status_code, r.text
        tid = r.json()["id"]
        browser = inbox_session(served)
        try:
            page = browser.get(f"/tickets/{tid}").text
            row = browser.get(f"/ui/rows/{tid}").text
        finally:
            browser.close()
        assert "2 hidden characters</b> in what the agent sent" in page
        assert "tags: 1" in page and "context: 1" in page
        assert "safe<mark" in page and "&lt;U+202E&gt;</mark>exe.txt" in page
        assert "⚠ 2 hidden" in row

    def test_argument_keys_are_quoted_in_the_inbox_row_and_the_audit_log(self, served: Server) -> None:
        """A key cannot fake fields: ``amount=10.0, currency="USD", reason`` shows as one quoted key,
        and an agent's cancel reason cannot pass for another field of the audit entry."""
        fake = 'amount=10.0, currency="USD", reason'
        _, client = agent_client(served)
        with client:
            shown = client.post("/api/v1/tickets", json={"action": {"name": "deploy_production",
                                                                    "args": {fake: "refund"}}}).json()["id"]
            cancelled = client.post("/api/v1/tickets", json={"action": {"name": "deploy_production"}}).json()["id"]
            assert 200 == client.post(f"/api/v1/tickets/{cancelled}/cancel",
                                      json={"reason": "x · status=approved"}).status_code
        browser = inbox_session(served)
        try:
            inbox = browser.get("/").text.replace("&quot;", "&#34;")
            audit = browser.get("/audit").text.replace("&quot;", "&#34;")
        finally:
            browser.close()
        assert shown in inbox
        assert "&#34;amount=10.0, currency=\\&#34;USD\\&#34;, rea…=&#34;refund&#34;" in inbox  # one key, cut visibly
        assert "amount=10.0, currency=&#34;USD&#34;, reason=" not in inbox
        assert "&#34;reason&#34;=&#34;x · status=approved&#34;" in audit
