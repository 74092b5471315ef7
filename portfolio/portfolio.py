"""One bot's ledger for one symbol: cash, position, PnL, fees, equity and drawdown.

`apply_fill` is the only way the ledger changes, and it is deterministic: replaying the same
fills from empty (`Portfolio.replay`) gives the same state. `mark` only moves the price the
position is valued at, and the equity peak and drawdown that follow from it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from execution.models import Fill, Side
from market.limits import require_positive_finite
from portfolio.trades import Trade

RECENT_TRADES = 20
_INF = float("inf")
_BUY = Side.BUY          # read for every fill; `Side.BUY` off its class costs ten times a global on 3.11


class Portfolio:
    __slots__ = (
        "symbol", "initial_capital", "cash", "quantity", "avg_entry_price", "realized_pnl",
        "fees_paid", "last_price", "peak_equity", "max_drawdown", "fill_count", "trades",
        "trade_count", "winning_trades", "ledger",
        "_trade_entry_ts", "_trade_peak_qty", "_trade_pnl", "_trade_fees", "_trade_exit_value",
        "_trade_exit_qty",
    )

    def __init__(self, symbol: str, initial_capital: float) -> None:
        if initial_capital <= 0:
            raise ValueError(f"initial capital must be > 0, got {initial_capital}")
        self.symbol = symbol
        self.initial_capital = float(initial_capital)
        self.cash = float(initial_capital)
        self.quantity = 0.0
        self.avg_entry_price = 0.0
        self.realized_pnl = 0.0          # gross of fees; fees are in `fees_paid`
        self.fees_paid = 0.0
        self.last_price = 0.0
        self.peak_equity = float(initial_capital)
        self.max_drawdown = 0.0          # worst peak-to-trough fall seen, a fraction of the peak
        self.ledger = None               # a basket leg's shared cash (`portfolio.basket`), whose equity it marks
        self.fill_count = 0
        # Every round trip closed since this object was built (all of a backtest's); after a
        # restore, the snapshot's last few. The counters always cover the bot's whole life.
        self.trades: list[Trade] = []
        self.trade_count = 0
        self.winning_trades = 0
        self._reset_open_trade()

    # -- state changes -----------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> None:
        """Book one fill: cash, position, average entry, realized PnL, fees, round trips.

        A fee taken in the base asset (`fill.base_fee`) comes off the position, not the cash,
        and counts in `fees_paid` at the fill's price; the average entry stays the traded price,
        so realized PnL (gross) minus fees is still what the round trip earned.
        """
        quantity, price, base_fee = fill.quantity, fill.price, fill.base_fee
        if not (0.0 < quantity < _INF and 0.0 < price < _INF and math.isfinite(fill.fee)):
            _refuse_unbookable(fill)     # tested inline, so the usual case builds no message (NaN fails `<`)
        signed = quantity if fill.side is _BUY else -quantity                 # `fill.signed_quantity`
        position = self.quantity
        fee = fill.fee + base_fee * price if base_fee else fill.fee            # `fill.total_fee`
        self.cash -= signed * price + fill.fee
        self.fees_paid += fee
        self.fill_count += 1
        if position == 0.0:
            self._trade_entry_ts = fill.ts_ms
        self._trade_fees += fee

        if position == 0.0 or (position > 0) == (signed > 0):
            new_position = position + signed
            self.avg_entry_price = (self.avg_entry_price * abs(position) + price * abs(signed)) / abs(new_position)
            self.quantity = new_position
        else:
            closed = min(abs(signed), abs(position))
            direction = 1.0 if position > 0 else -1.0
            pnl = closed * (price - self.avg_entry_price) * direction
            self.realized_pnl += pnl
            self._trade_pnl += pnl
            self._trade_exit_value += closed * price
            self._trade_exit_qty += closed
            new_position = position + signed
            if abs(new_position) < 1e-12 * max(abs(position), 1.0):
                new_position = 0.0       # float dust left by selling "everything"
            if new_position == 0.0 or (new_position > 0) != (position > 0):
                self._close_trade(fill)
                if new_position != 0.0:  # reversed through zero: the rest opens a new trade
                    self._trade_entry_ts = fill.ts_ms
                    self.avg_entry_price = price
                else:
                    self.avg_entry_price = 0.0
            self.quantity = new_position
        if base_fee:
            self._take_base_fee(base_fee)
        if abs(self.quantity) > abs(self._trade_peak_qty):
            self._trade_peak_qty = self.quantity

    def _take_base_fee(self, base_fee: float) -> None:
        held = self.quantity
        self.quantity = held - base_fee
        if abs(self.quantity) < 1e-12 * max(abs(held), 1.0):
            self.quantity = 0.0

    def mark(self, price: float) -> float:
        """Value the position at `price`; update peak equity and drawdown. Returns equity: the
        cash and the position, or a basket leg's basket's (`portfolio.basket.LegPortfolio`)."""
        self.last_price = price
        ledger = self.ledger             # an `is None` here rather than a second copy of these lines
        equity = self.cash + self.quantity * price if ledger is None else ledger.equity()
        if equity > self.peak_equity:
            self.peak_equity = equity
        else:
            drawdown = 1.0 - equity / self.peak_equity
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown
        return equity

    # -- derived values ----------------------------------------------------------------------

    @property
    def equity(self) -> float:
        return self.cash + self.quantity * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.last_price - self.avg_entry_price) if self.quantity else 0.0

    @property
    def drawdown(self) -> float:
        """Current fall from the equity peak, as a fraction of the peak."""
        return max(0.0, 1.0 - self.equity / self.peak_equity)

    @property
    def position_value(self) -> float:
        return self.quantity * self.last_price

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0.0

    # -- replay and snapshots ----------------------------------------------------------------

    @classmethod
    def replay(cls, symbol: str, initial_capital: float, fills: Iterable[Fill]) -> Portfolio:
        portfolio = cls(symbol, initial_capital)
        for fill in fills:
            portfolio.apply_fill(fill)
        return portfolio

    def restored(self, data: dict[str, Any]) -> Portfolio:
        """The ledger `snapshot()` saved as `data`, of this one's kind (a basket's leg keeps its
        basket's cash: `portfolio.basket`)."""
        return type(self).restore(data)

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this ledger, as JSON-ready values."""
        return {
            "symbol": self.symbol, "initial_capital": self.initial_capital, "cash": self.cash,
            "quantity": self.quantity, "avg_entry_price": self.avg_entry_price,
            "realized_pnl": self.realized_pnl, "fees_paid": self.fees_paid,
            "last_price": self.last_price, "peak_equity": self.peak_equity,
            "max_drawdown": self.max_drawdown, "fill_count": self.fill_count,
            # Only the last few trades: a snapshot is written after every fill, so it must not
            # grow with the bot's age. The journal holds every fill of every trade.
            "trade_count": self.trade_count, "winning_trades": self.winning_trades,
            "recent_trades": [t.to_dict() for t in self.trades[-RECENT_TRADES:]],
            "open_trade": {
                "entry_ts_ms": self._trade_entry_ts, "peak_qty": self._trade_peak_qty,
                "pnl": self._trade_pnl, "fees": self._trade_fees,
                "exit_value": self._trade_exit_value, "exit_qty": self._trade_exit_qty,
            },
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Portfolio:
        portfolio = cls(data["symbol"], data["initial_capital"])
        for name in ("cash", "quantity", "avg_entry_price", "realized_pnl", "fees_paid",
                     "last_price", "peak_equity", "max_drawdown", "fill_count"):
            setattr(portfolio, name, data[name])
        portfolio.trades = [Trade(**t) for t in data["recent_trades"]]
        portfolio.trade_count = data["trade_count"]
        portfolio.winning_trades = data["winning_trades"]
        open_trade = data["open_trade"]
        portfolio._trade_entry_ts = open_trade["entry_ts_ms"]
        portfolio._trade_peak_qty = open_trade["peak_qty"]
        portfolio._trade_pnl = open_trade["pnl"]
        portfolio._trade_fees = open_trade["fees"]
        portfolio._trade_exit_value = open_trade["exit_value"]
        portfolio._trade_exit_qty = open_trade["exit_qty"]
        return portfolio

    # -- round trips -------------------------------------------------------------------------

    def _close_trade(self, fill: Fill) -> None:
        exit_price = self._trade_exit_value / self._trade_exit_qty
        entry_price = self.avg_entry_price
        fees = self._trade_fees
        pnl = self._trade_pnl - fees
        # Positional, in the field order of `Trade` (entry and exit time, quantity, entry and exit
        # price, pnl, fees, exit reason), and its `is_win` read off `pnl`: every exit of a backtest
        # passes here, and keywords and the property cost about 0.5 us more on a loaded machine.
        self.trades.append(Trade(self._trade_entry_ts, fill.ts_ms, self._trade_peak_qty, entry_price, exit_price,
                                 pnl, fees, fill.reason))
        self.trade_count += 1
        self.winning_trades += pnl > 0
        self._reset_open_trade()

    def _reset_open_trade(self) -> None:
        self._trade_entry_ts = 0
        self._trade_peak_qty = 0.0
        self._trade_pnl = 0.0
        self._trade_fees = 0.0
        self._trade_exit_value = 0.0
        self._trade_exit_qty = 0.0


def _refuse_unbookable(fill: Fill) -> None:
    """Refuse a fill that would make the ledger NaN or infinite: once cash is NaN, every equity,
    drawdown and order after it is too, and a snapshot carries it across restarts."""
    require_positive_finite(f"fill of {fill.client_order_id}", quantity=fill.quantity, price=fill.price)
    raise ValueError(f"fill of {fill.client_order_id}: fee must be a finite number, got {fill.fee!r}")
