"""The risk rules, one job each, so each can be tested alone. `risk.engine.RuleRiskEngine`
composes them into the `RiskEngine` port.

Sizing rules turn an entry into an amount; limit rules cap or refuse it; kill rules watch the
marked equity once per candle and name a reason when the bot must stop. Gates (here the price
collar and the daily target; breakers, VaR and protections have modules of their own) refuse
new entries only, never exits, and name themselves by a stable `name` for the audit trail.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from market.models import Candle
from market.view import MarketView
from risk.decision import RiskDecision, reject
from strategies.indicators import ATR

_DAY_MS = 86_400_000

# A trading day from a time in UTC milliseconds: `TradingSession.day_of` for a bot with a session.
# Without one (None) days are UTC days, `ts_ms // _DAY_MS`: the same count (days since
# 1970-01-01), so a day saved in a snapshot means the same thing either way.
DayOf = Callable[[int], int]


class PositionSizing:
    """An entry spends `stake_pct` of available cash; the fee comes on top of that amount."""

    def __init__(self, stake_pct: float) -> None:
        self.stake_pct = stake_pct

    def entry_amount(self, cash: float) -> float:
        return max(cash, 0.0) * self.stake_pct


class MaxPosition:
    """A position may be worth at most `max_position_pct` of equity when it is entered."""

    def __init__(self, max_position_pct: float) -> None:
        self.max_position_pct = max_position_pct

    def cap(self, amount: float, equity: float, position_value: float) -> float:
        room = self.max_position_pct * equity - abs(position_value)
        return min(amount, max(room, 0.0))


class ProtectiveExits:
    """Stop-loss and take-profit distances attached to every entry, as fractions of its price,
    and a trailing stop: by a fraction, or by `trailing_atr`'s distance at the entry (none
    while its ATR warms up)."""

    def __init__(self, stop_loss_pct: float | None, take_profit_pct: float | None, *,
                 trailing_stop_pct: float | None = None, trailing_atr: TrailingAtr | None = None) -> None:
        self.stop_loss_pct = stop_loss_pct
        self.take_profit_pct = take_profit_pct
        self.trailing_stop_pct = trailing_stop_pct
        self.trailing_atr = trailing_atr

    def trailing_distance(self) -> float | None:
        """The trailing stop distance an entry carries now (`trailing_stop_distance`): the ATR
        multiple's, None without `trailing_atr` or while its ATR warms up."""
        return self.trailing_atr.distance() if self.trailing_atr is not None else None


class TrailingAtr:
    """`multiple` times the ATR of the last `period` candles: a trailing stop's distance, fed
    every candle (`on_candle`), kept in the snapshot so a restarted bot trails the same way."""

    name = "trailing_stop_atr"

    def __init__(self, multiple: float, period: int) -> None:
        self.multiple = multiple
        self._atr = ATR(period)

    def on_candle(self, candle, equity: float) -> None:
        self._atr.update(candle.high, candle.low, candle.close)

    def distance(self) -> float | None:
        atr = self._atr.value
        return None if atr is None or atr <= 0 else self.multiple * atr

    def refusal(self) -> None:
        return None                               # it sizes exits; it never refuses an entry

    def figures(self) -> dict[str, float | None]:
        return {"trailing_stop_distance": self.distance()}

    def snapshot(self) -> dict[str, Any]:
        atr = self._atr
        return {"value": atr.value, "prev_close": atr._prev_close, "sum": atr._sum, "missing": atr._missing}

    def restore(self, data: dict[str, Any]) -> None:
        atr = self._atr
        atr.value, atr._prev_close, atr._sum, atr._missing = (data["value"], data["prev_close"], data["sum"],
                                                               data["missing"])


class DailyMaxLoss:
    """Trips when equity falls `daily_max_loss_pct` below its value at the first candle of the
    day: the UTC day, or the session's trading day in its time zone with `day_of` (days are cut
    on the candle's open time, so a backtest and a live run agree)."""

    def __init__(self, daily_max_loss_pct: float, day_of: DayOf | None = None) -> None:
        self.daily_max_loss_pct = daily_max_loss_pct
        self.day_of = day_of
        self.day = -1
        self.day_start_equity = 0.0

    def check(self, ts_ms: int, equity: float) -> str | None:
        # Every candle: UTC days stay one integer division (no call) for bots without a session.
        day = ts_ms // _DAY_MS if self.day_of is None else self.day_of(ts_ms)
        if day != self.day:
            self.day = day
            self.day_start_equity = equity
            return None
        # Compared as a price level, not a ratio: 1 - 950/1000 is a hair under 0.05.
        if equity <= self.day_start_equity * (1.0 - self.daily_max_loss_pct):
            loss = 1.0 - equity / self.day_start_equity
            return (f"daily loss {loss:.2%} reached the limit of {self.daily_max_loss_pct:.2%} "
                    f"(day start equity {self.day_start_equity:.2f}, now {equity:.2f})")
        return None


