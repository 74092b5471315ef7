"""`Regime`: the market regime a strategy sees on a closed candle, and how sure the detector is.

Labels come from the regime detector (`strategies.regime`), one per closed candle, decided on
that candle and the ones before it only. `UNKNOWN` until the detector's first fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

__all__ = ["NO_READING", "Regime", "RegimeReading"]


class Regime(StrEnum):
    TRENDING_UP = "trending_up"
    TRENDING_DOWN = "trending_down"
    RANGING = "ranging"
    VOLATILE = "volatile"
    UNKNOWN = "unknown"          # before the first fit: never a regime a bot may enter in


class RegimeReading(NamedTuple):
    """The regime of one candle and the filtered probability of each label (summing to 1 over
    the four known labels; empty while `UNKNOWN`). Shared by every bot reading the stream."""

    regime: Regime
    probs: Mapping[str, float]


NO_READING = RegimeReading(Regime.UNKNOWN, MappingProxyType({}))
