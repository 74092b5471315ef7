"""The risk engine: turns a strategy's signal into a sized order or a refusal, and watches the
equity for the limits that trip the kill switch. Pure: no I/O, no clock reads.

The stable rule names of the audit trail (`RiskDecision.rule`):

| rule | verdict | when |
|---|---|---|
| `price` | reject | the last price is not a finite number above 0 (an entry is never sized on NaN) |
| `sizing` | reject | the stake leaves nothing to spend |
| `max_position` | resize, reject | the position would pass `max_position_pct` of equity |
| `max_order_notional` | resize | the entry is above `max_order_notional` |
| `price_collar` | reject | the last close is too far from the mean of the closes before it |
| `daily_target` | reject | equity reached `daily_target_pct` above the day's start |
| `volatility_breaker`, `spread_breaker` | reject | the breaker is tripped or cooling down |
| `var_limit` | reject | VaR is above `var.limit_pct` |
| `cooldown_after_stop`, `losing_streak`, `lookback_drawdown` | reject | a protection's pause |

Only entries are ever refused or resized by them; exits always pass.

A limit entry (`LimitSignal`) is sized at its limit price: the stake, capped by the rules above,
buys `stake / price` of the base asset (a limit order has a quantity, not a quote amount), so
`max_order_notional` caps its notional at that price, and the price collar looks at the limit
price instead of the last close. A limit exit sells the position (what one order can close) at
its price.
"""

from __future__ import annotations

from typing import Any

from execution.models import Fill, Side
from market.models import Candle
from market.view import MarketView
from portfolio.ports import PortfolioManager
from risk.breakers import SpreadBreaker, VolatilityBreaker
from risk.config import RiskConfig
from risk.decision import RiskDecision, Verdict, reject
from risk.protections import CooldownAfterStop, LookbackDrawdown, LosingStreak
from risk.rules import (DailyMaxLoss, DailyTarget, DayOf, MaxDrawdown, MaxOrderNotional, MaxPosition,
                        PositionSizing, PriceCollar, ProtectiveExits, TrailingAtr, fill_deviation)
from risk.var import ValueAtRisk
from strategies.signal import Direction, LimitSignal, Signal

_MIN_ENTRY_AMOUNT = 1e-9
_INFINITY = float("inf")
# Enum members as module names: each signal passes here, and on Python 3.11 reading a member off
# its class (`Side.BUY`) costs ten times a module global.
_BUY, _SELL = Side.BUY, Side.SELL
_FLAT, _SHORT = Direction.FLAT, Direction.SHORT
_APPROVE, _RESIZE = Verdict.APPROVE, Verdict.RESIZE

# Refusals that carry no numbers, made once: a decision is immutable, and building a frozen
# dataclass costs about a microsecond, more than the rest of a refusal.
_PENDING = reject("an order is still pending; one decision at a time")
_ALREADY_FLAT = reject("already flat")
_NO_SHORTS = reject("short selling is not enabled for this bot")
_ALREADY_LONG = reject("already long")
_SHORT_OPEN = reject("close the short before going long")


