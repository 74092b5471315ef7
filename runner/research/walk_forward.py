"""Walk-forward validation: search on one stretch of the candles (in-sample), test the best
values found on the stretch that follows (out-of-sample), fold after fold. An out-of-sample
result far below the in-sample one is the mark of parameters fitted to noise.

The candles are cut into N + 1 equal segments. Fold k tests on segment k + 1; it searches on
segment k alone (rolling, the default: every fold's search sees as many candles) or on
segments 0..k (anchored: each fold's search sees all the past).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.research.store import TrialRecord
from runner.research.pool import Window

__all__ = ["Fold", "FoldResult", "split_folds"]


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    in_sample: Window
    out_of_sample: Window


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: Fold
    study: str
    best: TrialRecord | None                     # None: no trial of the fold met the constraints
    out_of_sample_value: float | None
    out_of_sample: dict[str, Any] | None         # the backtest summary of the best values out of sample

    @property
    def in_sample_value(self) -> float | None:
        return self.best.value if self.best is not None else None

    @property
    def ratio(self) -> float | None:
        """Out-of-sample over in-sample objective; None when in-sample is not above 0 (a ratio
        of two losses, or over nothing, says nothing about overfitting)."""
        if self.in_sample_value is None or self.out_of_sample_value is None or self.in_sample_value <= 0:
            return None
        return self.out_of_sample_value / self.in_sample_value


def split_folds(candle_count: int, folds: int, *, anchored: bool = False) -> list[Fold]:
    """The folds over `candle_count` candles; ValueError when they would be too short to mean anything."""
    if folds < 1:
        raise ValueError("--walk-forward needs at least 1 fold")
    segment = candle_count // (folds + 1)
    if segment < 50:
        raise ValueError(f"--walk-forward {folds}: {candle_count:,} candles make segments of {segment}; "
                         "use fewer folds or more candles")
    result = []
    for k in range(folds):
        first = 0 if anchored else k * segment
        result.append(Fold(k, Window(first, (k + 1) * segment),
                           Window((k + 1) * segment, (k + 2) * segment if k + 1 < folds else candle_count)))
    return result
