"""One error map: an exception gets the same status from the JSON API and the inbox, and a store
outage never shows the store's own words (which name the database) to anyone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff import (
    Action,
    Conflict,
    Gate,
    InvalidAction,
    NotAuthorized,
    NotFound,
    QuotaExceeded,
    SignoffError,
    StoreUnavailable,
    UserError,
)
from signoff.server import ServerSettings, create_app
from signoff.server._error_map import status_for

DSN = "postgresql://signoff_app:***@db-7.internal.example:5432/approvals"
PASSWORD = "correct horse battery"
POLICY = {"version": 1, "tiers": ["junior", "senior"],
          "rules": [{"name": "deploys", "match": {"action": "deploy"}, "level": "approve"}]}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Doors:
    """One app in-process: an API client with a reviewer token and an inbox client logged in."""

    def __init__(self, gate: Gate, api: httpx.AsyncClient, inbox: httpx.AsyncClient, csrf: str) -> None:
        self.gate, self.api, self.inbox, self.csrf = gate, api, inbox, csrf

    def fail(self, method: str, exc: SignoffError, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make the gate's public ``method`` raise ``exc``, as a failing store or a refusing rule would."""
        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise exc

        monkeypatch.setattr(self.gate, method, failing)


@pytest.fixture
async def doors(tmp_path: Path) -> AsyncIterator[Doors]:
    gate = Gate.open(policy=POLICY, store=f"sqlite:///{tmp_path}/errors.db", sweep=False)
    gate.add_reviewer("alice", tier="senior", password=PASSWORD)
    token = await gate.create_token("reviewer", "alice")
    app = create_app(gate, settings=ServerSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {token}"}) as api, \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as inbox:
        login = CSRF.search((await inbox.get("/login")).text)
        assert login is not None
        await inbox.post("/login", data={"csrf_token": login.group(1), "name": "alice", "password": PASSWORD})
        page = CSRF.search((await inbox.get("/")).text)
        assert page is not None
        yield Doors(gate, api, inbox, page.group(1))
    await gate.aclose()


ERRORS = [
    NotFound("no ticket 'tk_1'"),
    Conflict("ticket tk_1 is already approved (by bob)"),
    NotAuthorized("ticket tk_1 needs a senior reviewer; 'alice' is junior"),
    InvalidAction("the edited arguments are not allowed"),
    UserError("ticket tk_1 is a suggestion, not an approval"),
    QuotaExceeded("too many pending tickets"),
    StoreUnavailable(f"{DSN}: connection refused"),
]


class TestOneStatusPerError:
    @pytest.mark.parametrize("exc", ERRORS, ids=lambda e: type(e).__name__)
    async def test_api_and_inbox_answer_a_decision_error_alike(self, doors: Doors, exc: SignoffError,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """The same error from approve: the API's status is the inbox's (HTML and script), the map's."""
        doors.fail("approve", exc, monkeypatch)
        api = await doors.api.post("/api/v1/tickets/tk_1/approve", json={})
        html = await doors.inbox.post("/tickets/tk_1/approve", data={"csrf_token": doors.csrf})
        script = await doors.inbox.post("/tickets/tk_1/approve", data={"csrf_token": doors.csrf},
                                        headers={"Accept": "application/json"})
        expected = status_for(exc)
        assert (expected, expected, expected) == (api.status_code, html.status_code, script.status_code)

    async def test_a_page_read_failing_gets_the_api_status_as_html(self, doors: Doors,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """A GET page whose reads fail answers the map's status as a page, not as problem+json."""
        doors.fail("count_tickets", StoreUnavailable(f"{DSN}: timeout"), monkeypatch)
        r = await doors.inbox.get("/")
        assert (503, "text/html") == (r.status_code, r.headers["content-type"].split(";")[0])


class TestNoConnectionDetails:
    async def test_no_answer_names_the_database(self, doors: Doors, monkeypatch: pytest.MonkeyPatch) -> None:
        """A store outage on approve: API problem, inbox page and script JSON all say 503 without the DSN."""
        doors.fail("approve", StoreUnavailable(f"{DSN}: connection refused"), monkeypatch)
        answers = [await doors.api.post("/api/v1/tickets/tk_1/approve", json={}),
                   await doors.inbox.post("/tickets/tk_1/approve", data={"csrf_token": doors.csrf}),
                   await doors.inbox.post("/tickets/tk_1/approve", data={"csrf_token": doors.csrf},
                                          headers={"Accept": "application/json"})]
        assert [(503, False)] * 3 == [(r.status_code, "db-7.internal" in r.text) for r in answers]

    async def test_a_batch_failure_does_not_name_the_database(self, doors: Doors,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
        """POST /tickets/decide lists a store failure in ``failed`` in general words, never the store's own."""
        doors.fail("_approve", StoreUnavailable(f"{DSN}: connection refused"), monkeypatch)  # what it calls
        r = await doors.api.post("/api/v1/tickets/decide", json={"decisions": [{"ticket_id": "tk_1", "approve": True}]})
        failed = r.json()["failed"]
        assert (200, ["tk_1"], False) == (r.status_code, list(failed), "db-7.internal" in failed["tk_1"])

    async def test_a_group_failure_does_not_name_the_database(self, doors: Doors,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
        """A group decision whose approvals fail on the store: ``failed`` holds general words."""
        ticket = await doors.gate.submit(Action(name="deploy", agent="bot", reasoning="r"))
        # a group's approvals go through _approve (approve's body, with the flood guard's hold)
        doors.fail("_approve", StoreUnavailable(f"{DSN}: connection refused"), monkeypatch)
        r = await doors.api.post(f"/api/v1/groups/{ticket.group_key}/decide",
                                 json={"approve": True, "ticket_ids": [ticket.id]})
        failed = r.json()["failed"]
        assert (200, [ticket.id], False) == (r.status_code, list(failed), "db-7.internal" in failed[ticket.id])

    async def test_a_commit_of_unknown_outcome_still_says_so(self, doors: Doors,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """When the connection failed during COMMIT, the general words still say the change may have happened."""
        doors.fail("approve", StoreUnavailable(f"{DSN}: server closed the connection; the connection failed "
                                               "during COMMIT, so the change may or may not have been written"),
                   monkeypatch)
        r = await doors.api.post("/api/v1/tickets/tk_1/approve", json={})
        assert (503, True, False) == (r.status_code, "may or may not" in r.json()["detail"], "db-7" in r.text)
