"""Each recommendation comes with the policy change it means (a diff of the policy file) and that
change replayed on the decided requests; ``signoff insights --policy`` prints both."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from signoff import Action, Gate
from signoff.cli import main
from signoff.insights import compute_insights, standing_options, with_changes
from signoff.policy import Policy

POLICY = """\
version: 1
rules:
  # every deploy waits for a person
  - name: deploys
    match: {action: deploy}
    level: approve
  - name: payments
    match: {action: pay}
    level: approve
  - name: grants
    match: {action: grant}
    level: approve
"""


def history(path: Path) -> tuple[str, str]:
    """Deploys always approved (6), payments always rejected (4), grants approved with edits (2 of 3)."""
    policy = path / "policy.yaml"
    policy.write_text(POLICY)
    db = f"sqlite:///{path}/q.db"
    with Gate.open(policy=policy, store=db, sweep=False) as g:
        g.add_reviewer("alice")
        for i in range(6):
            g.approve_sync(g.submit_sync(Action(name="deploy", args={"n": i}, agent="bot")).id, reviewer="alice")
        for i in range(4):
            g.reject_sync(g.submit_sync(Action(name="pay", args={"n": i}, agent="bot")).id, reviewer="alice",
                          feedback="no")
        for i in range(3):
            t = g.submit_sync(Action(name="grant", args={"n": i}, agent="bot"))
            g.approve_sync(t.id, reviewer="alice", args={"n": i + 100} if i < 2 else None)
    return str(policy), db


def test_each_rule_recommendation_carries_its_diff_and_replay(tmp_path: Path) -> None:
    policy, db = history(tmp_path)
    with Gate.open(policy=policy, store=db, sweep=False) as g:
        tickets = g.list_tickets_sync(kind="approval", limit=1000)
        report = with_changes(compute_insights(tickets, min_volume=3), Policy.load(policy), tickets)
    by_rule = {r.rule: r for r in report.recommendations}
    deploys, payments, grants = by_rule["deploys"], by_rule["payments"], by_rule["grants"]
    assert "-    level: approve\n+    level: notify" in deploys.change
    assert deploys.replay.startswith("this policy would have let 6 of 13 past requests through without a human, 0 ")
    assert "+    level: deny" in payments.change and "4 would now need a human or be refused" in payments.replay
    assert (grants.change, grants.replay) == ("", "")  # "fix the agent's prompt": no policy change


def test_gate_insights_over_http_carry_the_change(tmp_path: Path) -> None:
    """The same fields from a served gate's own policy file, through the API and RemoteGate."""
    from tests.remote import RemoteTeam, serve

    _, db = history(tmp_path)
    (tmp_path / "served").mkdir()
    with serve(tmp_path / "served", POLICY, db=db) as served:
        team = RemoteTeam(served, operator="alice")
        try:
            report = asyncio.run(team.reviewer("alice").insights(min_volume=3))
        finally:
            team.close()
    deploys = next(r for r in report.recommendations if r.rule == "deploys")
    assert "+    level: notify" in deploys.change and "policy.yaml" in deploys.change
    assert "would have let 6 of 13" in deploys.replay


def test_cli_prints_the_diff_under_the_recommendation(tmp_path: Path) -> None:
    policy, db = history(tmp_path)
    out = CliRunner().invoke(main, ["insights", "--db", db, "--policy", policy, "--min-volume", "3"]).output
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if "rule 'deploys'" in line)
    assert "replayed on the decided requests: this policy would have let 6 of 13" in lines[i + 1]
    assert "    --- a/policy.yaml" == lines[i + 2]  # the file's name, not this machine's path
    assert "    +    level: notify" in lines
    bare = CliRunner().invoke(main, ["insights", "--db", db, "--min-volume", "3"]).output
    assert "pass --policy FILE" in bare and "+    level: notify" not in bare


def test_standing_options_name_the_agents_behind_a_notify_recommendation(tmp_path: Path) -> None:
    """Deploys (always approved) offer the agent that made them, with a condition from its latest
    approved arguments; payments (always rejected) offer nothing; hidden characters are never proposed."""
    policy, db = history(tmp_path)
    with Gate.open(policy=policy, store=db, sweep=False) as g:
        t = g.submit_sync(Action(name="deploy", args={"n": "1\u202e2"}, agent="sly"))
        g.approve_sync(t.id, reviewer="alice")
        tickets = g.list_tickets_sync(kind="approval", limit=1000)
    report = compute_insights(tickets, min_volume=3)
    options = standing_options(report, tickets)
    assert list(options) == ["deploys"]
    (bot,) = options["deploys"]
    assert (bot.agent, bot.approved, bot.condition) == ("bot", 6, "args.n <= 5")


def test_a_standing_option_leaves_out_what_changed_with_every_request(tmp_path: Path) -> None:
    """A release bot's approved deploys differ in version each time and share the environment: the
    offer allows its releases to staging, any version (named beside the offer), not one exact repeat."""
    policy, db = history(tmp_path)
    with Gate.open(policy=policy, store=db, sweep=False) as g:
        for i in range(4):
            t = g.submit_sync(Action(name="deploy", args={"version": f"2.{i}", "env": "staging"}, agent="release"))
            g.approve_sync(t.id, reviewer="alice")
        tickets = g.list_tickets_sync(kind="approval", limit=1000)
    options = standing_options(compute_insights(tickets, min_volume=3), tickets)
    assert {"bot": ("args.n <= 5", ()), "release": ('args.env == "staging"', ("version",))} == \
        {o.agent: (o.condition, o.left_out) for o in options["deploys"]}


def test_an_offer_is_per_action_takes_the_approved_arguments_and_is_never_unbounded(tmp_path: Path) -> None:
    """One rule over two actions: each action its own offer, bounded by its own approvals; an approval
    with edited arguments counts as edited; an agent whose requests share nothing gets no offer."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  - name: money\n    match: {action: [refund, pay]}\n"
                      "    level: approve\n")
    db = f"sqlite:///{tmp_path}/q.db"
    with Gate.open(policy=policy, store=db, sweep=False) as g:
        g.add_reviewer("alice")
        for amount in (10000.0,) * 4:
            g.approve_sync(g.submit_sync(Action(name="refund", args={"amount": amount}, agent="bot")).id,
                           reviewer="alice")
        g.approve_sync(g.submit_sync(Action(name="pay", args={"amount": 5.0}, agent="bot")).id, reviewer="alice")
        for _ in range(3):
            g.approve_sync(g.submit_sync(Action(name="pay", args={"amount": 10.0}, agent="edited")).id,
                           reviewer="alice")
        big = g.submit_sync(Action(name="pay", args={"amount": 99999.0}, agent="edited"))
        g.approve_sync(big.id, reviewer="alice", args={"amount": 20.0})
        for i in range(3):
            g.approve_sync(g.submit_sync(Action(name="pay", args={"ref": f"r-{i}"}, agent="loose")).id,
                           reviewer="alice")
        tickets = g.list_tickets_sync(kind="approval", limit=1000)
    report = compute_insights([t for t in tickets if t.id != big.id], min_volume=3)  # "consider notify"
    options = standing_options(report, tickets, per_rule=10)
    assert {("bot", "refund"): "args.amount <= 10000.0", ("bot", "pay"): "args.amount <= 5.0",
            ("edited", "pay"): "args.amount <= 20.0"} == {(o.agent, o.action): o.condition for o in options["money"]}
