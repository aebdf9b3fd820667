"""How much counting allowance uses costs: ``Store.allowance_uses()`` over a large audit log.

Every request a standing approval lets through is an ``allowance_used`` audit entry; the
Allowances page, ``GET /api/v1/allowances`` and ``signoff allowances list`` count them per
allowance with one grouped read. The audit log grows with every ticket, so that read must not
scan it: a partial index (SQLite migration 0007, PostgreSQL 0008) holds only those entries.

Measured on a real SQLite file and a throwaway PostgreSQL cluster (tests/postgres_server.py):
an audit log of ``N_AUDIT`` entries, of which a share (each of ``SHARES``) are uses spread over
``N_ALLOWANCES`` allowances (the rest ~300-byte ticket events), loaded straight into the table (the
read does not look at the hash chain). Each read is timed ``REPEAT`` times with the index, then
again after dropping it (what a full scan costs).

Run: python benchmarks/bench_allowance_uses.py (or ``make bench``); writes
benchmarks/results/allowance_uses.json.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from signoff.store import open_store, sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # benchmarks/_stats, also under run.py
from _stats import print_table  # noqa: E402

RESULTS = HERE / "results" / "allowance_uses.json"
N_AUDIT = 500_000
SHARES = (0.005, 0.05)
N_ALLOWANCES = 20
REPEAT = 15
TARGET_MS = 20.0  # a page load's share


def _rows(n: int, share: float) -> Iterator[tuple[Any, ...]]:
    rnd = random.Random(7)
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    filler = json.dumps({"action": "deploy_service", "agent": "deploy-bot", "rules": ["deploys"],
                         "reasoning": "release train 42; checks green " * 6}, separators=(",", ":"))
    for seq in range(1, n + 1):
        at = (start + datetime.timedelta(milliseconds=seq * 10)).isoformat()
        if rnd.random() < share:
            data = json.dumps({"action": "deploy_service", "agent": "deploy-bot",
                               "allowance_id": f"al_{rnd.randrange(N_ALLOWANCES):016x}"}, separators=(",", ":"))
            yield seq, at, "allowance_used", f"tk_{seq:016x}", "deploy-bot", data, "0" * 64, "0" * 64
        else:
            yield seq, at, rnd.choice(("submitted", "approved", "notified")), f"tk_{seq:016x}", "deploy-bot", \
                filler, "0" * 64, "0" * 64


def _time(url: str) -> tuple[list[float], int]:
    async def run() -> tuple[list[float], int]:
        store = open_store(url)
        await store.open()
        try:
            uses = await store.allowance_uses()  # warm: connection, page cache
            ms = []
            for _ in range(REPEAT):
                t = time.perf_counter()
                uses = await store.allowance_uses()
                ms.append((time.perf_counter() - t) * 1000)
            return ms, sum(n for n, _ in uses.values())
        finally:
            await store.close()

    return asyncio.run(run())


async def _create(url: str) -> None:
    store = open_store(url)
    await store.open()  # the schema, with the partial index
    await store.close()


def _plan(dialect: Literal["sqlite", "postgres"], run: Any) -> str:
    """The query plan of the store's own statement."""
    text = sql.queries(dialect)["allowance_uses"]
    if dialect == "sqlite":
        return " ".join(str(r[-1]) for r in run("EXPLAIN QUERY PLAN " + text))
    return " ".join(str(r[0]).strip() for r in run("EXPLAIN " + text))


def _sqlite(tmp: str, share: float) -> dict[str, Any]:
    path = f"{tmp}/uses-{share}.db"
    url = f"sqlite:///{path}"
    asyncio.run(_create(url))
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(N_AUDIT, share))
    conn.commit()
    conn.execute("ANALYZE")
    plan = _plan("sqlite", conn.execute)
    indexed, counted = _time(url)
    conn.execute("DROP INDEX audit_allowance_used")
    conn.commit()
    scanned, again = _time(url)
    conn.close()
    assert counted == again
    return {"indexed": indexed, "scanned": scanned, "uses": counted, "plan": plan}


def _postgres(share: float) -> dict[str, Any]:
    import psycopg
    from tests.postgres_server import create_database, start_cluster

    cluster = start_cluster()
    try:
        url = create_database(cluster.url)
        asyncio.run(_create(url))
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.cursor() as cur, cur.copy(
                    "COPY audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash) FROM STDIN") as copy:
                for row in _rows(N_AUDIT, share):
                    copy.write_row(row)
            conn.execute("VACUUM ANALYZE audit")  # what autovacuum does to an insert-only table
            plan = _plan("postgres", conn.execute)
            indexed, counted = _time(url)
            conn.execute("DROP INDEX audit_allowance_used")
            scanned, again = _time(url)
        assert counted == again
        return {"indexed": indexed, "scanned": scanned, "uses": counted, "plan": plan}
    finally:
        cluster.stop()


def main(*, write: bool = True) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))  # tests/postgres_server.py
    runs: dict[tuple[str, float], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as tmp:
        for share in SHARES:
            runs["sqlite", share] = _sqlite(tmp, share)
    for share in SHARES:
        runs["postgres", share] = _postgres(share)
    med = {key: {m: round(statistics.median(r[m]), 2) for m in ("indexed", "scanned")} for key, r in runs.items()}
    rows = [[f"{store}, {runs[store, share]['uses']:,} uses ({share:.1%}): median ms", med[store, share]["indexed"],
             med[store, share]["scanned"]] for store in ("sqlite", "postgres") for share in SHARES]
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "nproc": os.cpu_count(),
        "title": f"Allowance use counts: one grouped read over an audit log of {N_AUDIT:,} entries",
        "table": {"columns": ["Store.allowance_uses()", "with the partial index", "without (a full scan)"],
                  "rows": rows},
        "ratios": {f"{store}, {share:.1%} uses: full scan / indexed":
                   round(med[store, share]["scanned"] / med[store, share]["indexed"], 1)
                   for store in ("sqlite", "postgres") for share in SHARES},
        "figures": {"n_audit": N_AUDIT, "allowances": N_ALLOWANCES, "repeat": REPEAT,
                    "runs": {f"{store} {share}": {"uses": r["uses"], "plan": r["plan"], "indexed_ms": r["indexed"],
                                                  "scanned_ms": r["scanned"]} for (store, share), r in runs.items()}},
        "notes": [
            f"{N_AUDIT:,} audit entries, a share of them `allowance_used` over {N_ALLOWANCES} allowances, "
            "loaded straight into the table; `Store.allowance_uses()` timed "
            f"{REPEAT} times through the store (its connection, its query), median shown, then again after "
            "`DROP INDEX audit_allowance_used`. PostgreSQL after `VACUUM ANALYZE` (autovacuum's work).",
            "The partial index holds only the `allowance_used` entries, so other audit appends never write "
            "to it. On SQLite the count reads the index alone (`" + runs["sqlite", SHARES[-1]]["plan"] + "`): "
            "its cost follows the number of uses, not the log's size. On PostgreSQL the index finds the "
            "entries but their rows are still read from the table (an expression index gives no "
            "index-only scan), so once uses are spread over most of the table's pages it costs about "
            "what a scan does; the entries are grouped by their text before their JSON is parsed.",
        ],
    }
    print_table(result)
    if write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
