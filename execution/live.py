"""`LiveExecution`: one bot's real orders on one symbol of an `ExchangeAccount`.

The runner commits an order's intent (with its deterministic client order id) before
`execute_signal`: the id is the order's identity on the exchange too, sent at most once. Sizes are
rounded to the market's step (down) and tick first; an order under the market's minimum amount
or notional is dropped with a WARNING and never sent (see `execution.order_request`).

What happens to an order, by the answer to its submission:

- **accepted**: the fills in the reply (Binance's FULL reply lists them) are returned at once;
  a resting order is polled at each `on_candle` (fetch_order, then fetch_my_trades for its new
  trades) until it is filled, cancelled or expired. Fills are deduplicated by trade id, so a
  partial fill is reported once and the order stays open for the rest (see
  `execution.tracked_order` and `execution.unreported_fills`).
- **refused** (`OrderRejected`, `InsufficientFunds`, `InvalidOrder`, or `RateLimited`, which
  Binance sends before matching): nothing was placed; dropped with a WARNING, [] returned.
- **unknown outcome** (`UnknownOrderOutcome`: a timeout, a dropped connection, a 5xx after
  sending): never resent. The order stays in `open_orders()` as pending, so the runner makes
  no new decision for the symbol, and it is looked up by client order id at once and then at
  each `on_candle`, before anything else. Found: tracked like any order, fills picked up.
  `OrderNotFound`: it is dropped with a WARNING as "never reached the exchange" only after at
  least two not-found answers, the last one given when the exchange's clock read past the
  first post-failure reading plus a grace (by default ccxt's `recvWindow` + 1 s: a request
  signed before the failure is refused by Binance once its recvWindow has passed, so none
  can still land).
- **fatal** (`FatalExchangeError`, e.g. bad credentials): raised, so the bot stops; the order
  is kept as unknown (it may exist) for reconciliation.

Protective exits (`stop_loss_pct`, `take_profit_pct`, `trailing_stop_pct` or
`trailing_stop_distance`) are bot-managed, not exchange orders: armed when an entry is done,
a trailing stop's level trailing the highs of closed candles, a market exit sent when a candle
reaches one (`execution.protective`); listed in `open_orders()`, dropped by `cancel_all`. That
exit's intent is journalled (`journal_intent`) before it is sent, as the runner journals its
own orders: a restart follows it by its client order id, never sends it again. While it is out,
its entry's exits are held (`execution.live_exits_in_flight`); one that provably never reached
the exchange (as above: not found twice past the grace), or that a rate limit refused, gets
them armed again under new ids, so the next candle that reaches one sends a new exit: never
the same order twice, and never a position left unprotected. One that reached it and ended
with a rest (a MARKET order Binance expired: a book it emptied, self-trade prevention) has
what it sold booked and them armed again, under new ids, for the rest. So does one the exchange
refused, for what the account holds (what it lacks booked as an outside change); after three
refusals in a row the bot stops (`execution.live_exit_refusals`).

A fill's `quantity` is what traded; a fee the exchange takes in the base asset (Binance takes a
buy's fee from the coin received) is its `base_fee`, which the portfolio takes off the position,
so the bot books what the account holds. Exits are sized by `closable_quantity`: rounded down
to the market's step, and nothing when under its minimum (the rest is dust the bot cannot sell).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from loguru import logger

from execution.errors import (
    ExchangeError, FatalExchangeError, OrderNotFound, OrderRejected, RateLimited, TemporaryExchangeError,
    UnknownOrderOutcome,
)
from execution.exchange import ExchangeAccount
from execution.models import Fill, Order
from execution.live_cancel import LiveCancels
from execution.live_exit_refusals import LiveExitRefusals
from execution.live_exits_in_flight import ExitsInFlight, LiveExitsInFlight
from execution.live_restart import LiveRestart
from execution.order_ids import managed_exit_entry, protected_entry
from execution.order_request import order_call
from execution.periodic_reconcile import PeriodicReconciliation
from execution.protective import ProtectiveExits
from execution.quotes import account_spread_bps
from execution.reconcile import fill_from_ccxt, reconcile
from execution.tracked_order import OrderState, TrackedOrder
from execution.unreported_fills import UnreportedFills
from market.clock import SYSTEM_CLOCK, Clock
from market.models import Candle, timeframe_ms

__all__ = ["JournalIntent", "LiveExecution"]

JournalIntent = Callable[[Order], Awaitable[None]]
"""Journals an order's intent and returns once it is durable (the runner's own discipline)."""

_OPEN, _UNKNOWN = OrderState.OPEN, OrderState.UNKNOWN
_NOT_FOUND_ANSWERS = 2          # "not found" answers before an unknown order counts as never placed
_NO_FILLS: tuple[Fill, ...] = ()
_RECONCILE_LOOKBACK_MS = 86_400_000


class LiveExecution(LiveRestart, LiveCancels, LiveExitsInFlight, LiveExitRefusals):
    """Real orders for one bot (client order ids starting with `order_id_prefix`) on `symbol`.

    Implements the `ExecutionEngine` surface; see the module docstring for the rules. Its
    restart (`execution.live_restart`), its cancels (`execution.live_cancel`), what an exit's
    outcome does to the exits held for it (`execution.live_exits_in_flight`) and what a refusal
    of one does (`execution.live_exit_refusals`) are mixins. `bot_id` names the bot in warnings.
    `journal_intent` makes the intent of an order the engine makes itself (an exit, a stop
    resting on the exchange) durable before it is sent (None: not journalled, for a test of the
    engine alone).
    `clock` stamps fills whose exchange time is missing. `unknown_grace_secs` overrides the
    exchange-time grace before an unknown order that is not found counts as never placed.
    Every `reconcile_every_candles` candles of `timeframe` (by default an hour's worth, at least
    one; 0: never) it reconciles in the background (see `_reconcile`).
    """

    def __init__(self, account: ExchangeAccount, symbol: str, *, order_id_prefix: str,
                 clock: Clock = SYSTEM_CLOCK, unknown_grace_secs: float | None = None,
                 reconcile_every_candles: int | None = None, timeframe: str = "1m",
                 journal_intent: JournalIntent | None = None, bot_id: str = "") -> None:
        if not order_id_prefix:
            raise ValueError("LiveExecution needs an order_id_prefix: it tells this bot's orders from others'")
        self.symbol = symbol
        self._account = account
        self._prefix = order_id_prefix
        self._clock = clock
        self._journal_intent = journal_intent
        if unknown_grace_secs is None:
            recv_window_ms = account.client.options.get("recvWindow") or 10_000
            self._grace_ms = int(recv_window_ms) + 1_000
        else:
            self._grace_ms = int(unknown_grace_secs * 1000)
        self._orders: dict[str, TrackedOrder] = {}
        self._exits = ProtectiveExits(symbol)
        self._in_flight = ExitsInFlight()         # exits held while their entry's market exit is out
        self._missed_while_out: dict[str, list[Sequence[Candle]]] = {}    # exit out -> candles its held exits missed
        self._exit_refusals: dict[str, int] = {}  # entry id -> refusals in a row of its exits
        self._refused_for_good: ExchangeError | None = None     # raised at the next on_candle: the bot stops
        self._bot_name = bot_id or order_id_prefix
        self._sent: set[str] = set()
        self._fills = UnreportedFills()
        self._last_price: float | None = None
        self._bar_ms = timeframe_ms(timeframe)
        self._reconciliation = PeriodicReconciliation(self._reconcile, timeframe=timeframe, clock=clock,
                                                      every_candles=reconcile_every_candles,
                                                      name=f"reconcile:{order_id_prefix}")

    # -- the ExecutionEngine surface ---------------------------------------------------------

    async def execute_signal(self, order: Order) -> list[Fill]:
        """Send `order` once; return the fills known now (and any found since the last call).

        Raises `FatalExchangeError` (the bot must stop) and ValueError for an order of another
        symbol or without this bot's prefix; every other exchange error is handled here.
        """
        if order.symbol != self.symbol:
            raise ValueError(f"order {order.client_order_id} is for {order.symbol}; this engine trades {self.symbol}")
        if not order.client_order_id.startswith(self._prefix):
            raise ValueError(f"order {order.client_order_id} lacks this bot's prefix {self._prefix!r}")
        await self._submit(order)
        return self._fills.drain()

    def on_candle_now(self, candle: Candle) -> Sequence[Fill] | None:
        """`on_candle` of a bot that follows nothing (no order, exit or unreported fill): no
        request to make, so nothing to await, on most candles of most bots; None otherwise."""
        if self._orders or self._exits or self._fills:
            return None                      # the exchange is asked: `on_candle` is awaited
        self._last_price = candle.close
        self._reconciliation.on_candle(candle)       # in the background: see `execution.periodic_reconcile`
        return _NO_FILLS

    async def on_candle(self, candle: Candle) -> Sequence[Fill]:
        """Resolve unknown outcomes first, then poll open orders, then check protective exits
        against `candle`; return the new fills in exchange time order."""
        self._raise_if_refused_for_good()
        if not self._orders and not self._exits and not self._fills:
            return self.on_candle_now(candle)
        self._last_price = candle.close
        self._reconciliation.on_candle(candle)       # in the background: see `execution.periodic_reconcile`
        if not await self._markets_ready():
            return self._fills.drain()
        armed = self._exits.orders()       # only exits that existed before this candle
        held = {o.client_order_id for o in self._in_flight.orders()}
        looked_up = set()
        for tracked in [t for t in self._orders.values() if t.state is _UNKNOWN]:
            looked_up.add(tracked.order.client_order_id)
            await self._resolve(tracked)
        for tracked in [t for t in self._orders.values() if t.state is _OPEN]:
            if tracked.order.client_order_id not in looked_up:
                await self._poll(tracked)
        if self._missed_while_out:                   # held exits armed again go through the candles missed while down
            await self._catch_up_rearmed()
        # Held exits armed again by now (their exit never reached the exchange, or sold only a
        # part) were armed before this candle: it is checked against them, not only the next one.
        armed.extend(o for o in self._exits.orders() if o.client_order_id in held)
        for order in self._exits.take_reached(candle, among=armed):
            logger.info("Order {}: {} reached by the candle of {} (low {}, high {}); sending a market exit",
                        order.oco_group, order.reason, candle.ts_ms, candle.low, candle.high)
            await self._send_exit(order, armed, candle)
        fills = self._fills.drain()
        if not fills:                                # else they are booked first, and it stops at the next candle
            self._raise_if_refused_for_good()
        return fills

    @property
    def reconciling(self) -> bool:
        """A periodic reconciliation is under way in the background."""
        return self._reconciliation.running

    async def _reconcile(self) -> None:
        """Every `reconcile_every_candles`, half a candle after the close: trades of this bot's
        orders it has not reported, and open orders with its prefix it does not track (say,
        left by an earlier run), are adopted; the runner books the fills like any others. A
        failure waits for the next turn."""
        if any(t.state is _UNKNOWN for t in self._orders.values()):
            return                    # the outcome comes first; reconcile on a later candle
        try:
            report = await reconcile(self._account, self.symbol, prefix=self._prefix,
                                     known_open_orders=self.open_orders(), journal_fill_ids=self._fills.reported_ids,
                                     since_ms=self._clock.now_ms() - _RECONCILE_LOOKBACK_MS)
        except ExchangeError as exc:
            # Nothing is lost by skipping a turn; a fatal error (keys revoked) stops the bot at
            # its next order or lookup, where it is raised.
            logger.warning("Periodic reconciliation of {} failed ({}); trying again later", self.symbol, exc)
            return
        for order in report.unknown_open_orders:
            self._sent.add(order.client_order_id)
            self._orders.setdefault(order.client_order_id, TrackedOrder(order, _UNKNOWN))   # looked up next
        for fill in report.missing_fills:
            self._fills.add(fill)

    async def spread_bps(self) -> float | None:
        return await account_spread_bps(self._account, self.symbol)

    def closable_quantity(self, quantity: float, price: float) -> float:
        """`quantity` rounded down to the market's step; 0.0 when that is under the market's
        minimum amount or notional at `price` (dust: no order can sell it)."""
        account = self._account
        amount = account.round_amount(self.symbol, quantity)
        if account.check_order(self.symbol, amount, price or self._last_price) is not None:
            return 0.0
        return amount

    def open_orders(self) -> list[Order]:
        """Orders not done: open on the exchange, or of unknown outcome (pending either way), then
        the bot-managed protective exits (with `oco_group`): armed, then held while their
        entry's market exit is out (a snapshot keeps them; see `execution.live_exits_in_flight`)."""
        return [t.order for t in self._orders.values()] + self._exits.orders() + self._in_flight.orders()

    async def aclose(self) -> None:
        """The account (shared) is closed by its owner; orders stay as they are on the exchange."""
        await self._reconciliation.aclose()
        if self._orders:
            logger.info("Leaving {} order(s) of {} on the exchange: {}", len(self._orders), self.symbol,
                        ", ".join(self._orders))

    # -- sending -----------------------------------------------------------------------------

    async def _submit(self, order: Order) -> None:
        cid = order.client_order_id
        if cid in self._sent:
            logger.warning("Order {} was sent before; not sending it again", cid)
            if cid not in self._orders:       # not followed: its exits are held for nothing
                self._unprotected_by(cid)
            return
        await self._account.load_markets()
        prepared = order_call(self._account, self.symbol, order, last_price=self._last_price)
        if isinstance(prepared, str):
            logger.warning("Order {} {} {} dropped, not sent: {}", cid, order.side.value, self.symbol, prepared)
            self._unprotected_by(cid)
            return
        fn, args, size = prepared
        if self._journal_intent is not None and protected_entry(cid) is not None:
            await self._journal_intent(order)     # an order of the engine's own: durable before it leaves
        self._sent.add(cid)
        started = time.perf_counter()
        try:
            raw = await self._account.call("create_order", self.symbol, fn, *args, order_submission=True)
        except UnknownOrderOutcome as exc:
            await self._after_unknown_outcome(order, exc)
            return
        except RateLimited as exc:
            logger.warning("Order {} dropped, not placed (rate limited before matching): {}", cid, exc)
            self._rearm_exits_of(cid, "a rate limit refused it before matching")
            return
        except OrderRejected as exc:
            logger.warning("Order {} dropped, the exchange refused it: {}", cid, exc)
            if managed_exit_entry(cid) is not None:
                await self._exit_refused(order, exc)     # its entry's exits armed again (or it stops)
            return
        except FatalExchangeError:
            self._orders[cid] = TrackedOrder(order, _UNKNOWN)     # it may exist: reconcile before trading again
            raise
        except ExchangeError as exc:                          # none expected; the cautious reading
            await self._after_unknown_outcome(order, exc)
            return
        except BaseException:
            # Cancelled (shutdown) while the request was out: it may have reached the exchange.
            self._orders[cid] = TrackedOrder(order, _UNKNOWN)
            raise
        tracked = TrackedOrder(order, _OPEN)      # an exit's held exits wait for its end (`_done`)
        self._orders[cid] = tracked
        if self._exit_refusals:
            self._exit_accepted(cid)
        await self._absorb_or_retry_later(tracked, raw)
        logger.info("Order {} {} {} {} {} -> {} (filled {}) in {:.0f}ms", cid, order.side.value, size, self.symbol,
                    order.type.value, raw.get("status"), raw.get("filled"), (time.perf_counter() - started) * 1000)

    async def _markets_ready(self) -> bool:
        try:
            await self._account.load_markets()
        except TemporaryExchangeError as exc:
            logger.warning("Cannot load the markets of {} ({}); orders are looked at again at the next candle",
                           self._account.name, exc)
            return False
        return True

    async def _after_unknown_outcome(self, order: Order, exc: ExchangeError) -> None:
        logger.warning("Order {}: outcome unknown ({}); looking it up by client order id, never resending it",
                       order.client_order_id, exc)
        tracked = TrackedOrder(order, _UNKNOWN)
        self._orders[order.client_order_id] = tracked
        await self._resolve(tracked)

    # -- following orders --------------------------------------------------------------------

    async def _resolve(self, tracked: TrackedOrder) -> None:
        """One lookup of an order of unknown outcome by its client order id."""
        cid, client = tracked.order.client_order_id, self._account.client
        try:
            exchange_now_ms = await self._account.exchange_time_ms()
            if tracked.settle_after_ms is None:
                tracked.settle_after_ms = exchange_now_ms + self._grace_ms
            raw = await self._account.call("fetch_order", self.symbol, client.fetch_order, None, self.symbol,
                                           {"origClientOrderId": cid})
        except OrderNotFound:
            tracked.not_found += 1
            if tracked.not_found >= _NOT_FOUND_ANSWERS and exchange_now_ms >= tracked.settle_after_ms:
                del self._orders[cid]
                logger.warning("Order {} never reached the exchange (not found {} times, the last at exchange time "
                               "{}); dropped it, and it is not resent", cid, tracked.not_found, exchange_now_ms)
                if managed_exit_entry(cid) is not None:   # its entry's exits were held when it was sent
                    self._rearm_exits_of(cid, "it never reached the exchange")
            else:
                logger.info("Order {} not found yet ({} time(s)); looking again at the next candle", cid,
                            tracked.not_found)
            return
        except TemporaryExchangeError as exc:
            # Unknown still (the exchange may be down): held exits stay held, nothing is sent.
            logger.warning("Order {}: lookup by client order id failed ({}); trying again at the next candle",
                           cid, exc)
            return
        logger.info("Order {} found on the exchange after an unknown outcome: {} (filled {})", cid,
                    raw.get("status"), raw.get("filled"))
        tracked.state = _OPEN             # an exit's held exits wait for its end (`_done`)
        await self._absorb_or_retry_later(tracked, raw)

    async def _poll(self, tracked: TrackedOrder) -> None:
        cid, client = tracked.order.client_order_id, self._account.client
        try:
            raw = await self._account.call("fetch_order", self.symbol, client.fetch_order, tracked.exchange_id,
                                           self.symbol)
            await self._absorb(tracked, raw)
        except OrderNotFound:
            logger.warning("Order {} (exchange id {}) is not found by id; looking it up by client order id",
                           cid, tracked.exchange_id)
            tracked.state, tracked.exchange_id = _UNKNOWN, None
        except TemporaryExchangeError as exc:
            logger.warning("Polling order {} failed ({}); trying again at the next candle", cid, exc)

    async def _absorb_or_retry_later(self, tracked: TrackedOrder, raw: dict[str, Any]) -> None:
        try:
            await self._absorb(tracked, raw)
        except TemporaryExchangeError as exc:
            # The order is known (and tracked as open); its trades are fetched at the next poll.
            logger.warning("Order {}: fetching its trades failed ({}); trying again at the next candle",
                           tracked.order.client_order_id, exc)

    async def _absorb(self, tracked: TrackedOrder, raw: dict[str, Any]) -> None:
        """Take the exchange's view of `tracked`: its new fills, and whether it is done."""
        tracked.exchange_id = str(raw["id"])
        self._account.remember_order(tracked.exchange_id, tracked.order.client_order_id)
        filled = float(raw.get("filled") or 0.0)
        fallback_ts = int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or self._clock.now_ms())
        if raw.get("trades"):
            await self._book_trades(tracked, raw["trades"], fallback_ts)
        if tracked.lacks_trades(filled):
            trades = await self._account.call("fetch_my_trades", self.symbol, self._account.client.fetch_my_trades,
                                              self.symbol, None, None, {"orderId": tracked.exchange_id})
            await self._book_trades(tracked, trades, fallback_ts)
        status = raw.get("status")
        if tracked.is_done(status, filled):       # else polled again: the trade list can lag the order
            self._done(tracked, status, raw)

    async def _book_trades(self, tracked: TrackedOrder, trades: list[dict[str, Any]], fallback_ts: int) -> None:
        order = tracked.order
        for trade in trades:
            fill = await fill_from_ccxt(self._account, self.symbol, {"order": tracked.exchange_id, **trade},
                                        order.client_order_id, order.side, order.reason, fallback_ts_ms=fallback_ts)
            if tracked.count(fill):
                self._fills.add(fill)       # one booked before a restart is counted, not reported again

    def _done(self, tracked: TrackedOrder, status: str, raw: dict[str, Any]) -> None:
        order = tracked.order
        del self._orders[order.client_order_id]
        if status != "closed":
            logger.info("Order {} {} with {} filled", order.client_order_id, status, tracked.filled_qty)
        if managed_exit_entry(order.client_order_id) is not None:
            self._exit_done(tracked, status)      # its entry's held exits: gone, or armed for its rest
            return
        self._exits.arm(order, filled_qty=tracked.filled_qty, notional=tracked.notional, base_fees=tracked.base_fees,
                        ts_ms=int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0))
