"""A bot's prediction model: asked when a trigger fires, its forecasts recorded and scored.

Once per closed candle the runner hands the candle over (`on_candle`), after the features and
before the strategy: forecasts whose horizon has passed are scored at this candle's close, the
triggers are checked, and when one fires the model is asked (bounded by its time-out: a slow
model holds up this bot's candle at most that long, never another bot's). The strategy then sees
the latest forecast as `MarketView.forecast` while its horizon has not passed and the model is
available, None otherwise: it decides on its technical votes alone, and the model client says
so once per change of state.
"""

from __future__ import annotations

from typing import Any, Protocol

from market.forecast import Forecast
from market.models import Candle
from market.view import MarketView
from runner.forecast.ports import ForecastModel
from runner.forecast.triggers import Triggers

__all__ = ["ForecastRecorder", "Forecasting"]


class ForecastRecorder(Protocol):
    """Where forecasts are kept and scored (`runner.state.forecasts.ForecastStore`)."""

    def record(self, bot_id: str, forecast: Forecast) -> None: ...

    def score_due(self, bot_id: str, symbol: str, close_ts_ms: int, close_price: float) -> int: ...


class Forecasting:
    """One bot's model, triggers and forecast record; see the module docstring."""

    def __init__(self, bot_id: str, model: ForecastModel, triggers: Triggers, *, symbol: str, timeframe: str,
                 recorder: ForecastRecorder | None = None, candles_sent: int = 100) -> None:
        self.bot_id = bot_id
        self.model = model
        self.triggers = triggers
        self.symbol = symbol
        self.timeframe = timeframe
        self.recorder = recorder
        self.candles_sent = candles_sent
        self.latest: Forecast | None = None
        self.forecasts = 0                  # answers used since the bot started

    def request(self) -> None:
        """Ask the model at the next candle, whatever the triggers say (`botrunner trigger`)."""
        self.triggers.request_manual()

    def observe(self, candle: Candle, close_ms: int) -> None:
        """Score the forecasts whose horizon has passed at this candle (warm-up candles too: a
        forecast whose horizon passed while the daemon was down is scored when it comes back)."""
        if self.recorder is not None:
            self.recorder.score_due(self.bot_id, self.symbol, close_ms, candle.close)

    async def on_candle(self, candle: Candle, close_ms: int, view: MarketView) -> bool:
        """Score, check the triggers, ask the model if one fired, and set `view.forecast`.
        True when a trigger fired on this candle."""
        self.observe(candle, close_ms)
        fired = self.triggers.check(candle, close_ms)
        if fired is not None:
            forecast = await self.model.forecast(
                symbol=self.symbol, timeframe=self.timeframe, candles=view.history(self.candles_sent),
                features=view.features, ts_ms=close_ms, trigger=fired)
            if forecast is not None:
                # Asked and answered: the interval and price-move triggers count from here. A
                # model that did not answer is asked again at the next candle a trigger fires on.
                self.triggers.asked(candle, close_ms)
                self.latest = forecast
                self.forecasts += 1
                if self.recorder is not None:
                    self.recorder.record(self.bot_id, forecast)
        latest = self.latest
        view.forecast = (latest if latest is not None and close_ms < latest.target_ts_ms and self.model.available
                         else None)
        return fired is not None

    def snapshot(self) -> dict[str, Any]:
        """The triggers' state and the latest forecast, JSON-ready (the runner's snapshot holds it)."""
        latest = self.latest
        return {"triggers": self.triggers.snapshot(), "forecasts": self.forecasts,
                "latest": None if latest is None else {f: getattr(latest, f) for f in Forecast.__slots__}}

    def restore(self, data: dict[str, Any]) -> None:
        self.triggers.restore(data["triggers"])
        self.forecasts = data["forecasts"]
        self.latest = None if data["latest"] is None else Forecast(**data["latest"])

    async def aclose(self) -> None:
        await self.model.aclose()
