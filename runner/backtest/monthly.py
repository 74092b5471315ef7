"""Returns per calendar month (UTC) and per year, from a backtest's per-candle equity curve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True, slots=True)
class MonthReturn:
    """The equity change over one month: from its last equity before the month (the initial
    capital for the first one) to its last candle's equity, in percent."""

    year: int
    month: int                    # 1 = January
    return_pct: float


def monthly_returns(timestamps_ms: Sequence[int], equity: Sequence[float], initial_capital: float) -> list[MonthReturn]:
    """One `MonthReturn` per month that has a candle, oldest first. A month with no candle (a
    gap in the data) is absent, and the next month's return spans it.
    Raises ValueError for lengths that differ."""
    if len(timestamps_ms) != len(equity):
        raise ValueError(f"timestamps and equity differ in length: {len(timestamps_ms)} and {len(equity)}")
    if not len(equity):
        return []
    months = np.asarray(timestamps_ms, dtype="int64").astype("datetime64[ms]").astype("datetime64[M]").astype("int64")
    month_ends = np.append(np.flatnonzero(np.diff(months)), len(months) - 1)
    closing = np.asarray(equity, dtype=float)[month_ends]
    opening = np.concatenate(([initial_capital], closing[:-1]))
    return [MonthReturn(1970 + int(m) // 12, int(m) % 12 + 1, float(pct))
            for m, pct in zip(months[month_ends], (closing / opening - 1.0) * 100.0)]


def yearly_returns(months: Sequence[MonthReturn]) -> dict[int, float]:
    """Each year's return in percent, compounded from its months."""
    growth: dict[int, float] = {}
    for m in months:
        growth[m.year] = growth.get(m.year, 1.0) * (1.0 + m.return_pct / 100.0)
    return {year: (g - 1.0) * 100.0 for year, g in growth.items()}
