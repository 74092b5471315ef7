"""Parameter types shared by the strategies' `Params` models.

Periods are strict ints: a YAML `fast: 10.0` or `fast: "10"` is a typo to report, not a value
to coerce. The upper bound keeps warm-up (and the replay it needs) within reason.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from strategies.base import StrategyParams

MAX_PERIOD = 10_000

Period = Annotated[int, Field(gt=0, le=MAX_PERIOD, strict=True, description="bars, 1 to 10_000")]
"""A look-back length in closed candles."""


class FastSlowParams(StrategyParams):
    """Two look-backs where the first must be the shorter (crossover strategies)."""

    fast: Period
    slow: Period

    # A field validator rather than a model validator: it runs alongside the other field checks,
    # so a config with an unknown key *and* fast >= slow gets both problems reported at once.
    @field_validator("slow")
    @classmethod
    def _slow_is_longer_than_fast(cls, slow: int, info: ValidationInfo) -> int:
        fast = info.data.get("fast")  # absent if fast itself was invalid: reported already
        if fast is not None and fast >= slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        return slow