class MaxDrawdown:
    """Trips when equity falls `max_drawdown_pct` below its peak."""

    def __init__(self, max_drawdown_pct: float) -> None:
        self.max_drawdown_pct = max_drawdown_pct

    def check(self, equity: float, peak_equity: float) -> str | None:
        if equity <= peak_equity * (1.0 - self.max_drawdown_pct):
            drawdown = 1.0 - equity / peak_equity
            return (f"drawdown {drawdown:.2%} reached the limit of {self.max_drawdown_pct:.2%} "
                    f"(peak equity {peak_equity:.2f}, now {equity:.2f})")
        return None


class MaxOrderNotional:
    """An entry spends at most `max_order_notional` (quote currency); a larger one is resized."""

    name = "max_order_notional"

    def __init__(self, max_order_notional: float) -> None:
        self.max_order_notional = max_order_notional

    def cap(self, amount: float) -> float:
        return min(amount, self.max_order_notional)


class PriceCollar:
    """Refuses an entry when the last close is more than `pct` away from the mean of the `window`
    closes before it: a bad tick or a fat-fingered price should not open a position.

    The mean leaves the last close out, so one wild close cannot drag its own reference along.
    Read from the bot's `MarketView` at the decision, so it costs nothing per candle; with fewer
    than `window + 1` closes seen there is no reference yet and the collar lets the entry pass.
    Exactly `pct` away passes: only "further than" refuses.
    """

    name = "price_collar"

    def __init__(self, pct: float, window: int) -> None:
        self.pct = pct
        self.window = window

    def refusal(self, market_data: MarketView, limit_price: float | None = None) -> RiskDecision | None:
        """Why the entry is refused, or None. A limit entry (`limit_price`) is checked at its own
        price against the same mean: a limit at the last close gets the market entry's answer."""
        closes = market_data.closes(self.window + 1)
        if len(closes) <= self.window:
            return None
        last = closes.pop()
        what = "last close"
        if limit_price is not None:
            last, what = limit_price, "limit price"
        mean = math.fsum(closes) / self.window
        # Compared as a distance in price, not a ratio, for the reason given in DailyMaxLoss.
        if abs(last - mean) > self.pct * mean:
            return reject(f"price collar: {what} {last:.8g} is {abs(last / mean - 1.0):.2%} from the "
                          f"mean {mean:.8g} of the {self.window} closes before it (at most {self.pct:.2%})",
                          self.name, **{"close" if limit_price is None else "limit_price": last}, mean=mean,
                          pct=self.pct, window=float(self.window))
        return None


class DailyTarget:
    """Once equity reaches `daily_target_pct` above its value at the first candle of the day,
    no new entries until the next day (exits stay allowed). Reaching it is enough: it holds for
    the rest of the day even if equity falls back. Days are cut on candle time, in UTC or by
    `day_of`, like `DailyMaxLoss`."""

    name = "daily_target"

    def __init__(self, daily_target_pct: float, day_of: DayOf | None = None) -> None:
        self.daily_target_pct = daily_target_pct
        self.day_of = day_of
        self.day = -1
        self.day_start_equity = 0.0
        self.reached_equity: float | None = None

    def on_candle(self, candle: Candle, equity: float) -> None:
        day = candle.ts_ms // _DAY_MS if self.day_of is None else self.day_of(candle.ts_ms)
        if day != self.day:
            self.day, self.day_start_equity, self.reached_equity = day, equity, None
        elif self.reached_equity is None and equity >= self.day_start_equity * (1.0 + self.daily_target_pct):
            self.reached_equity = equity

    def refusal(self) -> RiskDecision | None:
        if self.reached_equity is None:
            return None
        return reject(f"daily target of {self.daily_target_pct:.2%} reached (day start equity "
                      f"{self.day_start_equity:.2f}, reached {self.reached_equity:.2f}): no new entries until "
                      f"the next {'UTC' if self.day_of is None else 'trading'} day", self.name, day_start_equity=self.day_start_equity,
                      reached_equity=self.reached_equity, target_pct=self.daily_target_pct)

    def figures(self) -> dict[str, float | None]:
        return {"daily_target_reached": 0.0 if self.reached_equity is None else 1.0}

    def snapshot(self) -> dict:
        return {"day": self.day, "day_start_equity": self.day_start_equity, "reached_equity": self.reached_equity}

    def restore(self, data: dict) -> None:
        self.day, self.day_start_equity, self.reached_equity = data["day"], data["day_start_equity"], data["reached_equity"]


def fill_deviation(fill_price: float, reference_price: float, limit: float) -> str | None:
    """Post-trade check: why a fill at `fill_price` is further than `limit` (a fraction) from
    `reference_price` (the price the order was decided on), or None. Exactly at `limit` passes.

    >>> fill_deviation(101.0, 100.0, 0.02) is None
    True
    >>> fill_deviation(97.0, 100.0, 0.02)
    'fill price 97 is 3.00% from the reference 100 (at most 2.00%)'
    """
    if abs(fill_price - reference_price) > limit * reference_price:
        return (f"fill price {fill_price:.8g} is {abs(fill_price / reference_price - 1.0):.2%} from the "
                f"reference {reference_price:.8g} (at most {limit:.2%})")
    return None
