"""Paper trading: the exchange's live prices, simulated fills, no orders sent, no API keys.

The fill rules are sim's (`execution.sim`), applied to a different price:

- A market order fills when it is placed, at the live best ask (buys) or bid (sells), moved
  against the trader by `slippage_bps`; sim fills it at the next candle's open instead.
- A limit or stop order that the live quote already crosses fills at once, as sim would fill it
  at a candle opening at the quote: a limit at the quote (never worse than its price), a stop at
  the quote plus slippage. Otherwise it rests, and each closed candle fills it by sim's range
  rule (`on_candle`): at its price, or at the open when the candle gaps through it.
- Entries with `stop_loss_pct` / `take_profit_pct` rest a stop and a take-profit limit, one
  cancelling the other, priced off the paper fill; the stop wins a candle that reaches both. A
  trailing stop (`trailing_stop_pct` / `trailing_stop_distance`) rests with them, starting off
  the paper fill, and trails closed candles by sim's rule (checked, then raised by the high).
  Market and limit entries alike: a limit filled at a quote has them from then on, one a
  candle filled at its price from the next candle (sim's rule, `execution.sim`).
- The fee is `fee_rate` times the notional, in quote currency. Every fill is the whole order,
  with `fill_id` = its client order id.

When the quote cannot be read (network trouble, a timeout, a rate limit), a market order stays
pending: `open_orders()` shows it, so the runner makes no new decision, and the next `on_candle`
tries again and fills it once, at the quote of that moment. Errors that retrying cannot fix
(`FatalExchangeError`: an unknown symbol, say) propagate and stop the bot.

After a restart, the candles that closed while the bot was down stand in for the quotes it
missed (`quote_missed_candle`, `runner.bot.limits_while_down`): at each one's close its close
price is the quote, both sides (a candle has no book), so a pending market order fills at the
first such candle after it was placed, where `on_candle` would have tried again, and a market
order the runner decides at that close (a session's flatten) fills at once, at that price.

Sim and paper share the code, not a copy of it: a `SimExecution` holds the resting orders, and
an order filled at a quote goes through a throwaway `SimExecution` that sees the quote as a
candle with a single price. A change to sim's rules is a change to paper's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Callable, Collection, Iterable, Mapping, Sequence

from loguru import logger

from execution.ccxt_errors import ccxt_errors
from execution.errors import TemporaryExchangeError
from execution.models import Fill, Order, OrderType, Side
from execution.quotes import QuoteSource, spread_in_bps
from execution.sim import SimExecution
from market.models import Candle, iso_utc


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PaperExecution:
    """The `ExecutionEngine` of a paper bot on `symbol`; see the module docstring for the rules.

    `quotes` is borrowed, not closed by `aclose()`. `now_ms` stamps fills made at a quote (pass
    the runner clock's `now_ms`); `quote_timeout_secs` bounds one quote read.

        paper = PaperExecution(CcxtQuotes(exchange), "BTC/USDT", fee_rate=0.001, slippage_bps=5)
        fills = await paper.execute_signal(order)     # [] while the exchange cannot be read

    `execute_signal` raises ValueError for an order on another symbol or with the id of an order
    still open, and `FatalExchangeError` (`execution.errors`) when the quote source fails in a
    way a retry cannot fix.
    """

    def __init__(self, quotes: QuoteSource, symbol: str, *, fee_rate: float = 0.001, slippage_bps: float = 0.0,
                 quote_timeout_secs: float = 10.0, now_ms: Callable[[], int] = _wall_clock_ms) -> None:
        self.symbol = symbol
        self._quotes = quotes
        self._fee_rate = fee_rate
        self._slippage_bps = slippage_bps
        self._quote_timeout_secs = quote_timeout_secs
        self._now_ms = now_ms
        self._book = SimExecution(fee_rate=fee_rate, slippage_bps=slippage_bps)   # resting orders
        self._unfilled: list[Order] = []     # market orders still waiting for a quote, oldest first
        self._missed: tuple[float, int] | None = None    # (close, close time) of the missed candle quoted

    async def execute_signal(self, order: Order) -> list[Fill]:
        if order.symbol != self.symbol:
            raise ValueError(f"paper execution for {self.symbol} got order {order.client_order_id} "
                             f"on {order.symbol}; each bot trades one symbol")
        if any(o.client_order_id == order.client_order_id for o in self.open_orders()):
            raise ValueError(f"order {order.client_order_id} is already open; an intent is placed once")
        quote = await self._quote(f"order {order.client_order_id}")
        if quote is None:
            if order.type is OrderType.MARKET:
                logger.warning("Paper order {} stays pending; it fills at the next candle's quote",
                               order.client_order_id)
                self._unfilled.append(order)
            else:
                self._rest([order])          # the candles will check it
            return []
        return self._fill_at(quote, order)

    def on_candle_now(self, candle: Candle) -> None:
        return None                          # pending market orders wait for a quote: `on_candle` is awaited

    async def on_candle(self, candle: Candle) -> Sequence[Fill]:
        """Fill resting orders the candle reached, then pending market orders at the live quote
        (their protective orders rest from now on: the candle was over before they filled)."""
        fills = await self._book.on_candle(candle)
        if fills:
            fills = [_with_fill_id(f) for f in fills]
            for fill in fills:
                _log_fill(fill, f"the candle of {iso_utc(candle.ts_ms)} reached it")
        if not self._unfilled:
            return fills
        quote = await self._quote(f"{len(self._unfilled)} pending order(s)")
        if quote is None:
            return fills
        # Taken after the await: an order cancelled while the quote was in flight stays cancelled.
        pending, self._unfilled = self._unfilled, []
        retried = [fill for order in pending for fill in self._fill_at(quote, order)]
        return [*fills, *retried]

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        cancelled, self._unfilled = self._unfilled, []
        resting, fills = await self._book.cancel_all()
        return cancelled + resting, fills

    async def cancel(self, order_ids: Collection[str]) -> tuple[list[Order], list[Fill]]:
        unfilled = [o for o in self._unfilled if o.client_order_id in order_ids]
        self._unfilled = [o for o in self._unfilled if o.client_order_id not in order_ids]
        resting, fills = await self._book.cancel(order_ids)
        return unfilled + resting, fills

    def closable_quantity(self, quantity: float, price: float) -> float:
        return quantity

    async def spread_bps(self) -> float | None:
        quote = await self._quote("the spread")
        return None if quote is None else spread_in_bps(*quote)

    def open_orders(self) -> list[Order]:
        return self._unfilled + self._book.open_orders()

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        # An order fills once here, under its own id (`_with_fill_id`): one whose fill is booked is
        # done, and followed again it would fill a second time at today's quote (a restart whose
        # snapshot predates the fill; the journal refused the second fill and the bot stopped),
        # or, a limit order the snapshot held resting, at the next candle that reaches it.
        done = set(fill_ids)
        self._unfilled = [o for o in self._unfilled if o.client_order_id not in done]
        known = {o.client_order_id for o in self.open_orders()}.union(done)
        fresh = [o for o in orders if o.client_order_id not in known]
        self._unfilled.extend(o for o in fresh if o.type is OrderType.MARKET)
        self._book.restore_orders([o for o in fresh if o.type is not OrderType.MARKET], fill_ids=done)

    async def catch_up_exits(self, candles: Sequence[Candle], *, why: str = "past the snapshot",
                             from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """Sim's `catch_up_exits` on the resting orders: the protective exits fill, at the candle
        that reached them, what sim's rule fills, and the trailing stops trail the rest."""
        fills = [_with_fill_id(f) for f in await self._book.catch_up_exits(candles, from_ms=from_ms)]
        for fill in fills:
            _log_fill(fill, f"a candle {why} reached it")
        return fills

    async def catch_up_resting(self, candle: Candle, *, from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """`on_candle`'s fills of the resting orders (limit orders and protective exits) for
        `candle`, a candle that closed while the bot was down: sim's `catch_up_resting` on the
        book, so what it reached fills at its price and time, as it would have live, and no
        quote is read. The runner calls this candle by candle, expiring what is due at each
        close (`runner.bot.limits_while_down`)."""
        fills = [_with_fill_id(f) for f in await self._book.catch_up_resting(candle, from_ms=from_ms)]
        for fill in fills:
            _log_fill(fill, f"the candle of {iso_utc(candle.ts_ms)}, while the bot was down, reached it")
        if self._unfilled and self._missed is not None:
            # `on_candle` would have tried them again at this candle's close: those placed by then.
            due = [o for o in self._unfilled if o.created_ts_ms <= candle.ts_ms]
            if due:
                self._unfilled = [o for o in self._unfilled if o.created_ts_ms > candle.ts_ms]
                fills += [fill for order in due for fill in self._fill_at((candle.close, candle.close), order)]
        return fills

    def quote_missed_candle(self, candle: Candle | None, close_ms: int = 0) -> None:
        """Take `candle`, one that closed at `close_ms` while the bot was down, as the quote and
        the time until the next call; None: back to live quotes. The runner calls this before
        `catch_up_resting` on each missed candle (`runner.bot.limits_while_down`), and None once
        they are done: with a candle quoted, `catch_up_resting` also fills the pending market
        orders placed before it opened, and `execute_signal` fills a market order at once, both
        at the candle's close (moved by `slippage_bps`) and time, reading no live quote."""
        self._missed = None if candle is None else (candle.close, close_ms)

    async def aclose(self) -> None:
        self._unfilled.clear()
        await self._book.aclose()

    # -- internals -----------------------------------------------------------------------------

    async def _quote(self, what: str) -> tuple[float, float] | None:
        """(bid, ask) now, or None when the read failed in a way that may pass."""
        if self._missed is not None:
            return self._missed[0], self._missed[0]
        started = time.perf_counter()
        try:
            with ccxt_errors("best_bid_ask", self.symbol):
                async with asyncio.timeout(self._quote_timeout_secs):
                    bid, ask = await self._quotes.best_bid_ask(self.symbol)
        except TemporaryExchangeError as exc:
            logger.warning("No quote for {} ({}): {}", what, self.symbol, exc)
            return None
        logger.debug("Quote {} bid {} ask {} in {:.0f}ms", self.symbol, bid, ask,
                     (time.perf_counter() - started) * 1000)
        return bid, ask

    def _fill_at(self, quote: tuple[float, float], order: Order) -> list[Fill]:
        """Fill `order` as sim would at a candle that opens, and stays, at the quote's side for
        it; whatever that does not fill (a limit not crossed, protective exits) rests."""
        bid, ask = quote
        price = ask if order.side is Side.BUY else bid
        at_quote = SimExecution(fee_rate=self._fee_rate, slippage_bps=self._slippage_bps)
        at_quote.restore_orders([order])
        now_ms = self._now_ms() if self._missed is None else self._missed[1]
        single_price = Candle(now_ms, price, price, price, price, 0.0)
        fills = [_with_fill_id(f) for f in at_quote.fill_pending(single_price)]
        self._rest(at_quote.open_orders())
        why = f"bid {bid} ask {ask}" if self._missed is None else "the close of a candle missed while the bot was down"
        for fill in fills:
            _log_fill(fill, why)
        return fills

    def _rest(self, orders: list[Order]) -> None:
        if orders:
            self._book.restore_orders(self._book.open_orders() + orders)


def _log_fill(fill: Fill, why: str) -> None:
    logger.info("Paper order {} {} {:.8g} @ {:.8g} ({}) -> filled: {}", fill.client_order_id, fill.side.value,
                fill.quantity, fill.price, fill.reason or "-", why)


def _with_fill_id(fill: Fill) -> Fill:
    # One fill per order, so the order's id identifies the fill, as a trade id would.
    return dataclasses.replace(fill, fill_id=fill.client_order_id)
