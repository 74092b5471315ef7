"""Parameter types shared by the strategies' `Params` models.

Periods are strict ints: a YAML `fast: 10.0` or `fast: "10"` is a typo to report, not a value
to coerce. The upper bound keeps warm-up (and the replay it needs) within reason.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_PERIOD = 10_000

Period = Annotated[int, Field(gt=0, le=MAX_PERIOD, strict=True, description="bars, 1 to 10_000")]
"""A look-back length in closed candles."""
