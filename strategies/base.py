"""The strategy contract: closed candles in, a signal (or nothing) out.

A strategy is pure: no network, no files, no clock reads. It is called exactly once per closed
candle, in time order, so it may keep incremental indicator state between calls; that state is
rebuilt by replaying history (warm-up), never persisted.

To add one: subclass `Strategy`, declare a `Params` model and a `name`, implement
`generate_signal`, and decorate the class with `@register` (see `strategies/rsi_reversion.py`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from market.strict import StrictModel
from market.regime import Regime
from market.view import MarketView
from strategies.signal import Signal


class StrategyParams(StrictModel):
    """Base for a strategy's parameters: frozen, unknown keys rejected."""


class Strategy(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: StrategyParams) -> None:
        self.params = params

    @property
    def warmup_bars(self) -> int:
        """Closed candles needed before the first signal can be given."""
        return 0

    @property
    def features(self) -> tuple[str, ...]:
        """The features this strategy reads from `MarketView.features`, as spec strings
        (`"ema:12"`, `"rsi:14"`, `"bb:20:2"`, `"vwap:day"`, ...; see `strategies.features`).
        They are computed for it, once per stream, and shared with every bot on that stream."""
        return ()

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Higher timeframes this strategy reads from `MarketView.timeframes` (e.g. ("1h",) on a
        5m bot), each a whole multiple of the bot's. Their candles are built from the bot's and
        appear only once closed (`market.timeframes`)."""
        return ()

    def higher_warmup_bars(self, timeframe: str) -> int:
        """Closed candles of `timeframe` (one of `timeframes`) needed before the first signal;
        the bot's warm-up fetches enough base candles to build them."""
        return 0

    def on_regime_change(self, previous: Regime, current: Regime, market_data: MarketView) -> None:
        """Called when the candle's market regime differs from the last candle's, before
        `generate_signal` for that candle (bots with a regime detector only). Does nothing
        unless overridden; `market_data.regime_probs` holds the labels' probabilities."""

    @abstractmethod
    def generate_signal(self, market_data: MarketView) -> Signal | None:
        """The position wanted after `market_data.candle` closed, or None for no change."""
