"""The demo agents behind ``signoff demo``: realistic cloud-operations actions through ``Gate.remote``.

Three agents (release, infra, support) each work through a script of actions with a
reasoning, alternatives and a confidence, against the bundled ``cloud_infra`` policy:
deploys, a schema migration, scaling, pod restarts, security-group and IAM changes,
refunds (one batch of similar ones, which the inbox groups), an external e-mail, and a
rollback the agent is only 55% sure of. Each action logs one line with the level and the
reasons; an action that needs a human logs ``waiting for approval on ticket X (open URL)``
and, once someone decides in the inbox, ``resumed: approved by demo`` or ``resumed:
rejected: <feedback>``. Approved actions then "run" (a print) at most once, with the
reviewer's edited arguments if they edited them.

It is a module of its own so tests can drive it (``run_agents(..., rounds=1)``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from signoff._errors import SignoffError, StoreUnavailable
from signoff._model import Action, Decision, Level, Outcome
from signoff._text import reveal

__all__ = ["AGENTS", "Step", "run_agents"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One action an agent wants to take (``batch``: several similar ones submitted together)."""

    name: str
    args: dict[str, Any]
    reasoning: str
    confidence: float
    alternatives: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    external: bool = False
    batch: tuple[dict[str, Any], ...] = field(default=())


def _v(rng: random.Random) -> str:
    return f"{rng.randint(2, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"


def release_steps(rng: random.Random) -> list[Step]:
    svc = rng.choice(["checkout", "search", "web-frontend", "notifications"])
    ver = _v(rng)
    return [
        Step("deploy_staging", {"service": svc, "version": ver, "env": "staging"},
             f"{svc} {ver} passed CI (412 tests) and the security scan; staging first, as always.", 0.94,
             ("wait for tomorrow's release train",)),
        Step("deploy_production", {"service": svc, "version": ver, "strategy": "canary", "canary_percent": 10},
             f"{svc} {ver} has run 40 minutes on staging with a 0.02% error rate (baseline 0.03%). "
             "A 10% canary limits the blast radius.", 0.88,
             ("deploy at 100% at once", "wait for the Monday release train")),
        Step("deploy_production", {"service": "billing-api", "version": ver, "has_schema_change": True,
                                   "migration": "0042_add_invoice_tax_column", "strategy": "blue-green"},
             "Tax changes take effect on the 1st; the migration adds a nullable column (no table rewrite, "
             "tested on a production snapshot: 3.1 s).", 0.81,
             ("ship the code without the migration and backfill later",)),
        Step("rollback_deployment", {"service": "search", "to_version": "3.8.1", "reason": "p99 latency +180ms"},
             "p99 latency of search rose from 240 ms to 420 ms right after 3.9.0. It may be the deploy or the "
             "cache node that restarted at the same time: I am not sure.", 0.55,
             ("flush and warm the cache first", "keep 3.9.0 and page the search team")),
    ]


