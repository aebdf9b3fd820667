"""A/B: the queue cycle (submit -> approve -> resume) of two checkouts, in one run.

Ratios of runs taken in turn (A B A B ...) on the same machine in the same minutes hold when
absolute times from different runs do not (a shared 2-core machine drifts). Each run is a
fresh process importing ``signoff`` from one checkout's ``src/`` and timing ``n`` cycles
with a 1 KB state through the public async API; its median is one sample, and the ratio
A/B is taken pair by pair, then its median reported.

Stores: ``sqlite`` (durable commits: what ``make bench`` measures), ``sqlite-own``
(``synchronous=NORMAL``: the fsyncs out, leaving signoff's own time) and ``postgres`` (a
throwaway cluster with fsync on, tests/postgres_server.py; a fresh database per run).

Usage: python benchmarks/ab_store.py --a . --b /path/to/other/checkout [--rounds 5] [--n 500]
       [--stores sqlite,sqlite-own,postgres] [--write NAME]
Not part of ``make bench`` (it needs a second checkout); used for issue 11's before/after.
``--write NAME`` saves benchmarks/results/NAME.json, which ``make bench`` renders into
docs/benchmarks.md with the other results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import asyncio, json, statistics, sys, time
from signoff import Action, Gate
url, n, durable = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
policy = {"version": 1, "defaults": {"level": "auto", "timeout": "1h", "on_timeout": "abort"},
          "tiers": ["junior", "senior"],
          "rules": [{"name": "deploys", "match": {"action": "deploy_service"}, "level": "approve"}]}
if url.startswith("sqlite:"):
    from signoff.store.sqlite import SQLiteStore
    store = SQLiteStore(url, durable=durable)
else:
    store = url
gate = Gate.open(policy=policy, store=store, sweep=False)
gate.add_reviewer("alice", tier="senior")
state = {"blob": "x" * 1000}

async def cycles(count):
    out = []
    for i in range(count):
        t0 = time.perf_counter()
        t = await gate.submit(Action(name="deploy_service", args={"service": "billing", "version": f"2.4.{i}"},
                                     agent="deploy-bot", reasoning="release train 42", confidence=0.9), state=state)
        await gate.approve(t.id, reviewer="alice")
        decision, got = await gate.resume(t.id)
        out.append((time.perf_counter() - t0) * 1000)
        assert decision.status == "approved" and got is not None
    return out

asyncio.run(cycles(50))
ms = asyncio.run(cycles(n))
gate.close()
print(json.dumps({"median_ms": statistics.median(ms)}))
"""


def _run(tree: Path, url: str, n: int, durable: bool) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run([sys.executable, "-c", _CHILD, url, str(n), "1" if durable else "0"], env=env,
                         capture_output=True, text=True, check=True, timeout=600).stdout
    return float(json.loads(out.strip().splitlines()[-1])["median_ms"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=Path, default=ROOT)
    ap.add_argument("--b", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--stores", default="sqlite,sqlite-own,postgres")
    ap.add_argument("--write", metavar="NAME", help="save benchmarks/results/NAME.json for docs/benchmarks.md")
    ap.add_argument("--title", default="Queue cycle, A/B")
    ap.add_argument("--label-a", default="after")
    ap.add_argument("--label-b", default="before")
    args = ap.parse_args()
    stores = args.stores.split(",")
    cluster: Any = None
    if "postgres" in stores:
        sys.path.insert(0, str(ROOT))
        from tests.postgres_server import create_database, start_cluster

        cluster = start_cluster(durable=True)
    report: dict[str, Any] = {"a": str(args.a), "b": str(args.b), "n": args.n, "rounds": args.rounds}
    try:
        with tempfile.TemporaryDirectory(prefix="signoff-ab-") as tmp:
            for store in stores:
                a_ms: list[float] = []
                b_ms: list[float] = []
                for r in range(args.rounds):
                    for side, tree, out in (("a", args.a, a_ms), ("b", args.b, b_ms)):
                        if store == "postgres":
                            url = create_database(cluster.url, f"ab_{side}_{r}")
                        else:
                            url = f"sqlite:///{tmp}/{store}-{side}-{r}.db"
                        out.append(_run(tree, url, args.n, durable=store != "sqlite-own"))
                ratios = [a / b for a, b in zip(a_ms, b_ms, strict=True)]
                report[store] = {"a_median_ms": round(statistics.median(a_ms), 4),
                                 "b_median_ms": round(statistics.median(b_ms), 4),
                                 "a_runs": [round(x, 4) for x in a_ms], "b_runs": [round(x, 4) for x in b_ms],
                                 "ratio_a_over_b_median": round(statistics.median(ratios), 3)}
                print(store, json.dumps(report[store]), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps(report, indent=2))
    if args.write:
        _write(args, stores, report)


_LABELS = {"sqlite": "SQLite, durable commits (as `make bench`)", "sqlite-own": "SQLite, synchronous=NORMAL "
           "(signoff's own time)", "postgres": "PostgreSQL, fsync on"}


def _write(args: argparse.Namespace, stores: list[str], report: dict[str, Any]) -> None:
    rows = [[_LABELS[s], args.n, report[s]["b_median_ms"], report[s]["a_median_ms"], report[s]["ratio_a_over_b_median"]]
            for s in stores]
    doc = {
        "benchmark": args.write,
        "title": f"{args.title}: {args.label_a} / {args.label_b}, {args.rounds} alternating runs each",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "table": {"columns": ["submit -> approve -> resume, 1 KB state", "cycles per run",
                              f"{args.label_b}: median ms", f"{args.label_a}: median ms",
                              f"{args.label_a} / {args.label_b} (median of paired runs)"], "rows": rows},
        "runs": {s: report[s] for s in stores},
        "ratios": {f"{_LABELS[s]}, {args.label_a} / {args.label_b}": report[s]["ratio_a_over_b_median"]
                   for s in stores},
    }
    path = Path(__file__).resolve().parent / "results" / f"{args.write}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
