"""Which notifications a ticket write causes: events from before/after, routes by match, expiring warnings,
coalescing holds; and channels built from the section with secrets from the environment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from signoff._errors import UserError
from signoff._model import Action, Level, Reason, Ticket, utcnow
from signoff.notify._channels import build_channels
from signoff.notify._routing import Router, event_of
from signoff.policy._notifications import Notifications

NOW = utcnow()


def ticket(**kw: Any) -> Ticket:
    base: dict[str, Any] = dict(id="tk_1", kind="approval", status="pending", level=Level.APPROVE,
                                action=Action(name="deploy", agent="ci"), rules=("deploys",), tier="junior",
                                reasons=(Reason(code="high_risk_action", rule="deploys"),),
                                deadline=NOW + timedelta(minutes=10), created_at=NOW, group_key="deploy~1")
    return Ticket(**{**base, **kw})


def router(**section: Any) -> Router:
    return Router(Notifications.model_validate({
        "channels": {"a": {"kind": "console"}, "b": {"kind": "console"}, "c": {"kind": "console"}},
        "routes": [{"to": ["a"]}, {"match": {"tier": "senior"}, "to": ["b", "a"]},
                   {"match": {"action": "iam.*", "reason": "policy_boundary"}, "to": ["c"]}],
        **section}))


@pytest.mark.parametrize(("kind", "data", "event"), [
    ("submitted", {"status": "pending"}, "created"),
    ("notified", {"status": "notified"}, "created"),
    ("suggested", {"status": "suggested"}, "created"),
    ("retried", {"retries_left": 1}, "created"),  # on_timeout: retry re-notifies
    ("approved", {"status": "approved"}, "decided"),
    ("rejected", {"status": "rejected"}, "decided"),
    ("done", {"status": "done"}, "decided"),
    ("dismissed", {"status": "dismissed"}, "decided"),
    ("escalated", {"tier": "senior"}, "escalated"),
    ("expired", {}, "expired"),
    ("aborted", {}, "aborted"),
    ("cancelled", {}, "cancelled"),
    ("approval", {"status": "pending", "approvals": "1/2"}, None),  # four eyes, one of two: nobody told yet
    ("executing", {}, None),
    ("flagged", {}, None),
    ("mode", {"mode": "incident"}, None),
])
def test_events(kind: str, data: dict[str, Any], event: str | None) -> None:
    assert event == event_of(kind, data)


def test_routes_by_match_once_per_channel() -> None:
    r = router()
    assert ["a"] == r.channels_for("created", ticket())
    assert ["a", "b"] == r.channels_for("created", ticket(tier="senior"))  # in route order, once each
    iam = ticket(action=Action(name="iam.create_role"), reasons=(Reason(code="policy_boundary"),))
    assert ["a", "c"] == r.channels_for("created", iam)
    assert ["a"] == r.channels_for("created", ticket(action=Action(name="iam.x")))  # reason does not hold


def submitted(t: Ticket) -> dict[str, Any]:
    return {"status": t.status, "tier": t.tier, "deadline": t.deadline.isoformat() if t.deadline else None}


def test_escalation_reaches_the_next_tiers_routes_with_a_new_warning() -> None:
    """Routed by the tier in the entry, even if the ticket (read later) has moved on."""
    data = {"tier": "senior", "deadline": (NOW + timedelta(minutes=20)).isoformat()}
    drafts = router().drafts("escalated", data, "h1", ticket(tier="junior"), NOW)
    assert [("ticket.escalated", "a"), ("ticket.escalated", "b"), ("ticket.expiring", "a"), ("ticket.expiring", "b")] \
        == [(d.event, d.channel) for d in drafts]
    assert {"escalated_to": "senior"} == drafts[0].extra
    assert NOW + timedelta(minutes=16) == drafts[2].due_at  # 80% of the 20 minutes left


def test_events_filter_per_section_and_route() -> None:
    r = router(events=["decided"], routes=[{"to": ["a"]}, {"to": ["b"], "events": ["created"]}])
    assert ["b"] == [d.channel for d in r.drafts("submitted", submitted(ticket()), "h1", ticket(), NOW)]
    assert ["a"] == [d.channel for d in r.drafts("approved", {"status": "approved"}, "h2", ticket(), NOW)]


def test_coalescing_holds_created_only_and_keys_by_channel_and_group() -> None:
    r = router(coalesce="30s", events=["created", "decided"])
    [created] = r.drafts("submitted", submitted(ticket()), "h1", ticket(), NOW)
    assert (NOW + timedelta(seconds=30), "a\x1fdeploy~1") == (created.due_at, created.coalesce_key)
    [decided] = r.drafts("approved", {"status": "approved"}, "h2", ticket(), NOW)
    assert (NOW, None) == (decided.due_at, decided.coalesce_key)


def test_event_ids_are_distinct_and_the_same_on_a_second_expansion() -> None:
    t = ticket(tier="senior")
    drafts = router().drafts("submitted", submitted(t), "h1", t, NOW)
    assert len(drafts) == len({d.id for d in drafts}) and all(d.id.startswith("evt_") for d in drafts)
    assert [d.id for d in drafts] == [d.id for d in router().drafts("submitted", submitted(t), "h1", t, NOW)]
    assert not {d.id for d in drafts} & {d.id for d in router().drafts("submitted", submitted(t), "h2", t, NOW)}


def test_a_missing_secret_names_the_channel_and_the_variable() -> None:
    spec = Notifications.model_validate({"channels": {"ops-hook": {
        "kind": "webhook", "url": "https://h.example/x", "secret": "env:OPS_HOOK_SECRET"}}})
    with pytest.raises(UserError, match="channel 'ops-hook': secret reads the environment variable "
                                        "OPS_HOOK_SECRET, which is not set"):
        build_channels(spec, env={})
    [hook] = build_channels(spec, env={"OPS_HOOK_SECRET": "whsec_" + "QUJD" * 8}).values()
    assert ("ops-hook", "webhook") == (hook.name, hook.kind)
