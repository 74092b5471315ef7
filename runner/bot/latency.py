"""A fixed-bucket latency histogram, cheap enough to observe once per candle batch."""

from __future__ import annotations

from bisect import bisect_left

DEFAULT_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class Histogram:
    """Counts of observations per upper bound (seconds), Prometheus style: `counts[i]` holds the
    observations <= `buckets[i]` and above the bucket before; the last slot is +Inf."""

    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs, ending with ("+Inf", count)."""
        out, running = [], 0
        for bound, n in zip((*map(repr, self.buckets), "+Inf"), self.counts):
            running += n
            out.append((bound, running))
        return out
