"""Slack interactions: signed as Slack signs them, refused when stale or replayed, and decided by a real
Gate behind the real server app (tiers, four eyes, "not your own" as in the inbox)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from signoff import Action, Gate
from signoff._errors import InvalidAction, NotAuthorized
from signoff._model import Ticket
from signoff.notify._slack_blocks import APPROVE, APPROVE_ALL, REJECT, REJECT_ALL, REJECT_VIEW, ids_value
from signoff.notify.slack import SlackChannel
from signoff.notify.slack_interactions import RequestVerifier, parse
from signoff.server import ServerSettings, create_app
from signoff.store._records import Reviewer
from tests.notify import _slack_api
from tests.notify._slack_api import CHANNEL_ID, TOKEN, SlackAPI
from tests.notify.conftest import POLICY

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PATH = "/integrations/slack/interactions"
BASE = "http://testserver"
REVIEWERS = [Reviewer(name="alice", tier="senior", slack_id="U0ALICE"),
             Reviewer(name="jim", tier="junior", slack_id="U0JIM"),
             Reviewer(name="carol", tier="senior", email="carol@example.com"),
             Reviewer(name="agent-7", tier="senior", slack_id="U0AGENT7")]


def sign(body: bytes, ts: int, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends, computed here from Slack's documented recipe (not with slack_sdk)."""
    base = b"v0:" + str(ts).encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def press(user: str, action_id: str, value: str, *, response_url: str = "", trigger: str = "13345224609.8") -> bytes:
    return form({"type": "block_actions", "user": {"id": user, "username": user.lower()}, "trigger_id": trigger,
                 "response_url": response_url, "container": {"type": "message", "message_ts": "1700000000.000001",
                                                             "channel_id": CHANNEL_ID},
                 "actions": [{"action_id": action_id, "block_id": "signoff_actions", "value": value,
                              "type": "button"}]})


def submit(user: str, metadata: str, feedback: str) -> bytes:
    return form({"type": "view_submission", "user": {"id": user},
                 "view": {"callback_id": REJECT_VIEW, "private_metadata": metadata,
                          "state": {"values": {"feedback": {"feedback": {"type": "plain_text_input",
                                                                         "value": feedback}}}}}})


# -- verification and parsing, without a server ---------------------------------------------------

def test_a_signature_made_as_slack_makes_it_is_accepted_by_slack_sdk_and_by_us() -> None:
    body, now = press("U0ALICE", APPROVE, "tk_1"), int(time.time())
    headers = sign(body, now)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert RequestVerifier(["other-app-secret", SECRET]).verify(body, headers) == SECRET
    tampered = body.replace(b"tk_1", b"tk_2")
    assert not SignatureVerifier(SECRET).is_valid_request(tampered, headers)
    with pytest.raises(NotAuthorized, match="does not match"):
        RequestVerifier([SECRET]).verify(tampered, headers)
    with pytest.raises(NotAuthorized, match="does not match"):
        RequestVerifier(["another"]).verify(body, headers)


def test_stale_and_replayed_requests_are_refused() -> None:
    body, now = press("U0ALICE", APPROVE, "tk_1"), 1_800_000_000
    v = RequestVerifier([SECRET], clock=lambda: now)
    old = sign(body, now - 301)
    assert not SignatureVerifier(SECRET, clock=_At(now)).is_valid_request(body, old)
    with pytest.raises(NotAuthorized, match="301 s off"):
        v.verify(body, old)
    fresh = sign(body, now - 10)
    assert v.verify(body, fresh) == SECRET
    with pytest.raises(NotAuthorized, match="replay"):
        v.verify(body, fresh)
    with pytest.raises(NotAuthorized, match="X-Slack-Signature"):
        v.verify(body, {})


class _At(Clock):
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_parse_buttons_and_the_reject_dialog() -> None:
    it = parse(press("U0ALICE", APPROVE_ALL, ids_value(["tk_1", "tk_2"]), response_url="https://hooks.x/r"))
    assert (it.kind, it.user_id, it.ticket_ids) == ("approve_all", "U0ALICE", ("tk_1", "tk_2"))
    assert it.response_url == "https://hooks.x/r" and it.message_ref == f"{CHANNEL_ID}:1700000000.000001"
    meta = json.dumps({"tickets": ["tk_1"], "response_url": "https://hooks.x/r"})
    it = parse(submit("U0JIM", meta, "  too risky  "))
    assert (it.kind, it.ticket_ids, it.feedback, it.response_url) == (
        "reject_submitted", ("tk_1",), "too risky", "https://hooks.x/r")
    assert parse(press("U0ALICE", "someone_elses_button", "x")).kind == "ignored"
    with pytest.raises(InvalidAction):
        parse(press("U0ALICE", APPROVE_ALL, "[1, 2]"))
    with pytest.raises(InvalidAction):
        parse(b"payload=not-json")


