"""Figures the benches report, computed one way."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank over the sorted values; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
