"""Helpers every benchmark shares: a percentile and the console table of a results document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank: no interpolation between two measured values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_table(doc: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
    """Print ``doc["table"]`` aligned, then ``extra`` and ``doc["ratios"]`` as ``key: value`` lines."""
    cols = doc["table"]["columns"]
    rows = [[str(c) for c in r] for r in doc["table"]["rows"]]
    widths = [max(len(cols[i]), *(len(r[i]) for r in rows)) for i in range(len(cols))]
    print("  ".join(c.ljust(widths[i]) for i, c in enumerate(cols)))
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
    for k, v in {**(extra or {}), **doc["ratios"]}.items():
        print(f"{k}: {v}")
