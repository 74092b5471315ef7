"""A bot's side of the regime: what its strategy sees, and which entries it may not make.

Per closed candle (`observe`) the shared detector's reading goes into the bot's `MarketView`
(`regime`, `regime_probs`), and when the label differs from the last candle's the strategy's
`on_regime_change` hook is called. With `allowed` set (`regimes:` in the config), an entry
signal in any other regime is refused (`refuses`); `unknown`, before the first fit, is never
allowed. Exits are never refused: a bot must always be able to leave.
"""

from __future__ import annotations

from collections.abc import Iterable

from market.models import Candle, iso_utc
from market.regime import Regime
from market.view import MarketView
from runner.bot.errors import StrategyError
from runner.regime.shared import SharedRegime
from strategies.base import Strategy
from strategies.signal import Direction, Signal

__all__ = ["RegimeGate"]


class RegimeGate:
    """One bot's view of a `SharedRegime`; `allowed` None lets every regime enter."""

    __slots__ = ("shared", "allowed", "_strategy", "changes")

    def __init__(self, shared: SharedRegime, strategy: Strategy, allowed: Iterable[str] | None = None) -> None:
        self.shared = shared
        self.allowed = None if allowed is None else frozenset(Regime(name) for name in allowed)
        self._strategy = strategy
        self.changes = 0

    def observe(self, candle: Candle, view: MarketView) -> bool:
        """Set the view's regime for `candle`; False when its fit must be awaited first
        (`await gate.shared.fit_done()`, then call again). Raises StrategyError when the
        strategy's hook raises."""
        reading = self.shared.reading_for(candle)
        if reading is None:
            return False
        previous = view.regime
        view.regime, view.regime_probs = reading
        if reading.regime is not previous:
            self.changes += 1
            try:
                self._strategy.on_regime_change(previous, reading.regime, view)
            except Exception as exc:
                raise StrategyError(
                    f"strategy {self._strategy.name!r} raised in on_regime_change on the candle of "
                    f"{iso_utc(candle.ts_ms)}: {type(exc).__name__}: {exc}") from exc
        return True

    def refuses(self, signal: Signal, position: float, view: MarketView) -> str | None:
        """Why an entry must not be made in the view's regime, or None (an exit, no change of
        position, or an allowed regime)."""
        allowed = self.allowed
        if allowed is None or view.regime in allowed:
            return None
        direction = signal.direction
        entering = (direction is Direction.LONG and position <= 0) or (direction is Direction.SHORT and position >= 0)
        if not entering:
            return None
        return (f"no entry in the {view.regime.value} regime; this bot enters only in "
                f"{', '.join(sorted(r.value for r in allowed))}")
