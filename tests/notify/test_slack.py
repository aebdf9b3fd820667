"""The Slack channel against a local Slack-compatible server: blocks, escaping, updates in place, errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff._errors import DeliveryFailed
from signoff._model import Action
from signoff.notify import Channel
from signoff.notify._mrkdwn import BACKTICK, code_block, escape, inline_code
from signoff.notify._slack_blocks import APPROVE, APPROVE_ALL, OPEN, REJECT, REJECT_ALL
from signoff.notify._summary import AGENT_WORDS
from signoff.notify.slack import SlackChannel
from tests.notify import _slack_api
from tests.notify._slack_api import CHANNEL_ID, TOKEN, SlackAPI
from tests.notify._tickets import message, ticket

HOSTILE = "<!channel> click <https://evil.example|https://good.example> @here *Approved by alice* ```\n<@U123>"


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    yield from _slack_api.serve()


def channel(api: SlackAPI, token: str = TOKEN) -> SlackChannel:
    return SlackChannel("approvals", channel="#approvals", token=token, signing_secret="s3cret",
                        api_url=api.api_url, timeout=5)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text Slack would render from these blocks."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(blocks)
    return out


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


async def test_posts_a_block_kit_message_with_the_agent_words_escaped(api: SlackAPI) -> None:
    ch = channel(api)
    assert isinstance(ch, Channel)
    hostile = ticket(action=Action(name="deploy", agent="agent-7", args={"service": "api", "note": HOSTILE},
                                   reasoning=HOSTILE, alternatives=("wait",)))
    sent = await ch.send(message(hostile))
    assert sent.ref == f"{CHANNEL_ID}:1700000000.000001" and sent.detail == "posted to #approvals"
    (call,) = api.of("chat.postMessage")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.args["channel"] == "#approvals" and call.args["unfurl_links"] is False
    blocks = call.args["blocks"]
    assert len(blocks) <= 50 and blocks[0]["type"] == "header"
    rendered = "\n".join([call.args["text"], *texts(blocks)])
    for bad in ("<!channel>", "<https://evil", "<@U123>", "@here"):
        assert bad not in rendered
    assert "&lt;!channel&gt; click &lt;https://evil.example|https://good.example&gt;" in rendered
    # the exact arguments come first, in code; the agent's words are labelled and in code too
    assert blocks[1]["text"]["text"].startswith("*Action:* `deploy`   *Agent:* `agent-7`\n*Arguments (exact):*\n```\n{")
    assert '"service": "api"' in blocks[1]["text"]["text"]
    reasoning = next(t for t in texts(blocks) if t.startswith(f"*Reasoning ({AGENT_WORDS}):*"))
    assert reasoning.count("```") == 2 and BACKTICK * 3 in reasoning  # the agent's fence closes nothing
    assert "*Why a human is asked:* high_risk_action (deploys): Deploys need a person" in rendered
    assert "*Deadline:* <!date^" in rendered
    b = buttons(blocks)
    assert b[APPROVE]["value"] == "tk_1" and b[APPROVE]["style"] == "primary"
    assert b[REJECT]["value"] == "tk_1" and b[REJECT]["style"] == "danger"
    assert b[OPEN]["url"] == "https://signoff.example/tickets/tk_1"


async def test_a_decision_updates_the_message_in_place_without_buttons(api: SlackAPI) -> None:
    ch = channel(api)
    sent = await ch.send(message())
    decided = ticket(status="approved", decided_by=("alice", "bob"), approvals=("alice", "bob"))
    again = await ch.send(message(decided, type="ticket.decided", previous=sent.ref, extra={"decided_via": "inbox"}))
    assert again.ref == sent.ref and again.detail == "updated in #approvals"
    (update,) = api.of("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL_ID, "1700000000.000001")
    assert "approved by alice, bob in the inbox" in update.args["text"]
    assert set(buttons(update.args["blocks"])) == {OPEN}
    assert "approved by alice, bob in the inbox: deploy by agent-7" in texts(update.args["blocks"])
    assert len(api.of("chat.postMessage")) == 1


async def test_escalation_updates_and_replies_in_the_thread(api: SlackAPI) -> None:
    ch = channel(api)
    sent = await ch.send(message())
    out = await ch.send(message(type="ticket.escalated", previous=sent.ref, extra={"escalated_to": "senior"}))
    assert out.ref == sent.ref
    reply = api.of("chat.postMessage")[1]
    assert reply.args["thread_ts"] == "1700000000.000001" and "escalated to senior" in reply.args["text"]


async def test_a_vanished_message_is_posted_anew(api: SlackAPI) -> None:
    sent = await channel(api).send(message(type="ticket.expiring", previous=f"{CHANNEL_ID}:1.000"))
    assert sent.ref == f"{CHANNEL_ID}:1700000000.000001" and sent.detail == "posted to #approvals"


async def test_coalesced_buttons_carry_exactly_the_listed_ids(api: SlackAPI) -> None:
    tickets = [ticket(id=f"tk_{i}") for i in range(3)]
    await channel(api).send(message(*tickets))
    blocks = api.of("chat.postMessage")[0].args["blocks"]
    b = buttons(blocks)
    assert json.loads(b[APPROVE_ALL]["value"]) == ["tk_0", "tk_1", "tk_2"]
    assert json.loads(b[REJECT_ALL]["value"]) == ["tk_0", "tk_1", "tk_2"]
    assert b[APPROVE_ALL]["text"]["text"] == "Approve all 3" and b[OPEN]["url"] == "https://signoff.example/"
    assert APPROVE not in b


async def test_too_many_ids_for_a_button_send_reviewers_to_the_inbox(api: SlackAPI) -> None:
    tickets = [ticket(id=f"tk_{i:03d}_" + "x" * 40) for i in range(60)]
    await channel(api).send(message(*tickets))
    blocks = api.of("chat.postMessage")[0].args["blocks"]
    assert len(blocks) <= 50 and set(buttons(blocks)) == {OPEN}
    rendered = "\n".join(texts(blocks))
    assert "60 pending tickets are too many to decide here at once" in rendered
    assert "… and 50 more tickets" in rendered


async def test_long_values_are_folded_visibly_within_block_kit_limits(api: SlackAPI) -> None:
    args = {f"k{i}": "v" * 5000 for i in range(50)}
    await channel(api).send(message(ticket(action=Action(name="deploy", agent="a", args=args,
                                                         reasoning="r" * 9000))))
    blocks = api.of("chat.postMessage")[0].args["blocks"]
    assert all(len(t) <= 3000 for t in texts(blocks))
    rendered = "\n".join(texts(blocks))
    assert "… 4,700 more characters" in rendered and "more lines not shown here" in rendered


@pytest.mark.parametrize(("error", "status", "headers", "permanent", "retry_after"), [
    ("ratelimited", 429, {"Retry-After": "7"}, False, 7.0),
    ("channel_not_found", 200, {}, True, None),
    ("not_in_channel", 200, {}, True, None),
    ("internal_error", 200, {}, False, None),
])
async def test_slack_errors_map_to_retry_or_give_up(api: SlackAPI, error: str, status: int,
                                                   headers: dict[str, str], permanent: bool,
                                                   retry_after: float | None) -> None:
    api.errors["chat.postMessage"] = (error, status, headers)
    with pytest.raises(DeliveryFailed) as info:
        await channel(api).send(message())
    assert info.value.permanent is permanent and info.value.retry_after == retry_after
    assert error in str(info.value)


async def test_a_bad_token_is_permanent(api: SlackAPI) -> None:
    with pytest.raises(DeliveryFailed, match="invalid_auth") as info:
        await channel(api, token="xoxb-wrong").send(message())
    assert info.value.permanent


async def test_network_errors_are_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    ch = SlackChannel("approvals", channel="#approvals", token=TOKEN, signing_secret="s",
                      api_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(DeliveryFailed) as info:
        await ch.send(message())
    assert not info.value.permanent


# -- escaping, with whatever an agent may write -------------------------------------------------------

@given(st.text())
def test_escaped_text_has_no_control_sequences(text: str) -> None:
    out = escape(text)
    assert "<" not in out and ">" not in out  # reveal's <U+XXXX> markers are escaped too
    assert "&" not in out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    for word in ("@channel", "@here", "@everyone"):
        assert word not in out.lower()


@given(st.lists(st.text(alphabet="`<>&@!|*_~\n abc")))
def test_a_code_block_cannot_be_closed_from_inside(lines: list[str]) -> None:
    out = code_block(lines)
    assert out.startswith("```\n") and out.endswith("\n```") and out.count("`") == 6
    assert "<" not in out and ">" not in out


@given(st.text())
def test_inline_code_is_one_span(text: str) -> None:
    out = inline_code(text)
    assert out.count("`") == 2 and "\n" not in out


def test_mentions_and_disguised_links_are_neutralised() -> None:
    assert escape("<!channel> <@U123> <https://evil|safe> & @here @Everyone") == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|safe&gt; &amp; \uff20here \uff20Everyone")
    assert escape("a\u202eb\x1b[2J") == "a&lt;U+202E&gt;b&lt;U+001B&gt;[2J"