def infra_steps(rng: random.Random) -> list[Step]:
    pod = f"payments-api-{rng.randint(1000, 9999):x}-{rng.choice('abcdefgh')}{rng.randint(1, 9)}k"
    replicas = rng.randint(24, 48)
    return [
        Step("restart_pod", {"namespace": "payments", "pod": pod},
             f"{pod} is in CrashLoopBackOff after an OOM kill; a restart clears it while the leak is fixed.", 0.97),
        Step("scale_deployment", {"deployment": "web-frontend", "replicas": rng.randint(6, 18)},
             "Traffic is 2.3x the weekday average (campaign email went out at 09:00).", 0.92),
        Step("scale_deployment", {"deployment": "web-frontend", "replicas": replicas},
             f"CPU is at 85% on every pod even after scaling; {replicas} replicas keeps it under 60%.", 0.86,
             ("enable the CDN cache for /catalog instead",)),
        Step("security_group.authorize_ingress", {"group_id": "sg-0db5e1", "protocol": "tcp", "port": 5432,
                                                  "cidr": "10.2.0.0/16"},
             "The new analytics subnet (10.2.0.0/16) needs read access to the reporting replica.", 0.83,
             ("use the existing bastion tunnel",)),
        Step("iam.attach_role_policy",
             {"role": "ci-deployer", "policy_arn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
             "The deploy job fails with AccessDenied on s3://artifacts-prod/releases.", 0.74,
             ("grant s3:PutObject on arn:aws:s3:::artifacts-prod/releases/* only",)),
        Step("terminate_instances", {"instance_ids": [f"i-0{rng.randint(10**12, 10**13 - 1):x}" for _ in range(3)],
                                     "region": "eu-west-1"},
             "Three instances tagged team=legacy-batch have had 0% CPU for 30 days; they cost $410/month.", 0.79,
             ("stop them for a week first",)),
        Step("iam.create_root_access_key", {"account": "prod"},
             "The automation account lacks permissions for the org-level billing API.", 0.6),
    ]


def support_steps(rng: random.Random) -> list[Step]:
    order = rng.randint(10_000, 99_999)
    return [
        Step("issue_refund", {"order": f"A-{order}", "amount": 49.0, "currency": "EUR", "sla_violated": True},
             f"Order A-{order} arrived 3 days late; the SLA is 2 days; policy 4.2 allows a refund up to 200.", 0.95),
        Step("issue_refund", {"order": f"A-{order + 1}", "amount": 640.0, "currency": "EUR", "sla_violated": False},
             "The customer says the espresso machine arrived broken; photos attached to the case.", 0.77,
             ("send a replacement instead", "offer a 20% voucher")),
        Step("send_external_email", {"to": "jane.doe@example.com", "subject": f"Your refund for order A-{order}",
                                     "body": "Hello Jane, we have refunded EUR 49.00 for the late delivery..."},
             "Tell the customer their refund is on its way, as promised in the chat.", 0.9, external=True),
        Step("issue_refund", {}, "Five orders from the Rotterdam depot were delayed by the strike; "
             "each customer asked for a refund above the 200 limit.", 0.82, ("offer vouchers",),
             batch=tuple({"order": f"R-{order + i}", "amount": float(rng.choice([240, 260, 310])), "currency": "EUR",
                          "sla_violated": True} for i in range(3))),
    ]


AGENTS: dict[str, Callable[[random.Random], list[Step]]] = {
    "release-bot": release_steps,
    "infra-bot": infra_steps,
    "support-bot": support_steps,
}


def _short(args: dict[str, Any], limit: int = 90) -> str:
    text = ", ".join(f"{k}={v}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LEVEL_COLOURS = {Level.AUTO: "green", Level.NOTIFY: "cyan", Level.APPROVE: "yellow", Level.SUGGEST: "magenta",
                  Level.DENY: "red"}


def _reasons(outcome: Outcome, limit: int = 160) -> str:
    """The reasons in words, after the level: ``high_risk_action: ...``."""
    if not outcome.reasons:
        return "no rule matched: the default applies"
    words = "; ".join(f"{r.code}: {r.message}" if r.message else r.code for r in outcome.reasons)
    return words if len(words) <= limit else words[: limit - 1] + "…"


class _Agent:
    def __init__(self, name: str, gate: Any, *, url: str, log: Log, pace: float, rng: random.Random) -> None:
        self.name = name
        self.gate = gate
        self.url = url.rstrip("/")
        self._log = log
        self.pace = pace
        self.rng = rng
        self.run_id = f"{int(time.time())}-{rng.randint(0, 99999)}"
        self.n = 0

    def log(self, text: str, *, level: Level | None = None, after: str = "") -> None:
        """One line. Everything in it that came from outside (arguments, reviewers' feedback and
        edits, errors) is revealed, so it cannot drive the terminal; only the level is coloured."""
        import click

        line = f"{time.strftime('%H:%M:%S')}  {self.name:<12} {reveal(text)}"
        if level is not None:
            line += f"{click.style(level.value.upper(), fg=_LEVEL_COLOURS[level], bold=True)}  {reveal(after)}"
        self._log(line)

    def action(self, step: Step, args: dict[str, Any]) -> Action:
        return Action(name=step.name, args=args, reasoning=step.reasoning, confidence=step.confidence,
                      alternatives=step.alternatives, tags=step.tags, external=step.external, agent=self.name,
                      context={"run": self.run_id})

    def key(self) -> str:
        self.n += 1
        return f"{self.name}/{self.run_id}/{self.n}"

    async def step(self, step: Step) -> None:
        if step.batch:
            await self.batch(step)
            return
        action = self.action(step, step.args)
        outcome = await self.gate.evaluate_async(action)
        self.log(f"{step.name}({_short(step.args)})  confidence {step.confidence:.2f} -> ", level=outcome.level,
                 after=_reasons(outcome))
        state = {"step": step.name, "run": self.run_id, "n": self.n}
        if outcome.level is not Level.APPROVE:
            decision = await self.gate.guard(action, state=state, idempotency_key=self.key())
            self.log(self.instant(decision))
            return
        ticket = await self.gate.submit(action, state=state, idempotency_key=self.key())
        self.log(f"waiting for approval on ticket {ticket.id} (open {self.url}/tickets/{ticket.id})")
        decision, _state = await self.gate.resume(ticket.id)  # the state saved with the ticket comes back
        await self.resumed(decision)

    async def batch(self, step: Step) -> None:
        actions = [self.action(step, args) for args in step.batch]
        outcome = await self.gate.evaluate_async(actions[0])
        tickets = await self.gate.submit_many(actions, states=[{"order": a.args["order"]} for a in actions],
                                              idempotency_keys=[self.key() for _ in actions])
        self.log(f"{step.name} x{len(actions)} as one batch ({', '.join(a.args['order'] for a in actions)}) -> ",
                 level=outcome.level, after=_reasons(outcome))
        self.log(f"waiting for approval on tickets {', '.join(t.id for t in tickets)} "
                 f"(open {self.url}/?group={quote(tickets[0].group_key)})")
        for t in tickets:
            decision, _ = await self.gate.resume(t.id)
            await self.resumed(decision)

    def instant(self, d: Decision) -> str:
        words = {"auto": "allowed: ran it", "notified": "ran it; it shows in the reviewers' feed",
                 "suggested": "may only suggest: recorded for a human to carry out",
                 "denied": "denied by policy: not doing it"}
        return f"{d.status}: {words.get(d.status, d.explanation)}"

    async def resumed(self, d: Decision) -> None:
        tid = d.ticket_id or "?"
        if d.approved:
            edited = f" with edited arguments ({_short(d.args)})" if d.edited else ""
            self.log(f"{tid} resumed: approved by {', '.join(d.reviewers)}{edited}")
            result = await self.gate.execute(d, lambda **kw: f"ran {d.action.name}({_short(kw, 50)})")
            self.log(f"{tid} {result}")
        elif d.status == "rejected":
            self.log(f"{tid} resumed: rejected: {d.feedback or '(no feedback)'}")
        else:
            self.log(f"{tid} resumed: {d.status}: {d.explanation}")

    async def run(self, make_steps: Callable[[random.Random], list[Step]], rounds: int | None) -> None:
        done = 0
        while rounds is None or done < rounds:
            for step in make_steps(self.rng):
                try:
                    await self.step(step)
                except StoreUnavailable as exc:
                    self.log(f"the gate is unreachable ({exc}); failing closed, trying again in 5 s")
                    await asyncio.sleep(5)
                except SignoffError as exc:
                    self.log(f"{step.name}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(self.pace * self.rng.uniform(0.6, 1.4))
            done += 1


async def run_agents(url: str, tokens: dict[str, str], *, log: Log = print, pace: float = 3.0,
                     rounds: int | None = None, seed: int | None = None,
                     names: Sequence[str] | None = None) -> None:
    """Run the demo agents (each with its own agent token) against the server at ``url``.

    ``rounds=None`` goes on until cancelled; a cancellation ends every agent quietly.
    """
    from signoff.gate import Gate

    rng = random.Random(seed)
    gates = {name: Gate.remote(url, token=tokens[name]) for name in (names or AGENTS)}
    agents = [_Agent(name, gate, url=url, log=log, pace=pace, rng=random.Random(rng.random()))
              for name, gate in gates.items()]
    try:
        async with asyncio.TaskGroup() as group:
            for a in agents:
                group.create_task(a.run(AGENTS[a.name], rounds))
    finally:
        for gate in gates.values():
            await gate.aclose()
