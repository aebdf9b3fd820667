"""How long one policy decision takes: the compiled evaluator against the naive one, same run.

A 50-rule policy (exact names, globs, CEL conditions, tags, an agent rule, an external
rule, mode-only rules and mode overrides; in the spirit of
/work/shared/anchors/bench_policy.py) is evaluated over a varied, seeded mix of actions.
Each action is put in a category by what its evaluation has to do:

  a. condition-free: no rule whose match holds has a ``when`` condition,
  b. one condition: exactly one CEL condition has to run,
  c. the whole mix (also actions that run two conditions, and low confidences),
  d. the naive reference evaluator (every rule, full CEL activation) on the same mix,
  e. the whole mix with the ``incident`` mode switched on,
  f. the whole mix through ``Gate.evaluate`` (a memory store; no shadow policy: its cost when
     unset is one ``is not None`` test),
  g. the same with a shadow policy (``Gate.open(..., shadow_policy=...)``, five levels changed):
     an ``auto``/``deny`` outcome also evaluates the candidate and, where they disagree, counts it
     under a lock. Outcomes that make a ticket pay their candidate evaluation at submission,
     beside a durable commit,
  h. the whole mix through ``Gate.evaluate`` with standing approvals (``gate.allow``): for every
     action the mix sends to ``approve``, one allowance for its usual agent (a CEL condition on
     ``amount`` where it has one) and one for another agent that never matches. An ``approve``
     outcome then looks its action up in the gate's in-memory index and runs the matching
     allowance's condition; other outcomes pay one dict truthiness test.

Figures are microseconds per ``evaluate`` call: the median and p99 of individually timed
calls (timer overhead subtracted), and the mean of whole batches timed at once. The
garbage collector is off while timing. Targets (issue 3): median under 5 µs for (a),
under 20 µs for (b).

Run alone (``python benchmarks/bench_policy.py``) or through ``benchmarks/run.py``,
which also rewrites docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from signoff._model import Action, Level, Outcome, utcnow
from signoff.policy import Policy
from signoff.policy._reference import ReferenceEvaluator

RESULTS = Path(__file__).resolve().parent / "results" / "policy.json"
BATCH = 500
TARGETS_US = {"a": 5.0, "b": 20.0}


def _rule(name: str, level: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "level": level, **extra}


def build_policy() -> dict[str, Any]:
    """The 50-rule policy, as the plain data a YAML file would load to."""
    rules: list[dict[str, Any]] = []
    # 18 exact names
    for name in ["file.read", "search.web", "calendar.read", "crm.lookup", "kb.search", "weather.get",
                 "restart_pod", "rotate_logs"]:
        rules.append(_rule(f"auto-{name}", "auto", match={"action": name}))
    for name in ["email.draft", "ticket.comment", "slack.post_internal", "deploy_staging"]:
        rules.append(_rule(f"notify-{name}", "notify", match={"action": name}))
    for name in ["email.send", "contract.sign", "github.merge_pr"]:
        rules.append(_rule(f"approve-{name}", "approve", match={"action": name}, reason="high_risk_action"))
    rules.append(_rule("prod-deploys", "approve", match={"action": "deploy_production"}, reason="high_risk_action",
                       reviewers={"tier": "senior", "count": 2}, timeout="2h", on_timeout="abort"))
    for name in ["iam.grant_admin", "kms.rotate_key"]:
        rules.append(_rule(f"suggest-{name}", "suggest", match={"action": name}))
    # 12 globs
    for pattern, level in [("*.read", "auto"), ("*.list", "auto"), ("search.*", "auto"), ("ticket.*", "notify"),
                           ("calendar.*", "notify"), ("payment.*", "approve"), ("*.delete", "approve"),
                           ("iam.*", "suggest"), ("db.drop*", "deny"), ("*.purge", "suggest"),
                           ("billing.*", "suggest"), ("security_group.*", "approve")]:
        rules.append(_rule(f"glob-{pattern}", level, match={"action": pattern}))
    # 10 CEL conditions
    rules += [
        _rule("refund-4-2", "notify", match={"action": "refund.create"},
              when="args.amount <= 200.0 && args.sla_violated"),
        _rule("refund-large", "approve", match={"action": "refund.create"}, when="args.amount > 200"),
        _rule("transfer-large", "suggest", match={"action": "payment.transfer"}, when="args.amount > 1000"),
        _rule("discount-deep", "approve", match={"action": "discount.apply"}, when="args.percent > 20"),
        _rule("scale-out-of-bounds", "notify", match={"action": "k8s.scale"},
              when="args.replicas > 10 || args.replicas < 2"),
        _rule("schema-changes", "approve", match={"action": "deploy_*"},
              when="has(args.has_schema_change) && args.has_schema_change",
              reviewers={"tier": "senior", "count": 2}, timeout="2h", on_timeout="abort"),
        _rule("invoice-large", "approve", match={"action": "invoice.*"}, when="args.amount >= 2000.0"),
        _rule("shell-rm", "deny", match={"action": "shell.exec"}, when="args.command.startsWith('rm ')"),
        _rule("s3-production", "approve", match={"action": "s3.put_object"}, when="context.env == 'production'"),
        _rule("mail-outside", "approve", match={"action": "email.send_internal"},
              when="!args.to.endsWith('@example.com')", reason="external_impact"),
    ]
    # 4 tags, 1 agent, 1 external
    rules += [
        _rule("financial", "notify", match={"tags": ["financial"]}),
        _rule("irreversible", "approve", match={"tags": ["irreversible"]}, reason="high_risk_action"),
        _rule("pii-out", "approve", match={"tags": ["pii", "external"]}),
        _rule("production", "notify", match={"tags": ["production"]}),
        _rule("interns", "approve", match={"agent": "intern-*"}),
        _rule("external", "approve", match={"external": True}),
    ]
    # 4 mode-only rules
    rules += [
        _rule("freeze-deploys", "deny", match={"action": "deploy_*"}, modes=["change-freeze"]),
        _rule("incident-scaling", "auto", match={"action": "k8s.*"}, modes=["incident"]),
        _rule("incident-pager", "auto", match={"action": "pagerduty.*"}, modes=["incident"]),
        _rule("shadow-everything", "suggest", modes=["shadow"]),
    ]
    assert len(rules) == 50, len(rules)
    return {
        "version": 1,
        "defaults": {"level": "auto", "confidence_threshold": 0.7, "timeout": "30m", "on_timeout": "escalate"},
        "tiers": ["junior", "senior"],
        "novelty": {"level": "approve", "key": ["action"]},
        "rules": rules,
        "modes": {
            "incident": {"confidence_threshold": 0.5,
                         "rules": {"prod-deploys": {"level": "notify"}, "glob-security_group.*": {"level": "notify"}}},
            "change-freeze": {"default_level": "notify"},
            "shadow": {},
        },
    }


NAMES_PLAIN = [
    "file.read", "search.web", "calendar.read", "crm.lookup", "kb.search", "weather.get", "restart_pod",
    "rotate_logs", "email.draft", "ticket.comment", "slack.post_internal", "email.send", "contract.sign",
    "github.merge_pr", "iam.grant_admin", "kms.rotate_key", "orders.list", "ticket.close", "calendar.delete",
    "user.delete", "db.drop_table", "cache.purge", "billing.update", "security_group.open", "notes.write",
    "report.generate", "translate.text", "pagerduty.ack", "iam.create_role", "invoice.read",
]
NAMES_CONDITIONAL = [
    "payment.transfer", "discount.apply", "k8s.scale", "invoice.pay", "shell.exec", "s3.put_object",
    "deploy_staging", "deploy_production", "email.send_internal", "refund.create",
]


def _args(name: str, rnd: random.Random) -> dict[str, Any]:
    amount: float = rnd.choice([rnd.randint(1, 5000), round(rnd.uniform(1, 5000), 2)])
    if name == "refund.create":
        return {"amount": amount, "sla_violated": rnd.random() < 0.5, "order": f"o-{rnd.randint(1, 999)}"}
    if name in ("payment.transfer", "invoice.pay"):
        return {"amount": amount, "currency": "EUR"}
    if name == "discount.apply":
        return {"percent": rnd.randint(1, 40)}
    if name == "k8s.scale":
        return {"deployment": "api", "replicas": rnd.randint(0, 20)}
    if name.startswith("deploy_"):
        return {"version": "1.4.2", "has_schema_change": rnd.random() < 0.2}
    if name == "shell.exec":
        return {"command": rnd.choice(["ls -la", "rm -rf /tmp/x", "df -h"])}
    if name == "email.send_internal":
        return {"to": rnd.choice(["bob@example.com", "eve@elsewhere.org"]), "subject": "hi"}
    return {"id": rnd.randint(1, 10_000)} if rnd.random() < 0.5 else {}


def make_actions(n: int, seed: int = 42) -> list[Action]:
    """A seeded, varied mix: mostly confident agents, some low confidences, tags, agents, externals."""
    rnd = random.Random(seed)
    tags = ["financial", "irreversible", "pii", "external", "production"]
    out = []
    for _ in range(n):
        name = rnd.choice(NAMES_CONDITIONAL) if rnd.random() < 0.4 else rnd.choice(NAMES_PLAIN)
        confident = rnd.random() < 0.85
        out.append(Action(
            name=name,
            args=_args(name, rnd),
            confidence=round(rnd.uniform(0.75, 1.0) if confident else rnd.uniform(0.3, 0.75), 3),
            reasoning="benchmark",
            tags=frozenset(t for t in tags if rnd.random() < 0.08),
            agent=rnd.choices(["support-bot", "ops-bot", "intern-3"], [60, 35, 5])[0],
            external=rnd.random() < 0.05,
            context={"env": rnd.choice(["production", "staging", "dev"])},
        ))
    return out


def conditions_run(policy: Policy, outcome: Outcome) -> int:
    """How many CEL conditions an evaluation ran: its matched and nearly matched rules with a ``when``."""
    names = set(outcome.matched_rules) | set(outcome.near_misses)
    return sum(1 for r in policy.spec.rules if r.name in names and r.when)


def _timer_overhead() -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t = clock()
        samples.append(clock() - t)
    return int(statistics.median(samples))


def measure(fn: Callable[[Action], Any], actions: Sequence[Action], repeats: int, overhead: int) -> dict[str, Any]:
    """Median, p99 and batch mean in µs; each is the median over the repeats, so one noisy repeat
    (another process on this shared machine) does not move the figure."""
    clock = time.perf_counter_ns
    for a in actions:  # warm caches: the hot path is a policy that has already seen these names
        fn(a)
    medians: list[float] = []
    p99s: list[float] = []
    means: list[float] = []
    calls = 0
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            singles: list[int] = []
            batch_means: list[float] = []
            for start in range(0, len(actions), BATCH):
                batch = actions[start:start + BATCH]
                t0 = clock()
                for a in batch:
                    fn(a)
                batch_means.append((clock() - t0) / len(batch))
                for a in batch:
                    t = clock()
                    fn(a)
                    singles.append(clock() - t - overhead)
            singles.sort()
            medians.append(statistics.median(singles))
            p99s.append(singles[min(len(singles) - 1, int(len(singles) * 0.99))])
            means.append(sum(batch_means) / len(batch_means))
            calls += len(singles)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "median_us": round(statistics.median(medians) / 1000, 2),
        "p99_us": round(statistics.median(p99s) / 1000, 2),
        "mean_us": round(statistics.median(means) / 1000, 2),
        "calls": calls,
    }


CATEGORIES = [
    ("a", "a. condition-free matches", "compiled"),
    ("a0", "a'. condition-free, first sight (not memoised yet)", "compiled"),
    ("b", "b. one CEL condition", "compiled"),
    ("c", "c. whole mix", "compiled"),
    ("d", "d. whole mix, naive reference evaluator", "naive"),
    ("e", "e. whole mix, incident mode", "compiled"),
    ("f", "f. whole mix, Gate.evaluate, no shadow policy", "gate"),
    ("g", "g. whole mix, Gate.evaluate with a shadow policy", "gate"),
    ("h", "h. whole mix, Gate.evaluate with standing approvals", "gate"),
]


def candidate_policy() -> dict[str, Any]:
    """The shadow candidate: the same policy with five levels changed (so it disagrees now and then)."""
    doc = build_policy()
    flips = {"auto-file.read": "notify", "auto-restart_pod": "approve", "glob-*.list": "notify",
             "glob-db.drop*": "approve", "notify-deploy_staging": "auto"}
    for rule in doc["rules"]:
        if rule["name"] in flips:
            rule["level"] = flips[rule["name"]]
    return doc


def open_gates(policy: Policy, actions: Sequence[Action]) -> tuple[Any, Any]:
    """Two gates on memory stores, one with the candidate in the shadow; every action already known."""
    from signoff import Gate

    plain = Gate.open(build_policy(), "memory://bench-plain", sweep=False)
    shadowed = Gate.open(build_policy(), "memory://bench-shadow", sweep=False, shadow_policy=candidate_policy())
    for g in (plain, shadowed):
        g._known = {policy.fingerprint(a) for a in actions}  # steady state, as ``is_known`` below
    return plain, shadowed


def allowed_gate(policy: Policy, actions: Sequence[Action]) -> tuple[Any, int]:
    """A gate holding standing approvals for what the mix sends to ``approve``, and how many of the mix's
    actions one of them lets through (loaded into its index directly: no tickets needed to measure)."""
    from signoff import Gate
    from signoff._allowances import Allowance

    gate = Gate.open(build_policy(), "memory://bench-allow", sweep=False)
    gate._known = {policy.fingerprint(a) for a in actions}
    now = utcnow()
    top = policy.tiers[-1] if policy.tiers else None
    names = sorted({a.name for a in actions if policy.evaluate(a, is_known=lambda _: True).level is Level.APPROVE})
    made = []
    for i, name in enumerate(names):
        sample = next(a for a in actions if a.name == name)
        cond = "args.amount <= 500.0" if "amount" in sample.args else None
        for agent in ("support-bot", "other-bot"):
            made.append(Allowance(id=f"al_bench{i}{agent[0]}", action=name, agent=agent, condition=cond, tier=top,
                                  reviewers=("bench",), created_at=now))
    gate._allowances.load(made)
    lowered = sum(1 for a in actions if gate.evaluate(a).level is Level.NOTIFY
                  and policy.evaluate(a, is_known=lambda _: True).level is Level.APPROVE)
    return gate, lowered


def main(*, n_actions: int = 4000, repeats: int = 7, naive_repeats: int = 3, write: bool = True) -> dict[str, Any]:
    policy = Policy.from_dict(build_policy(), "bench_policy")
    naive = ReferenceEvaluator(policy.spec)
    actions = make_actions(n_actions)
    known = {a.name for a in actions}  # steady state: every kind of action was approved once
    is_known = known.__contains__

    by_count: dict[int, list[Action]] = {}
    for a in actions:
        by_count.setdefault(conditions_run(policy, policy.evaluate(a, is_known=is_known)), []).append(a)
    mixes = {
        "a": by_count.get(0, []),
        "a0": by_count.get(0, []),
        "b": by_count.get(1, []),
        "c": actions,
        "d": actions,
        "e": actions,
    }
    mismatches = sum(
        1 for a in actions
        if policy.evaluate(a, is_known=is_known).level != naive.evaluate(a, is_known=is_known).level
    )

    def compiled(a: Action) -> Outcome:
        return policy.evaluate(a, is_known=is_known)

    def incident(a: Action) -> Outcome:
        return policy.evaluate(a, mode="incident", is_known=is_known)

    def reference(a: Action) -> Outcome:
        return naive.evaluate(a, is_known=is_known)

    memos = [table.memo for table, _ in policy._compiled._tables.values()]

    def first_sight(a: Action) -> Outcome:
        # Condition-free outcomes are memoised; this is the cost of the first one of its kind.
        for memo in memos:
            memo.clear()
        return policy.evaluate(a, is_known=is_known)

    plain, shadowed = open_gates(policy, actions)
    allowed, lowered = allowed_gate(policy, actions)
    mixes.update(f=actions, g=actions, h=actions)
    fns = {"a": compiled, "a0": first_sight, "b": compiled, "c": compiled, "d": reference, "e": incident,
           "f": plain.evaluate, "g": shadowed.evaluate, "h": allowed.evaluate}
    overhead = _timer_overhead()
    results: dict[str, Any] = {}
    for key, label, engine in CATEGORIES:
        r = naive_repeats if engine == "naive" else repeats
        figures = measure(fns[key], mixes[key], r, overhead)
        figures.update(label=label, engine=engine, actions=len(mixes[key]))
        if key in TARGETS_US:
            figures["target_median_us"] = TARGETS_US[key]
            figures["meets_target"] = figures["median_us"] < TARGETS_US[key]
        results[key] = figures
        print(f"  {label}: median {figures['median_us']} µs", file=sys.stderr)

    levels: dict[str, int] = {}
    for a in actions:
        lvl = policy.evaluate(a, is_known=is_known).level.value
        levels[lvl] = levels.get(lvl, 0) + 1
    doc = {
        "benchmark": "policy",
        "title": "Policy evaluation (one decision)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cel": metadata.version("common-expression-language"),
        "machine": platform.machine(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "rules": len(policy.spec.rules),
        "actions": len(actions),
        "conditions_per_action": {str(k): len(v) for k, v in sorted(by_count.items())},
        "outcome_mix": dict(sorted(levels.items())),
        "repeats": repeats,
        "batch": BATCH,
        "timer_overhead_ns": overhead,
        "naive_level_mismatches": mismatches,
        "categories": results,
        "ratios": {
            "naive / compiled, median (d / c)": round(results["d"]["median_us"] / results["c"]["median_us"], 1),
            "naive / compiled, mean (d / c)": round(results["d"]["mean_us"] / results["c"]["mean_us"], 1),
            "incident mode / normal, median (e / c)": round(results["e"]["median_us"] / results["c"]["median_us"], 2),
            "Gate.evaluate / Policy.evaluate, median (f / c)": round(results["f"]["median_us"]
                                                                     / results["c"]["median_us"], 2),
            "with a shadow policy / without, median (g / f)": round(results["g"]["median_us"]
                                                                    / results["f"]["median_us"], 2),
            "with a shadow policy / without, mean (g / f)": round(results["g"]["mean_us"]
                                                                  / results["f"]["mean_us"], 2),
            "with standing approvals / without, median (h / f)": round(results["h"]["median_us"]
                                                                       / results["f"]["median_us"], 2),
            "with standing approvals / without, mean (h / f)": round(results["h"]["mean_us"]
                                                                     / results["f"]["mean_us"], 2),
        },
    }
    plain.close()
    shadowed.close()
    allowed.close()
    doc["standing_approvals"] = {"allowances": len(allowed._allowances.by_action) * 2,
                                 "actions_let_through": lowered, "actions": len(actions)}
    doc.setdefault("notes", []).append(
        f"Standing approvals (h): {len(allowed._allowances.by_action) * 2} allowances, two per action the mix sends "
        f"to `approve` (one for its usual agent, one for an agent the mix does not have), let {lowered} of the "
        f"{len(actions)} actions through as `notify`. An `approve` outcome then looks its action up in the "
        "gate's in-memory index, checks agent, tier, reviewer count and expiry, and runs the allowance's "
        "condition; the lowered outcome is built once per memoised outcome. A gate without allowances "
        "pays one dict test (f).")
    doc["table"] = {
        "columns": ["category", "actions", "median µs", "p99 µs", "mean µs", "target (median)"],
        "rows": [
            [f["label"], f["actions"], f["median_us"], f["p99_us"], f["mean_us"],
             (f"< {f['target_median_us']:g} µs: {'met' if f['meets_target'] else 'MISSED'}"
              if "target_median_us" in f else "")]
            for f in results.values()
        ],
    }
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(doc)
    return doc


def print_table(doc: dict[str, Any]) -> None:
    columns = doc["table"]["columns"]
    rows = [[str(c) for c in row] for row in doc["table"]["rows"]]
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) for i in range(len(columns))]
    print(f"{doc['title']}: {doc['rules']} rules, {doc['actions']} actions, python {doc['python']}, "
          f"{doc['nproc']} cores")
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths, strict=True))))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    for label, value in doc["ratios"].items():
        print(f"{label}: {value}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/policy.json")
    ns = parser.parse_args()
    main(n_actions=ns.actions, repeats=ns.repeats, write=not ns.no_write)
