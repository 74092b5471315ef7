"""`Forecast`: what a prediction model said about a symbol, as bots, strategies and the forecast
store see it. Made once per call to a model (rare next to candles), so a slotted dataclass."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Forecast"]


@dataclass(slots=True, frozen=True)
class Forecast:
    """A model's prediction for `symbol`, asked when the candle closing at `ts_ms` closed.

    `price` is that candle's close; `predicted_return` the relative change expected over
    `horizon_ms` (0.01 = +1%); `direction` +1 (up), -1 (down) or 0; `confidence` in [0, 1].
    `trigger` says why it was asked ("interval", "price_move", "volume_spike",
    "volatility_spike", "manual", "every_candle" or "replay").
    """

    model: str
    symbol: str
    ts_ms: int
    horizon_ms: int
    price: float
    predicted_return: float
    direction: int
    confidence: float
    trigger: str

    @property
    def predicted_price(self) -> float:
        return self.price * (1.0 + self.predicted_return)

    @property
    def target_ts_ms(self) -> int:
        """When the horizon has passed: the forecast is scored at the first candle closing then."""
        return self.ts_ms + self.horizon_ms