class RuleRiskEngine:
    """The `RiskEngine` port, composed of rules (see `risk.rules`); build it from a `RiskConfig` with `from_config`.

    Besides the sizing and kill rules, `gates` are the stateful rules that may refuse an entry
    (`refusal()`), in the order they are asked; those among them with `on_candle` watch every
    candle and those with `on_fill` every fill. The lists are built once here, so a bot with
    none of them configured pays nothing per candle for them.
    """

    def __init__(
        self,
        sizing: PositionSizing,
        max_position: MaxPosition,
        protective_exits: ProtectiveExits,
        daily_max_loss: DailyMaxLoss | None = None,
        max_drawdown: MaxDrawdown | None = None,
        *,
        max_order_notional: MaxOrderNotional | None = None,
        price_collar: PriceCollar | None = None,
        gates: tuple[Any, ...] = (),
        max_fill_deviation_pct: float | None = None,
        pause_on_fill_deviation: bool = False,
    ) -> None:
        self.sizing = sizing
        self._base_stake_pct = sizing.stake_pct
        self.max_position = max_position
        self.protective_exits = protective_exits
        self.daily_max_loss = daily_max_loss
        self.max_drawdown = max_drawdown
        self.max_order_notional = max_order_notional
        self.price_collar = price_collar
        self.max_fill_deviation_pct = max_fill_deviation_pct
        self.pause_on_fill_deviation = pause_on_fill_deviation
        self.gates = gates
        self._candle_observers = tuple(g.on_candle for g in gates if hasattr(g, "on_candle"))
        # False when no rule looks at candles: the runner then skips `on_candle` (a call on
        # every candle of a backtest that can only answer None).
        self.watches_candles = daily_max_loss is not None or max_drawdown is not None or bool(self._candle_observers)
        self._fill_observers = tuple(g.on_fill for g in gates if hasattr(g, "on_fill"))
        # False when neither a rule learns fills nor their price is checked: the runner then
        # skips `on_fill` and `check_fill_price` after each fill (two calls that do nothing).
        self.watches_fills = bool(self._fill_observers) or max_fill_deviation_pct is not None
        self._spread = next((g for g in gates if isinstance(g, SpreadBreaker)), None)
        # A spread breaker is configured: the caller should read the spread before an entry. An
        # attribute, not a property: the runner reads it on every signal.
        self.watches_spread = self._spread is not None
        self.rejections = 0

    @classmethod
    def from_config(cls, config: RiskConfig, *, size_multiplier: float = 1.0,
                    day_of: DayOf | None = None, sizing: PositionSizing | None = None) -> RuleRiskEngine:
        """`size_multiplier` (live safe mode) scales every entry down, e.g. 0.1 for a tenth;
        `day_of` cuts the daily rules' days (a session's trading days; None: UTC days);
        `sizing` replaces the config's stake (a basket's leg: `runner.basket.group.BasketStake`)."""
        gates: list[Any] = []
        if config.daily_target_pct is not None:
            gates.append(DailyTarget(config.daily_target_pct, day_of))
        if (vol := config.volatility_breaker) is not None:
            gates.append(VolatilityBreaker(vol.window, vol.threshold, atr=vol.atr,
                                           cooldown_candles=vol.cooldown_candles, kill=vol.action == "kill"))
        if (spread := config.spread_breaker) is not None:
            gates.append(SpreadBreaker(spread.max_bps, cooldown_candles=spread.cooldown_candles,
                                       kill=spread.action == "kill"))
        if (var := config.var) is not None:
            gates.append(ValueAtRisk(var.window, var.confidence, var.method, var.limit_pct))
        trailing_atr = None
        if (trailing := config.trailing_stop_atr) is not None:
            trailing_atr = TrailingAtr(trailing.multiple, trailing.period)
            gates.append(trailing_atr)           # watches every candle; never refuses an entry
        if (protections := config.protections) is not None:
            if protections.cooldown_after_stop_candles is not None:
                gates.append(CooldownAfterStop(protections.cooldown_after_stop_candles))
            if protections.max_losing_streak is not None:
                gates.append(LosingStreak(protections.max_losing_streak, protections.streak_pause_candles))
            if (lookback := protections.lookback_drawdown) is not None:
                gates.append(LookbackDrawdown(lookback.window_candles, lookback.max_pct, lookback.pause_candles))
        return cls(
            sizing if sizing is not None else PositionSizing(config.stake_pct * size_multiplier),
            MaxPosition(config.max_position_pct),
            ProtectiveExits(config.stop_loss_pct, config.take_profit_pct,
                            trailing_stop_pct=config.trailing_stop_pct, trailing_atr=trailing_atr),
            DailyMaxLoss(config.daily_max_loss_pct, day_of) if config.daily_max_loss_pct else None,
            MaxDrawdown(config.max_drawdown_pct) if config.max_drawdown_pct else None,
            max_order_notional=(MaxOrderNotional(config.max_order_notional)
                                if config.max_order_notional is not None else None),
            price_collar=(PriceCollar(config.price_collar_pct, config.price_collar_window)
                          if config.price_collar_pct is not None else None),
            gates=tuple(gates),
            max_fill_deviation_pct=config.max_fill_deviation_pct,
            pause_on_fill_deviation=config.pause_on_fill_deviation,
        )

    # -- decisions ---------------------------------------------------------------------------

    def check_all(self, signal: Signal, portfolio: PortfolioManager, market_data: MarketView,
                  *, orders_pending: bool = False, closable: float | None = None) -> RiskDecision:
        """Size `signal` into an order, or say why not. Long and flat are supported; a short
        signal is refused until short selling is enabled for a bot.

        `closable` is how much of the position one order can close (the execution engine's
        `closable_quantity`; None: all of it): an exit is sized to it, and a position with
        nothing closable is dust, too small for the exchange to trade, and counts as flat.
        """
        # One call for the whole decision (each signal of a backtest passes here, and a call more
        # cost about 0.2 us a signal in situ): a refusal is counted on its way out (`_refused`).
        direction = signal.direction
        position = portfolio.quantity
        limit = signal.price if isinstance(signal, LimitSignal) else None
        if closable == 0.0:
            position = 0.0                       # dust
        if orders_pending:
            return self._refused(_PENDING)
        if direction is _FLAT:
            if position == 0.0:
                return self._refused(_ALREADY_FLAT)
            side = _SELL if position > 0 else _BUY
            quantity = abs(position) if closable is None else closable
            if limit is None:                    # positional: a keyword cost ~0.1 us an exit
                return RiskDecision(_APPROVE, signal.reason or "exit", side, quantity)
            return RiskDecision(_APPROVE, signal.reason or "exit", side, quantity, price=limit)
        if direction is _SHORT:
            return self._refused(_NO_SHORTS)
        if position > 0.0:
            return self._refused(_ALREADY_LONG)
        if position < 0.0:
            return self._refused(_SHORT_OPEN)
        # The close the entry is decided on (the ledger's last mark where the view has no candle;
        # 0.0 there is a ledger never marked, which sizing from cash does not read). NaN fails
        # the test too: every comparison with it is False.
        candle = market_data.candle
        price = candle.close if candle is not None else portfolio.last_price
        if not 0.0 < price < _INFINITY and (candle is not None or price != 0.0):
            return self._refused(reject(f"no price to enter at: the last price is {price}", "price"))  # no NaN kept
        if self.price_collar is not None and (refusal := self.price_collar.refusal(market_data, limit)) is not None:
            return self._refused(refusal)
        for gate in self.gates:
            if (refusal := gate.refusal()) is not None:
                return self._refused(refusal)
        decision = self._sized_entry(signal, portfolio)      # counts its own refusals
        return decision if limit is None or not decision.approved else _at_limit(decision, limit)

    def _refused(self, decision: RiskDecision) -> RiskDecision:
        """`decision`, counted in `rejections` unless it approves (as is or resized)."""
        verdict = decision.verdict
        if verdict is not _APPROVE and verdict is not _RESIZE:
            self.rejections += 1
        return decision

    def _sized_entry(self, signal: Signal, portfolio: PortfolioManager) -> RiskDecision:
        cash, equity, position_value = portfolio.cash, portfolio.equity, portfolio.position_value
        asked = self.sizing.entry_amount(cash)
        if asked < _MIN_ENTRY_AMOUNT:
            return self._refused(reject(f"nothing to spend: cash {cash:.2f}, equity {equity:.2f}", "sizing",
                                        cash=cash, equity=equity, stake_pct=self.sizing.stake_pct))
        amount = self.max_position.cap(asked, equity, position_value)
        rule, inputs = "", None
        if amount < asked:
            rule, inputs = "max_position", {"asked": asked, "equity": equity, "position_value": position_value,
                                            "max_position_pct": self.max_position.max_position_pct}
            if amount < _MIN_ENTRY_AMOUNT:
                return self._refused(reject(f"nothing to spend: cash {cash:.2f}, equity {equity:.2f}", rule, **inputs))
        notional = self.max_order_notional
        if notional is not None and amount > notional.max_order_notional:
            amount = notional.cap(amount)
            rule, inputs = notional.name, {"asked": asked, "max_order_notional": notional.max_order_notional}
        exits = self.protective_exits
        trailing_atr = exits.trailing_atr        # `exits.trailing_distance()`, without the call where there is none
        distance = trailing_atr.distance() if trailing_atr is not None else None
        # Positional, in `RiskDecision`'s field order (side, quantity, quote_amount, stop-loss,
        # take-profit, trailing pct, trailing distance): keywords cost a third more, per entry.
        if rule:
            inputs["amount"] = amount
            return RiskDecision(_RESIZE, signal.reason or "entry", _BUY, None, amount, exits.stop_loss_pct,
                                exits.take_profit_pct, exits.trailing_stop_pct, distance, rule, inputs)
        return RiskDecision(_APPROVE, signal.reason or "entry", _BUY, None, amount, exits.stop_loss_pct,
                            exits.take_profit_pct, exits.trailing_stop_pct, distance)

    def scale_entries(self, factor: float) -> None:
        """Every entry from now on spends `factor` of what the stake alone would (governance:
        its level, health and drift), on top of the safe-mode multiplier it was built with.
        Not a rule's resize: nothing is journalled here, governance journals its own changes."""
        self.sizing = PositionSizing(self._base_stake_pct * factor)

    # -- observers ---------------------------------------------------------------------------

    def check_kill(self, ts_ms: int, equity: float, peak_equity: float) -> str | None:
        """Once per candle, after marking: a reason to trip the kill switch, or None."""
        if self.daily_max_loss is not None:
            reason = self.daily_max_loss.check(ts_ms, equity)
            if reason:
                return reason
        if self.max_drawdown is not None:
            return self.max_drawdown.check(equity, peak_equity)
        return None

    def on_candle(self, candle: Candle, equity: float, peak_equity: float | None = None) -> str | None:
        """Once per candle, after marking, where `check_kill` is called: feeds the candle and the
        marked equity to the rules that watch them and returns a kill-switch reason (a breaker
        with `action: kill` tripping), or None.

        With `peak_equity` it does `check_kill`'s work too, first, so one call per candle does
        everything (the runner's hot path: with no rule of its own configured, it costs what
        `check_kill` alone does). Every observer sees every candle, even after a reason.
        """
        reason = None
        if peak_equity is not None:            # check_kill, inlined: this runs for every candle
            if self.daily_max_loss is not None:
                reason = self.daily_max_loss.check(candle.ts_ms, equity)
            if reason is None and self.max_drawdown is not None:
                reason = self.max_drawdown.check(equity, peak_equity)
        if self._candle_observers:
            for observe in self._candle_observers:
                tripped = observe(candle, equity)
                if tripped is not None and reason is None:
                    reason = tripped
        return reason

    def on_fill(self, fill: Fill) -> None:
        """Each fill the bot books, in order: protections learn stop-loss exits and round trips."""
        for observe in self._fill_observers:
            observe(fill)

    def set_spread_bps(self, spread_bps: float) -> None:
        """The best bid/ask spread in basis points of the mid, whenever the caller has quotes
        (paper, live). Ignored without `spread_breaker`. A kill comes out of the next `on_candle`."""
        if self._spread is not None:
            self._spread.observe(spread_bps)

    def check_fill_price(self, fill_price: float, reference_price: float) -> str | None:
        """Post-trade: why the fill is too far from `reference_price` (`max_fill_deviation_pct`),
        or None (also when not configured). `pause_on_fill_deviation` says whether the caller
        pauses the bot for it."""
        limit = self.max_fill_deviation_pct
        return None if limit is None else fill_deviation(fill_price, reference_price, limit)

    def figures(self) -> dict[str, float | None]:
        """The configured rules' current figures for `status` and `/metrics`: `var`, `es`,
        `volatility`, breaker states (1.0 tripped, 0.0 not), pauses left; None while warming up."""
        figures: dict[str, float | None] = {}
        for gate in self.gates:
            figures.update(gate.figures())
        return figures

    # -- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        daily = self.daily_max_loss
        data: dict[str, Any] = {
            "rejections": self.rejections,
            "day": daily.day if daily else None,
            "day_start_equity": daily.day_start_equity if daily else None,
        }
        if self.gates:
            data["rules"] = {gate.name: gate.snapshot() for gate in self.gates}
        return data

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from `snapshot()`. A rule configured since has no saved state and starts
        fresh; the state of a rule no longer configured is dropped."""
        self.rejections = data["rejections"]
        if self.daily_max_loss is not None and data.get("day") is not None:
            self.daily_max_loss.day = data["day"]
            self.daily_max_loss.day_start_equity = data["day_start_equity"]
        saved = data.get("rules", {})
        for gate in self.gates:
            if gate.name in saved:
                gate.restore(saved[gate.name])


def _at_limit(decision: RiskDecision, price: float) -> RiskDecision:
    """An approved entry's quote amount as the quantity it buys at the limit `price`."""
    inputs = decision.inputs
    if inputs is not None:
        inputs["limit_price"] = price
    return decision._replace(quantity=decision.quote_amount / price, quote_amount=None, price=price)
