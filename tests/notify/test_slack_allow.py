""""Approve and always allow…" in Slack: the button only where the inbox offers its form, the modal it
opens (views.open on the local Slack-compatible server), and its submission decided by a real Gate
(SQLite) behind the real server app, signed as Slack signs (slack_sdk's verifier is checked against the
same recipe in test_slack_interactions)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from signoff import Action
from signoff._model import Level, Reason
from signoff.notify._slack_allow import ALLOW, ALLOW_VIEW, allow_modal, allowable
from signoff.notify._slack_blocks import render
from signoff.notify.slack_interactions import parse
from tests.notify import test_slack_interactions as interactions
from tests.notify._slack_api import CHANNEL_ID
from tests.notify._tickets import StaticLinks, ticket
from tests.notify.test_slack_interactions import PATH, REVIEWERS, Slack, form, press, sign


def allow_submit(user: str, metadata: str, condition: str | None, *, expires: str = "1d",
                 scope: str | None = None) -> bytes:
    values: dict[str, Any] = {"condition": {"condition": {"type": "plain_text_input", "value": condition}},
                              "expires": {"expires": {"type": "static_select",
                                                      "selected_option": {"value": expires}}}}
    if scope is not None:
        values["scope"] = {"scope": {"type": "static_select", "selected_option": {"value": scope}}}
    return form({"type": "view_submission", "user": {"id": user},
                 "view": {"callback_id": ALLOW_VIEW, "private_metadata": metadata, "state": {"values": values}}})


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def blocks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


# -- layout, without a server ---------------------------------------------------------------------

def test_the_button_shows_only_where_an_allowance_can_be_made() -> None:
    links = StaticLinks()
    assert ALLOW in buttons(render("ticket.created", [ticket()], links)[1])
    mode = ticket(reasons=(Reason(code="mode", level=Level.APPROVE, message="mode careful sets the default"),))
    not_here = [ticket(kind="suggestion"), ticket(status="approved"), mode]
    for t in not_here:
        assert not allowable(t)
        assert ALLOW not in buttons(render("ticket.created", [t], links)[1])
    several = render("ticket.created", [ticket(), ticket(id="tk_2")], links)[1]
    assert ALLOW not in buttons(several)


def test_the_modal_proposes_an_editable_condition_and_offers_any_agent_only_to_the_top_tier() -> None:
    t = ticket(action=Action(name="deploy", agent="<!channel> `x`", args={"env": "staging", "amount": 120.0}))
    top = allow_modal(t, any_agent=True, response_url="https://hooks.x/r")
    assert (top["type"], top["callback_id"]) == ("modal", ALLOW_VIEW)
    assert json.loads(top["private_metadata"]) == {"ticket": "tk_1", "response_url": "https://hooks.x/r"}
    fields = blocks_of(top)
    cond = fields["condition"]["element"]
    assert cond["type"] == "plain_text_input"
    assert cond["initial_value"] == 'args.amount <= 120.0 && args.env == "staging"'
    assert [o["value"] for o in fields["scope"]["element"]["options"]] == ["agent", "any"]
    assert [o["value"] for o in fields["expires"]["element"]["options"]] == ["1h", "1d", "7d", "never"]
    assert fields["expires"]["element"]["initial_option"]["value"] == "1d"
    intro = top["blocks"][0]["text"]["text"]
    assert "<!channel>" not in intro and "&lt;!channel&gt;" in intro  # the agent's name cannot ping anyone
    assert "the agent's words, unverified" in intro
    assert "scope" not in blocks_of(allow_modal(t, any_agent=False))
    assert "2 reviewers" in json.dumps(top["blocks"])  # the fixture ticket is four-eyes


def test_no_condition_is_proposed_from_arguments_with_hidden_characters() -> None:
    t = ticket(action=Action(name="deploy", agent="a", args={"env": "stag\u202eing"}))
    view = allow_modal(t, any_agent=False)
    assert "initial_value" not in blocks_of(view)["condition"]["element"]
    assert "hidden or control characters" in json.dumps(view["blocks"])
    # Nothing proposed: the field must be filled (submitting it empty would allow any arguments).
    assert (False, True) == (blocks_of(view)["condition"]["optional"],
                             blocks_of(allow_modal(ticket(action=Action(name="deploy", agent="a", args={"n": 1})),
                                                   any_agent=False))["condition"]["optional"])


def test_the_longest_names_fit_the_dialog() -> None:
    t = ticket(action=Action(name="d" * 200, agent="a" * 200, args={}))  # Action's own limits
    intro = allow_modal(t, any_agent=True)["blocks"][0]["text"]["text"]
    assert len(intro) <= 3000 and "d" * 200 in intro
    scope = blocks_of(allow_modal(t, any_agent=True))["scope"]["element"]["options"][0]["text"]["text"]
    assert len(scope) <= 75 and scope.endswith("…")


def test_parse_the_allow_dialog() -> None:
    meta = json.dumps({"ticket": "tk_1", "response_url": "https://hooks.x/r"})
    it = parse(allow_submit("U0ALICE", meta, "  args.env == 'x'  ", expires="7d", scope="any"))
    assert (it.kind, it.ticket_ids, it.condition, it.expires, it.any_agent, it.response_url) == (
        "allow_submitted", ("tk_1",), "args.env == 'x'", "7d", True, "https://hooks.x/r")
    assert parse(allow_submit("U0ALICE", meta, None)).any_agent is False
    assert parse(press("U0ALICE", ALLOW, "tk_1")).kind == "allow"


# -- through the real server app ------------------------------------------------------------------

api, slack = interactions.api, interactions.slack  # the fixtures: the real app, the local Slack API

async def open_modal(slack: Slack, user: str, ticket_id: str) -> dict[str, Any]:
    resp = await slack.post(press(user, ALLOW, ticket_id, response_url=slack.api.response_url(), trigger="T.9"))
    assert resp.status_code == 200
    (opened,) = slack.api.of("views.open")
    assert opened.args["trigger_id"] == "T.9"
    view: dict[str, Any] = opened.args["view"]
    return view


async def test_approve_and_always_allow_in_slack(slack: Slack) -> None:
    t = await slack.gate.submit(Action(name="deploy", agent="agent-7", args={"env": "staging"}))
    view = await open_modal(slack, "U0ALICE", t.id)
    assert "scope" in blocks_of(view)  # alice is senior, the top tier
    assert (await slack.gate.get_ticket(t.id)).status == "pending"  # the button alone decides nothing
    condition = blocks_of(view)["condition"]["element"]["initial_value"]
    resp = await slack.post(allow_submit("U0ALICE", view["private_metadata"], condition, expires="7d",
                                         scope="agent"))
    assert resp.status_code == 200 and resp.content == b""  # an empty answer closes the dialog
    done = await slack.gate.get_ticket(t.id)
    assert done.status == "approved" and done.decided_by == ("alice",)
    (made,) = await slack.gate.list_allowances()
    assert (made.action, made.agent, made.condition, made.reviewers, made.status()) == (
        "deploy", "agent-7", 'args.env == "staging"', ("alice",), "active")
    assert made.expires_at is not None
    entries = await slack.gate._engine.run(slack.gate.store.audit_entries(ticket_id=t.id))
    decided = [e for e in entries if e.kind == "approved"]
    assert decided and all(e.data.get("via") == "slack" for e in decided)
    (reply,) = slack.replies()
    assert reply["replace_original"] is True
    assert reply["text"].startswith("signoff: approved and allowed by alice in Slack, until ")
    assert made.id in json.dumps(reply["blocks"]) and ALLOW not in buttons(reply["blocks"])
    assert json.loads(view["private_metadata"])["message"] == f"{CHANNEL_ID}:1700000000.000001"
    (note,) = slack.api.of("chat.postMessage")  # in the thread: it outlives the message's next update
    assert (note.args["channel"], note.args["thread_ts"]) == (CHANNEL_ID, "1700000000.000001")
    assert note.args["text"].startswith("Allowed from now on by alice in Slack: `agent-7` may run `deploy` when ")
    again = await slack.gate.submit(Action(name="deploy", agent="agent-7", args={"env": "staging"}))
    assert again.kind == "notification"  # allowed without asking
    other = await slack.gate.submit(Action(name="deploy", agent="agent-7", args={"env": "prod"}))
    assert other.kind == "approval" and other.status == "pending"


async def test_a_bad_condition_is_a_field_error_and_changes_nothing(slack: Slack) -> None:
    t = await slack.submit()
    view = await open_modal(slack, "U0ALICE", t.id)
    resp = await slack.post(allow_submit("U0ALICE", view["private_metadata"], "args.env ==", scope="agent"))
    body = resp.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == ["condition"]
    assert "allowance condition, column" in body["errors"]["condition"]
    resp = await slack.post(allow_submit("U0ALICE", view["private_metadata"], "context.hour < 9", scope="agent"))
    assert "may read only args" in resp.json()["errors"]["condition"]
    resp = await slack.post(allow_submit("U0ALICE", view["private_metadata"], "", expires="forever"))
    assert "forever" in resp.json()["errors"]["expires"]
    assert (await slack.gate.get_ticket(t.id)).status == "pending"
    assert await slack.gate.list_allowances() == [] and slack.replies() == []


async def test_any_agent_is_the_gates_call_not_only_the_modals(slack: Slack) -> None:
    t = await slack.submit()  # deploy: any tier may decide it
    view = await open_modal(slack, "U0JIM", t.id)
    assert "scope" not in blocks_of(view)  # jim is junior: not offered
    forged = await slack.post(allow_submit("U0JIM", view["private_metadata"], "", scope="any"))
    body = forged.json()
    assert body["response_action"] == "errors" and "only a senior reviewer" in body["errors"]["scope"]
    assert (await slack.gate.get_ticket(t.id)).status == "pending" and await slack.gate.list_allowances() == []


async def test_who_may_not_decide_gets_no_modal_and_a_forged_submission_allows_nothing(slack: Slack) -> None:
    t = await slack.submit("pay")  # senior only
    await slack.post(press("U0JIM", ALLOW, t.id, response_url=slack.api.response_url()))
    assert slack.api.of("views.open") == []
    (reply,) = slack.replies()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == f"You cannot allow {t.id}: it needs a senior reviewer"
    own = await slack.submit()
    resp = await slack.post(allow_submit("U0AGENT7", json.dumps({"ticket": own.id}), ""))
    assert "requested ticket" in resp.json()["errors"]["condition"]
    resp = await slack.post(allow_submit("U0ALICE", json.dumps({"ticket": "tk_nope"}), ""))
    assert "tk_nope" in resp.json()["errors"]["condition"]
    resp = await slack.post(allow_submit("U0NOBODY", json.dumps({"ticket": own.id}), ""))
    assert "not linked to a signoff reviewer" in resp.json()["errors"]["condition"]
    assert await slack.gate.list_allowances() == []


async def test_unsigned_and_replayed_submissions_allow_nothing(slack: Slack) -> None:
    t = await slack.submit()
    body = allow_submit("U0ALICE", json.dumps({"ticket": t.id}), "")
    assert (await slack.client.post(PATH, content=body)).status_code == 401
    bad = sign(body, int(time.time()), secret="not-the-secret")
    assert (await slack.client.post(PATH, content=body, headers=bad)).status_code == 401
    assert await slack.gate.list_allowances() == []
    ts = int(time.time())
    assert (await slack.post(body, ts=ts)).status_code == 200
    assert (await slack.post(body, ts=ts)).status_code == 401  # a replay
    assert len(await slack.gate.list_allowances()) == 1


async def test_four_eyes_allowance_waits_for_a_second_reviewer(slack: Slack) -> None:
    t = await slack.submit("drop_table")
    view = await open_modal(slack, "U0ALICE", t.id)
    assert "2 reviewers" in json.dumps(view["blocks"])
    resp = await slack.post(allow_submit("U0ALICE", view["private_metadata"], "", scope="agent"))
    assert resp.status_code == 200
    (made,) = await slack.gate.list_allowances()
    assert made.status() == "pending" and (await slack.gate.get_ticket(t.id)).status == "pending"
    (reply,) = slack.replies()
    assert "waits for 1 more reviewer" in json.dumps(reply["blocks"])
    assert ALLOW in buttons(reply["blocks"])  # still pending: a second reviewer can give it here
    carol = replace(REVIEWERS[2], slack_id="U0CAROL")
    await slack.gate._engine.run(slack.gate.store.put_reviewer(carol))
    await slack.post(allow_submit("U0CAROL", view["private_metadata"], "", scope="agent"))
    (made,) = await slack.gate.list_allowances()
    assert made.status() == "active" and made.reviewers == ("alice", "carol")
    assert (await slack.gate.get_ticket(t.id)).status == "approved"
