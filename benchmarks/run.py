"""Run every benchmark, then rewrite docs/benchmarks.md from all results (``make bench``).

Each ``benchmarks/bench_*.py`` module exposes ``main() -> dict`` and writes its own
``benchmarks/results/<name>.json``. This script runs them one after the other (one at a
time: they measure latency on a shared 2-core machine) and renders every results file
into docs/benchmarks.md, so the page always shows the latest figures of each benchmark,
even of one that was not re-run this time.

A results file renders best with ``title``, ``table`` (``columns`` and ``rows``) and
``ratios`` (label -> number), then ``notes`` (paragraphs of Markdown); anything else is
shown as a list of its top-level values.

Usage: python benchmarks/run.py [--only policy] [--docs-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "benchmarks.md"
ANCHORS_TXT = Path("/work/shared/anchors/last_run.txt")
# The anchors file lives outside the repository; keep what we quote from it in the repo
# too, so that a fresh clone renders the same page.
ANCHORS_CACHE = RESULTS / "anchors.json"


def discover() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run_all(only: list[str]) -> list[str]:
    """Run the selected benchmarks; return the names of those that failed."""
    failed = []
    for path in discover():
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"== {path.name}", flush=True)
        started = time.perf_counter()
        try:
            module = load(path)
            module.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"== {path.name} done in {time.perf_counter() - started:.1f} s\n", flush=True)
    return failed


# ------------------------------------------------------------------ anchors

_ANCHOR_ROWS = {
    "Cedar": r"^cedarpy is_authorized \(PolicySet handle\)\s+([\d.]+)",
    "Regorus": r"^regorus set_input\+eval_rule\s+([\d.]+)",
}


def anchors() -> dict[str, Any]:
    """Median µs per decision of other policy engines, from the anchors' last run."""
    if ANCHORS_TXT.exists():
        text = ANCHORS_TXT.read_text(encoding="utf-8")
        found: dict[str, Any] = {"source": str(ANCHORS_TXT)}
        date = re.search(r"\((\d{4}-\d{2}-\d{2})", text)
        found["date"] = date.group(1) if date else ""
        for engine, pattern in _ANCHOR_ROWS.items():
            m = re.search(pattern, text, re.MULTILINE)
            if m:
                found[engine] = float(m.group(1))
        if all(engine in found for engine in _ANCHOR_ROWS):
            RESULTS.mkdir(parents=True, exist_ok=True)
            ANCHORS_CACHE.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
            return found
    if ANCHORS_CACHE.exists():
        cached: dict[str, Any] = json.loads(ANCHORS_CACHE.read_text(encoding="utf-8"))
        return cached
    return {}


# ------------------------------------------------------------------ rendering

def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _policy_extras(doc: dict[str, Any], anchor: dict[str, Any]) -> list[str]:
    cats = doc.get("categories", {})
    lines = []
    targets = [f for f in cats.values() if "target_median_us" in f]
    if targets:
        met = all(f["meets_target"] for f in targets)
        lines.append(
            "Targets (issue 3): median under 5 µs for condition-free matches, under 20 µs with one CEL "
            f"condition: **{'met' if met else 'NOT met'}**."
        )
        lines.append("")
    if "Cedar" in anchor and "Regorus" in anchor and "c" in cats:
        mean = cats["c"]["mean_us"]
        lines.append(
            f"For scale, other engines on this machine (Cedar {anchor['Cedar']:.0f} µs, Regorus "
            f"{anchor['Regorus']:.0f} µs per decision, measured in a separate run"
            f"{' on ' + anchor['date'] if anchor.get('date') else ''}, on a 52-rule policy of the same kind; "
            "quoted in `benchmarks/results/anchors.json`). Those figures are means of timed batches, so the fair "
            "comparison is "
            f"signoff's whole-mix mean of {mean:g} µs: Cedar takes about {anchor['Cedar'] / mean:.0f}x as long "
            f"and Regorus about {anchor['Regorus'] / mean:.0f}x (rough: different runs and policies)."
        )
        lines.append("")
    lines.append(
        "How to read it: the compiled policy memoises outcomes by mode, by which rules matched or nearly "
        "matched (its generated decider's answer) and by fingerprint, so (a) is mostly a dictionary lookup; the "
        "first-sight row is the cost before that, and also that of every action whose confidence is below a "
        "threshold (their p99 shows in (a) and (c)). (b) runs one condition, inlined. The naive evaluator walks all "
        "50 rules and hands CEL the full activation each time. Medians and p99 are of individually timed "
        "calls (timer overhead subtracted); the mean is of batches timed whole. GC is off while timing."
    )
    lines.append("")
    return lines


def render(anchor: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (benchmarks/run.py) from benchmarks/results/*.json; do not edit. -->",
        "",
        "Figures from one machine; they move with its load. Compare ratios measured in the same run "
        "rather than absolute times from different runs. Re-run with `make bench`.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        if path == ANCHORS_CACHE:
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            lines += [f"## {path.stem}", "", f"(unreadable results file: {exc})", ""]
            continue
        if not isinstance(doc, dict):
            continue
        lines += [f"## {doc.get('title', path.stem)}", ""]
        facts = [f"{k} {doc[k]}" for k in ("date", "python", "nproc") if k in doc]
        if facts:
            parts = [doc.get("date", ""), f"Python {doc.get('python', '?')}"]
            parts += [f"{doc['nproc']} cores"] if "nproc" in doc else []
            lines += [f"_{'; '.join(parts)}; results in `benchmarks/results/{path.name}`._", ""]
        if isinstance(doc.get("table"), dict):
            lines += _table(doc["table"]["columns"], doc["table"]["rows"])
            lines.append("")
        else:
            scalars = [[k, v] for k, v in doc.items() if isinstance(v, (str, int, float, bool))]
            if scalars:
                lines += _table(["figure", "value"], scalars)
                lines.append("")
        ratios = doc.get("ratios")
        if isinstance(ratios, dict) and ratios:
            lines.append("Ratios, same run:")
            lines.append("")
            lines += [f"- {label}: **{value}x**" for label, value in ratios.items()]
            lines.append("")
        notes = doc.get("notes")
        if isinstance(notes, list):
            for note in notes:
                lines += [str(note), ""]
        if doc.get("benchmark") == "policy":
            lines += _policy_extras(doc, anchor)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and rewrite docs/benchmarks.md.")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only bench_NAME.py (repeatable)")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite docs/benchmarks.md")
    ns = parser.parse_args()
    failed = [] if ns.docs_only else run_all(ns.only)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render(anchors()), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
