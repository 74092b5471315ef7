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


def below(low: str, high: str, *, says: str = "must be below"):
    """A validator of `high` (declared after `low`) that refuses `low >= high`, for a Params
    class body: `_ordered = below("fast", "slow", says="must be shorter than")`.

    A field validator rather than a model validator: it runs alongside the other field checks,
    so a config with an unknown key *and* an inverted pair gets both problems reported at once."""

    def check(cls, value: float, info: ValidationInfo) -> float:
        other = info.data.get(low)      # absent if `low` itself was invalid: reported already
        if other is not None and other >= value:
            raise ValueError(f"{low} ({other}) {says} {high} ({value})")
        return value

    return field_validator(high)(classmethod(check))


class FastSlowParams(StrategyParams):
    """Two look-backs where the first must be the shorter (crossover strategies)."""

    fast: Period
    slow: Period

    _ordered = below("fast", "slow", says="must be shorter than")
