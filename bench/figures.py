"""Figures the benchmarks print."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) by rank; NaN when there are no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def histogram_buckets(metrics_text: str, name: str) -> dict[float, float]:
    """A Prometheus histogram's cumulative bucket counts by upper bound, from the text
    exposition format (``/metrics``)."""
    buckets: dict[float, float] = {}
    prefix = f'{name}_bucket{{le="'
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            bound, _, count = line[len(prefix) :].partition('"} ')
            buckets[float(bound)] = float(count)
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding the ``q`` quantile of what was observed
    between two readings of a histogram (NaN if nothing was)."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    if total <= 0:
        return float("nan")
    for bound, count in counts.items():
        if count >= q * total:
            return bound
    return float("inf")
