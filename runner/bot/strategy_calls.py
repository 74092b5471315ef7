"""The strategy's side of `StrategyRunner`: its warm-up on history, and its faults made `StrategyError`.

A strategy is the bot's one piece of foreign code: what it raises (SystemExit included, see
`runner.bot.errors.FAULTS_OF_ITS_OWN`) or returns instead of a signal stops its own bot, with a
message naming the strategy, the candle and what it did, before any order on a guess. The loop
(`StrategyRunner._steps`) calls `generate_signal` inline, for speed, and asks these methods for
the error; the warm-up calls it through `_generate`.

`StrategyCalls` is a mixin of `StrategyRunner` (it reads the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from market.models import iso_utc
from runner.bot.errors import FAULTS_OF_ITS_OWN, StrategyError
from strategies.signal import Signal

if TYPE_CHECKING:
    from market.models import Candle

__all__ = ["StrategyCalls"]


class StrategyCalls:
    """Strategy methods of `StrategyRunner`; see the module docstring."""

    async def _warm_up(self) -> None:
        """Feed the strategy history so its indicators are ready; signals are ignored."""
        self._parts = None                   # read again for this run, after any `restore`
        needed = self.strategy.warmup_bars if self._warmup_bars is None else self._warmup_bars
        if needed <= 0:
            return
        features, forecasting, bar_ms = self._features, self.forecasting, self._bar_ms
        for candle in await self.feed.history(needed):
            self.view.push(candle)
            if self.timeframes is not None:
                self.timeframes.on_candle(candle)
            if features is not None:
                self.view.features = features.values_for(candle)
            if self.regime is not None:
                await self._observe_regime(candle)
            if forecasting is not None:
                forecasting.observe(candle, candle.ts_ms + bar_ms)
            self._generate(candle)

    async def _observe_regime(self, candle: Candle) -> None:
        regime = self.regime
        while not regime.observe(candle, self.view):
            await regime.shared.fit_done()

    def _generate(self, candle: Candle) -> Signal | None:
        try:
            return self.strategy.generate_signal(self.view)
        except FAULTS_OF_ITS_OWN as exc:
            raise self._strategy_error(candle, exc) from exc

    def _strategy_error(self, candle: Candle, exc: BaseException) -> StrategyError:
        return StrategyError(f"strategy {self.strategy.name!r} raised on the candle of {iso_utc(candle.ts_ms)}: "
                             f"{type(exc).__name__}: {exc}")

    def _not_a_signal(self, candle: Candle, signal: Any) -> StrategyError:
        got = f"a Signal of direction {signal.direction!r}" if isinstance(signal, Signal) else repr(signal)[:80]
        return StrategyError(f"strategy {self.strategy.name!r} returned {got} on the candle of "
                             f"{iso_utc(candle.ts_ms)}: expected None or a Signal whose direction is "
                             "Direction.LONG, Direction.FLAT or Direction.SHORT")
