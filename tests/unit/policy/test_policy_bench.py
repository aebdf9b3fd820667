"""The policy benchmark keeps working: a tiny run gives every category, and its policy has 50 rules."""


from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_policy.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_policy", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_policy", module)
    spec.loader.exec_module(module)
    return module


class TestPolicyBenchmark:
    def test_small_run(self) -> None:
        """A small run measures every category, agrees with the naive evaluator and writes nothing."""
        doc = _load().main(n_actions=300, repeats=1, naive_repeats=1, write=False)

        assert (["a", "a0", "b", "c", "d", "e", "f", "g", "h"], 50, 0) == (
            list(doc["categories"]), doc["rules"], doc["naive_level_mismatches"]
        )
        assert all(c["median_us"] > 0 for c in doc["categories"].values())
