"""The policy's notifications: section: every mistake located at file:line:col and named, secrets refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from signoff._errors import PolicyError
from signoff.policy import Policy

WritePolicy = Callable[[str], Path]

HEAD = "version: 1\ntiers: [junior, senior]\nrules:\n  - {name: deploys, match: {action: deploy}, level: approve}\n"


def problems(write_policy: WritePolicy, section: str) -> list[tuple[int, int, str]]:
    path = write_policy(HEAD + "notifications:\n" + section)
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    return [(p.line, p.column, p.message) for p in info.value.problems]


def test_a_good_section_loads(write_policy: WritePolicy) -> None:
    policy = Policy.load(write_policy(HEAD + """notifications:
  channels:
    ops-hook: {kind: webhook, url: "https://hooks.example.com/x", secret: [env:NEW, env:OLD]}
    approvals: {kind: slack, channel: "#approvals", token: env:SLACK_BOT_TOKEN, signing_secret: env:SLACK_SIGNING}
    oncall: {kind: email, to: oncall@example.com, from: signoff@example.com, smtp: env:SMTP}
    dev: {kind: console}
  routes:
    - {to: [approvals, ops-hook]}
    - {match: {tier: senior, rule: deploys, level: approve}, to: oncall, events: [escalated]}
  expiring_at: 0.5
  coalesce: 30s
"""))
    spec = policy.spec.notifications
    assert spec is not None
    assert ["ops-hook", "approvals", "oncall", "dev"] == list(spec.channels)
    assert (["env:NEW", "env:OLD"], ["oncall@example.com"], "signoff@example.com") == (
        spec.channels["ops-hook"].secret, spec.channels["oncall"].to, spec.channels["oncall"].sender)  # type: ignore[union-attr]
    assert (0.5, timedelta(seconds=30)) == (spec.expiring_at, spec.coalesce)
    assert ["created", "escalated", "expiring", "decided", "expired", "aborted"] == spec.events


def test_a_secret_written_in_the_file_is_refused(write_policy: WritePolicy) -> None:
    assert [(7, 63, "notifications.channels.hook.secret: secrets are read from the environment, never written "
                    "in the policy: write env:NAME and set NAME where the server runs")] == problems(
        write_policy, "  channels:\n    hook: {kind: webhook, url: \"https://h.example/x\", secret: whsec_abc}\n")


def test_unknown_key_lists_the_keys_of_that_kind(write_policy: WritePolicy) -> None:
    [(line, col, msg)] = problems(write_policy, "  channels:\n    dev: {kind: console, colour: red}\n")
    assert (7, 26, "unknown key 'colour' in notifications.channels.dev; valid keys: kind") == (line, col, msg)


def test_unknown_kind(write_policy: WritePolicy) -> None:
    assert [(7, 10, "notifications.channels.dev: unknown kind 'konsole': use one of webhook, slack, email, "
                    "console")] == problems(write_policy, "  channels:\n    dev: {kind: konsole}\n")


def test_routes_name_channels_tiers_and_rules_that_exist(write_policy: WritePolicy) -> None:
    found = problems(write_policy, """  channels:
    ops-hook: {kind: console}
  routes:
    - {to: [opshook]}
    - {match: {tier: seniro, rule: deploy}, to: ops-hook}
""")
    assert [(9, 12, "route sends to unknown channel 'opshook'; did you mean 'ops-hook'? (channels: ops-hook)"),
            (10, 22, "unknown tier 'seniro' (tiers: junior, senior)"),
            (10, 36, "unknown rule 'deploy'; did you mean 'deploys'?")] == found


@pytest.mark.parametrize(("section", "expected"), [
    ("  expiring_at: 1.5\n", "notifications.expiring_at: Input should be less than 1"),
    ("  coalesce: 30x\n", "notifications.coalesce: bad duration '30x'"),
    ("  events: [created, exploded]\n", "notifications.events[1]: Input should be 'created'"),
    ("  channels:\n    m: {kind: email, to: [not-an-address], from: a@b.c, smtp: env:S}\n",
     "notifications.channels.m.to: bad email address 'not-an-address'"),
    ("  routes:\n    - {match: {tier: senior}}\n", "notifications.routes[0] needs the key 'to'"),
])
def test_values(write_policy: WritePolicy, section: str, expected: str) -> None:
    [(_, _, msg)] = problems(write_policy, section)
    assert msg.startswith(expected), msg


def test_the_docs_example_loads(write_policy: WritePolicy) -> None:
    """docs/notifications.md's configuration block is a valid section (routes checked against it)."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "notifications.md").read_text()
    block = doc[doc.index("## Configure"):].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = Policy.load(write_policy(HEAD + block)).spec.notifications
    assert spec is not None and ["ops-hook", "approvals", "oncall", "dev"] == list(spec.channels)
    assert 3 == len(spec.routes)


def test_policy_check_names_channels_and_routes(write_policy: WritePolicy) -> None:
    import subprocess
    import sys

    path = write_policy(HEAD + "notifications:\n  channels:\n    dev: {kind: console}\n"
                               "    hook: {kind: webhook, url: 'https://h.example/x', secret: env:H}\n"
                               "  routes:\n    - {to: [dev, hook]}\n")
    exe = Path(sys.executable).parent / "signoff"
    out = subprocess.run([str(exe), "policy", "check", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.rstrip().endswith("notifications: dev (console), hook (webhook); 1 route")
