"""Take the inbox screenshots in docs/img/ from a real server with realistic data.

    .venv/bin/python -m tests.ui.screenshots [--out docs/img]

Starts `signoff serve` with the example cloud-infrastructure policy on a fresh SQLite
file, fills it (a few pending requests, a group of similar refunds, a history of
decisions over two weeks for the insights), logs in as a senior reviewer in headless
Chromium (/usr/bin/chromium) and saves inbox.png, ticket.png, ticket-warning.png and
insights.png.
"""

from __future__ import annotations

import argparse
import random
import secrets
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from signoff import Action, Gate, Ticket
from signoff._model import utcnow
from signoff.review._grouping import group_key
from tests.ui.conftest import CHROMIUM, Served, login, start_server

ROOT = Path(__file__).resolve().parents[2]


def _history(gate: Gate, rng: random.Random) -> list[Ticket]:
    """Decided tickets over the last 14 days: deploys nearly always approved, refunds mixed, deletions rejected."""
    now = utcnow()
    kinds = [
        ("deploy_production", {"service": "checkout", "version": "2.3.1", "has_schema_change": False}, 0.97, 12),
        ("issue_refund", {"order": "A-1", "amount": 420.0, "sla_violated": False}, 0.62, 8),
        ("security_group.authorize_ingress", {"group": "sg-1", "port": 5432, "cidr": "10.0.0.0/8"}, 0.45, 3),
        ("delete_bucket", {"bucket": "old-logs"}, 0.1, 2),
    ]
    out = []
    for day in range(14, 0, -1):
        for name, args, rate, per_day in kinds:
            for _ in range(rng.randrange(max(1, per_day - 3), per_day + 4)):
                action = Action(name=name, args=args, agent="infra-agent", confidence=0.8, reasoning="routine")
                outcome = gate.evaluate(action)
                created = now - timedelta(days=day, minutes=rng.randrange(600))
                approved = rng.random() < rate
                out.append(Ticket(
                    id="tk_" + secrets.token_hex(8), kind="approval", action=action,
                    status="approved" if approved else "rejected", level=outcome.level, reasons=outcome.reasons,
                    rules=outcome.matched_rules, tier=outcome.reviewers.tier,
                    group_key=group_key(name, outcome.matched_rules, args), digest=action.digest(),
                    created_at=created, decided_at=created + timedelta(minutes=rng.randrange(1, 40)),
                    decided_by=(rng.choice(["alice", "bob"]),),
                    feedback="" if approved else rng.choice(["not during business hours", "use the staging DB first",
                                                             "ask the customer first"])))
    return out


def _fill(served: Served) -> dict[str, str]:
    gate = served.gate
    rng = random.Random(5)
    served.run(gate._engine.run(gate.store.insert_tickets([(t, None) for t in _history(gate, rng)])))

    def submit(**kw: Any) -> Ticket:
        kw.setdefault("agent", "infra-agent")
        return served.run(gate.submit(Action(**kw)))

    deploy = submit(
        name="deploy_production",
        args={"service": "checkout", "version": "2.4.0", "replicas": 6, "strategy": "rolling",
              "has_schema_change": False, "changelog": "Adds Apple Pay; fixes the coupon rounding bug (#4411)."},
        confidence=0.86, tags={"production"},
        reasoning="All 1,284 tests pass on staging and the canary ran 2 h with an error rate of 0.02% "
                  "(baseline 0.03%).\nRelease window is open until 17:00.",
        alternatives=["wait for tomorrow's release train", "deploy to one region first (eu-west-1)"])
    for i, (order, amount) in enumerate([("B-2291", 240.0), ("B-2304", 310.5), ("B-2310", 275.0), ("B-2318", 980.0)]):
        submit(name="issue_refund", args={"order": order, "amount": amount, "sla_violated": i != 1},
               agent="support-bot", confidence=0.74 + i * 0.05,
               reasoning=f"Customer reports order {order} arrived damaged; photos attached in the ticket.")
    submit(name="security_group.authorize_ingress", args={"group": "sg-0a12", "port": 22, "cidr": "0.0.0.0/0"},
           confidence=0.55, reasoning="Debugging a stuck node; need SSH from my laptop.",
           alternatives=["use the bastion host"], external=True)
    warn = submit(name="delete_bucket", args={"bucket": "backups-2024\u202e.tmp", "recursive": True,
                                              "region": "eu-west-1"},
                  confidence=0.91, reasoning="Temporary bucket <b>only</b> holds scratch files. Safe to delete.",
                  alternatives=["set a 7-day lifecycle rule instead"])
    submit(name="deploy_production", args={"service": "search", "version": "1.9.2", "has_schema_change": True},
           confidence=0.68, reasoning="Adds the synonyms column; migration tested on a copy of production.")
    return {"deploy": deploy.id, "warn": warn.id}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Take the inbox screenshots for docs/img.")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    policy = resources.files("signoff.examples").joinpath("cloud_infra.yaml").read_text()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        served = start_server(Path(tmp), policy)
        try:
            ids = _fill(served)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1360, "height": 760}, device_scale_factor=1)
                login(page, served.url)
                page.goto(served.url + "/")
                page.keyboard.press("j")
                page.keyboard.press("j")
                page.screenshot(path=str(out / "inbox.png"), full_page=True)
                page.goto(f"{served.url}/tickets/{ids['deploy']}")
                page.screenshot(path=str(out / "ticket.png"), full_page=True)
                page.goto(f"{served.url}/tickets/{ids['warn']}")
                page.screenshot(path=str(out / "ticket-warning.png"), full_page=True)
                page.goto(served.url + "/insights")
                page.screenshot(path=str(out / "insights.png"), full_page=True)
                browser.close()
        finally:
            served.stop()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()
