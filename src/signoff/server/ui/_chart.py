"""Approval rate over time, per rule, as inline SVG drawn on the server (no chart library, no script).

One small chart per rule (small multiples read better than ten lines in one frame):
x is the day, y the share of decided requests that were approved, and each point's
area grows with the number of decisions that day, so a 100% from one request does not
look like a 100% from three hundred. Every point carries a ``<title>`` with its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup

__all__ = ["rate_chart"]

W, H = 600, 170
LEFT, RIGHT, TOP, BOTTOM = 40, 14, 12, 26


def day_range(timeline: dict[str, list[tuple[str, int, int]]]) -> tuple[str, str] | None:
    """The first and last day over every rule, so that all charts share one time axis."""
    days = [d for points in timeline.values() for d, _, n in points if n > 0]
    return (min(days), max(days)) if days else None


def rate_chart(rule: str, points: Sequence[tuple[str, int, int]], span: tuple[str, str] | None = None) -> Markup:
    """An SVG for ``points`` = [(day, approved, decided), ...] in date order.

    ``span`` (first day, last day) places each day on a calendar axis shared by all charts;
    without it the chart spans its own days.
    """
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    parts: list[Markup] = [Markup(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="approval rate per day for rule {rule}">').format(w=W, h=H, rule=rule)]
    for pct in (0, 50, 100):
        y = TOP + ph * (1 - pct / 100)
        parts.append(Markup(
            '<line x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            '<text x="{tx}" y="{ty:.1f}" class="axis" text-anchor="end">{pct}%</text>').format(
            x1=LEFT, x2=W - RIGHT, y=y, tx=LEFT - 6, ty=y + 4, pct=pct))
    pts = [(day, a, n) for day, a, n in points if n > 0]
    if not pts:
        parts.append(Markup('<text x="{x}" y="{y}" class="axis" text-anchor="middle">no decisions yet</text>')
                     .format(x=LEFT + pw / 2, y=TOP + ph / 2))
        parts.append(Markup("</svg>"))
        return Markup("").join(parts)
    most = max(n for _, _, n in pts)
    first, last = span or (pts[0][0], pts[-1][0])
    d0 = date.fromisoformat(first)
    days = max(0, (date.fromisoformat(last) - d0).days)

    def xy(day: str, a: int, n: int) -> tuple[float, float]:
        offset = (date.fromisoformat(day) - d0).days
        x = LEFT + (pw * offset / days if days else pw / 2)
        return x, TOP + ph * (1 - a / n)

    coords = [xy(d, a, n) for d, a, n in pts]
    if len(coords) > 1:
        parts.append(Markup('<polyline class="line" points="{}"/>').format(
            " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)))
    for (day, a, n), (x, y) in zip(pts, coords, strict=True):
        r = 2.5 + 4.5 * (n / most) ** 0.5
        cls = "dot low" if a / n < 0.5 else "dot"
        parts.append(Markup(
            '<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}">'
            "<title>{day}: {a} of {n} approved ({pct:.0%})</title></circle>").format(
            cls=cls, x=x, y=y, r=r, day=day, a=a, n=n, pct=a / n))
    parts.append(Markup('<text x="{x}" y="{y}" class="axis" text-anchor="start">{d}</text>').format(
        x=LEFT, y=H - 8, d=first))
    if last != first:
        parts.append(Markup('<text x="{x}" y="{y}" class="axis" text-anchor="end">{d}</text>').format(
            x=W - RIGHT, y=H - 8, d=last))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