# -- through the real server app ------------------------------------------------------------------

@dataclass
class Slack:
    gate: Gate
    api: SlackAPI
    client: httpx.AsyncClient

    async def submit(self, name: str = "deploy", agent: str = "agent-7") -> Ticket:
        return await self.gate.submit(Action(name=name, agent=agent, args={"service": "api"}))

    async def post(self, body: bytes, *, ts: int | None = None) -> httpx.Response:
        return await self.client.post(PATH, content=body, headers=sign(body, ts or int(time.time())))

    def replies(self) -> list[dict[str, Any]]:
        return [c.args for c in self.api.of("response")]


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


@pytest.fixture
async def slack(tmp_path: Path, api: SlackAPI) -> AsyncIterator[Slack]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    gate = Gate.open(policy=tmp_path / "policy.yaml", store=f"sqlite:///{tmp_path}/s.db", sweep=False)
    for r in REVIEWERS:
        await gate._engine.run(gate.store.put_reviewer(r))
    channel = SlackChannel("approvals", channel="#approvals", token=TOKEN, signing_secret=SECRET,
                           api_url=api.api_url)
    app = create_app(gate, settings=ServerSettings(public_url=BASE), channels={"approvals": channel})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield Slack(gate, api, client)
    await gate.aclose()


async def test_approve_in_slack_decides_and_replaces_the_message(slack: Slack) -> None:
    t = await slack.submit()
    resp = await slack.post(press("U0ALICE", APPROVE, t.id, response_url=slack.api.response_url()))
    assert resp.status_code == 200
    done = await slack.gate.get_ticket(t.id)
    assert done.status == "approved" and done.decided_by == ("alice",)
    (reply,) = slack.replies()
    assert reply["replace_original"] is True and "approved by alice" in reply["text"]
    assert not any(b["type"] == "actions" and len(b["elements"]) > 1 for b in reply["blocks"])


async def test_a_junior_is_refused_a_senior_ticket_with_an_explanation(slack: Slack) -> None:
    t = await slack.submit("pay")
    resp = await slack.post(press("U0JIM", APPROVE, t.id, response_url=slack.api.response_url()))
    assert resp.status_code == 200
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    (reply,) = slack.replies()
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert reply["text"].startswith("Nothing was decided:") and "senior" in reply["text"]


async def test_an_agent_cannot_approve_its_own_request(slack: Slack) -> None:
    t = await slack.submit()
    await slack.post(press("U0AGENT7", APPROVE, t.id, response_url=slack.api.response_url()))
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    (reply,) = slack.replies()
    assert reply["response_type"] == "ephemeral" and "requested ticket" in reply["text"]


async def test_an_unknown_slack_user_is_told_how_to_link(slack: Slack) -> None:
    t = await slack.submit()
    await slack.post(press("U0NOBODY", APPROVE, t.id, response_url=slack.api.response_url()))
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    (reply,) = slack.replies()
    assert reply["response_type"] == "ephemeral"
    assert "not linked to a signoff reviewer" in reply["text"]
    assert "signoff reviewer add NAME --slack-id U0NOBODY" in reply["text"]


async def test_a_slack_user_is_found_by_email(slack: Slack) -> None:
    slack.api.emails["U0CAROL"] = "carol@example.com"
    t = await slack.submit()
    await slack.post(press("U0CAROL", APPROVE, t.id, response_url=slack.api.response_url()))
    assert (await slack.gate.get_ticket(t.id)).decided_by == ("carol",)
    assert slack.api.of("users.info")[0].args["user"] == "U0CAROL"


async def test_reject_opens_a_dialog_and_its_submission_rejects_with_feedback(slack: Slack) -> None:
    t = await slack.submit()
    await slack.post(press("U0ALICE", REJECT, t.id, response_url=slack.api.response_url(), trigger="T.1"))
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    (opened,) = slack.api.of("views.open")
    assert opened.args["trigger_id"] == "T.1"
    view = opened.args["view"]
    meta = json.loads(view["private_metadata"])
    assert meta == {"tickets": [t.id], "response_url": slack.api.response_url()}
    resp = await slack.post(submit("U0ALICE", view["private_metadata"], "Not on a Friday."))
    assert resp.status_code == 200 and resp.content == b""  # an empty answer closes the dialog
    done = await slack.gate.get_ticket(t.id)
    assert done.status == "rejected" and done.feedback == "Not on a Friday."
    assert "rejected by alice" in slack.replies()[-1]["text"]


