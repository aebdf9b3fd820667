"""Durations as people write them in a policy: ``30s``, ``30m``, ``2h``, ``1d``, ``1h30m``, ``500ms``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Parse a duration; a bare number counts as seconds. Raises ValueError naming the input."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}: write a number and a unit, like 30s, 30m, 2h or 1d")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"bad duration {value!r}: must be positive")
        return timedelta(seconds=value)
    text = str(value).strip().replace(" ", "")
    if not _WHOLE.match(text):
        raise ValueError(f"bad duration {value!r}: write a number and a unit, like 30s, 30m, 2h or 1d")
    total = sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))
    if total <= 0:
        raise ValueError(f"bad duration {value!r}: must be positive")
    return timedelta(seconds=total)


def format_duration(td: timedelta) -> str:
    """The shortest readable form: 1h30m, 45s, 2d."""
    secs = td.total_seconds()
    if secs < 1:
        return f"{round(secs * 1000)}ms"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            n = int(secs // size)
            secs -= n * size
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"
