"""`ForecastModel`: what a bot asks for a forecast. `ModelClient` (HTTP, or a replay when its
config says so) and `ReplayModel` implement it; tests can pass any object of this shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from market.forecast import Forecast
from market.models import Candle

__all__ = ["ForecastModel"]


class ForecastModel(Protocol):
    """A prediction model seen from a bot. `forecast` returns None when there is no forecast
    (model unavailable, nothing recorded) and never raises for that: the bot then decides on
    its technical votes alone."""

    @property
    def name(self) -> str: ...

    @property
    def available(self) -> bool:
        """False while the model does not answer (time-outs, errors, the breaker open)."""
        ...

    async def forecast(self, *, symbol: str, timeframe: str, candles: Sequence[Candle],
                       features: Mapping[str, float | None], ts_ms: int, trigger: str) -> Forecast | None: ...

    async def aclose(self) -> None: ...