async def test_reject_opens_no_dialog_for_who_may_not_decide(slack: Slack) -> None:
    t = await slack.submit("pay")
    await slack.post(press("U0JIM", REJECT, t.id, response_url=slack.api.response_url()))
    assert slack.api.of("views.open") == []
    (reply,) = slack.replies()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == f"You cannot reject {t.id}: it needs a senior reviewer"


async def test_a_refused_rejection_shows_in_the_dialog(slack: Slack) -> None:
    t = await slack.submit("pay")
    resp = await slack.post(submit("U0JIM", json.dumps({"tickets": [t.id]}), "no"))
    body = resp.json()
    assert body["response_action"] == "errors" and "senior" in body["errors"]["feedback"]
    assert (await slack.gate.get_ticket(t.id)).status == "pending"


async def test_approve_all_decides_exactly_the_listed_tickets(slack: Slack) -> None:
    a, b, c = await slack.submit(), await slack.submit(), await slack.submit()
    await slack.post(press("U0ALICE", APPROVE_ALL, ids_value([a.id, b.id]), response_url=slack.api.response_url()))
    assert [(await slack.gate.get_ticket(x.id)).status for x in (a, b, c)] == ["approved", "approved", "pending"]
    assert "2 tickets" in slack.replies()[0]["text"]


async def test_reject_all_asks_once_and_rejects_exactly_the_listed_tickets(slack: Slack) -> None:
    a, b, c = await slack.submit(), await slack.submit(), await slack.submit()
    await slack.post(press("U0ALICE", REJECT_ALL, ids_value([a.id, b.id]), response_url=slack.api.response_url()))
    (opened,) = slack.api.of("views.open")
    view = opened.args["view"]
    assert view["title"]["text"] == "Reject 2" and json.loads(view["private_metadata"])["tickets"] == [a.id, b.id]
    await slack.post(submit("U0ALICE", view["private_metadata"], "Batch looks wrong."))
    done = [await slack.gate.get_ticket(x.id) for x in (a, b, c)]
    assert [t.status for t in done] == ["rejected", "rejected", "pending"]
    assert done[0].feedback == done[1].feedback == "Batch looks wrong."


async def test_four_eyes_hold_in_slack(slack: Slack) -> None:
    t = await slack.submit("drop_table")
    await slack.post(press("U0ALICE", APPROVE, t.id, response_url=slack.api.response_url()))
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    first = slack.replies()[0]
    assert first["replace_original"] is True and "approvals 1 of 2 (alice)" in json.dumps(first["blocks"])
    await slack.post(press("U0ALICE", APPROVE, t.id, response_url=slack.api.response_url(), trigger="T.2"))
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    assert slack.replies()[1]["response_type"] == "ephemeral"


async def test_unsigned_stale_and_replayed_requests_decide_nothing(slack: Slack) -> None:
    t = await slack.submit()
    body = press("U0ALICE", APPROVE_ALL, ids_value([t.id]))
    unsigned = await slack.client.post(PATH, content=body)
    stale = await slack.post(body, ts=int(time.time()) - 600)
    assert (unsigned.status_code, stale.status_code) == (401, 401)
    assert "off" in stale.text
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    ts = int(time.time())
    assert (await slack.post(body, ts=ts)).status_code == 200
    replay = await slack.post(body, ts=ts)
    assert replay.status_code == 401 and "replay" in replay.text


async def test_a_replay_to_another_server_on_the_same_store_is_refused(slack: Slack, tmp_path: Path) -> None:
    """Two servers share the database: the second refuses what the first took (its own memory is empty)."""
    t = await slack.submit()
    other_gate = Gate.open(policy=tmp_path / "policy.yaml", store=f"sqlite:///{tmp_path}/s.db", sweep=False)
    channel = SlackChannel("approvals", channel="#approvals", token=TOKEN, signing_secret=SECRET,
                           api_url=slack.api.api_url)
    other = create_app(other_gate, settings=ServerSettings(public_url=BASE), channels={"approvals": channel})
    try:
        body, ts = press("U0ALICE", REJECT, t.id), int(time.time())  # opens no ticket change by itself
        assert (await slack.post(body, ts=ts)).status_code == 200
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url=BASE) as client:
            replay = await client.post(PATH, content=body, headers=sign(body, ts))
        assert replay.status_code == 401 and "replay" in replay.text
    finally:
        await other_gate.aclose()
