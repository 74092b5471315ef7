"""`LiveExecution`: one bot's real orders on one symbol of an `ExchangeAccount`.

The runner journals and commits an order's intent (with its deterministic client order id)
before `execute_signal`, so the id is the order's identity on the exchange too: every order goes
out with `clientOrderId`, is looked up by it, and is sent at most once per engine. Sizes are
rounded to the market's step (down) and tick first; an order under the market's minimum amount
or notional is dropped with a WARNING and never sent.

What happens to an order, by the answer to its submission:

- **accepted**: the fills in the reply (Binance's FULL reply lists them) are returned at once;
  a resting order is polled at each `on_candle` (fetch_order, then fetch_my_trades for its new
  trades) until it is filled, cancelled or expired. Fills are deduplicated by trade id, so a
  partial fill is reported once and the order stays open for the rest.
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

Protective exits (`stop_loss_pct`, `take_profit_pct`) are bot-managed, not exchange orders: when
an entry is done (filled, or closed with some fills), the engine keeps a STOP order at
`avg_price * (1 - stop_loss_pct)` and a LIMIT order at `avg_price * (1 + take_profit_pct)` (mirrored
for a sell entry), with `oco_group` = the entry's id, in `open_orders()` (so snapshots keep them
and the runner does not count them as pending). At each `on_candle`, a candle whose low reaches
the stop (or whose high reaches the target) makes the engine send a market exit with the
deterministic id `<entry id>-sl` (or `-tp`) through the same path as any order; the stop is
checked first, as in sim. They react to closed candles only, so an exit fills at the market
after the candle, which may be well past the stop in a fast move. `cancel_all` drops them.
The exit quantity is what the entry filled minus fees charged in the base asset (what the
account received).

A fill's `quantity` is what traded; a fee the exchange takes in the base asset (Binance takes a
buy's fee from the coin received) is its `base_fee`, which the portfolio takes off the position,
so the bot books what the account holds. Exits are sized by `closable_quantity`: rounded down
to the market's step, and nothing when under its minimum (the rest is dust the bot cannot sell).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from loguru import logger

from execution.errors import (
    ExchangeError, FatalExchangeError, OrderNotFound, OrderRejected, RateLimited, TemporaryExchangeError,
    UnknownOrderOutcome,
)
from execution.exchange import ExchangeAccount
from execution.models import Fill, Order, OrderType, Side
from execution.order_ids import protective_id, protective_kind
from execution.reconcile import fill_from_ccxt, order_from_ccxt, reconcile
from market.clock import SYSTEM_CLOCK, Clock
from market.models import Candle, timeframe_ms

__all__ = ["LiveExecution"]

class _OrderState(Enum):
    OPEN = "open"           # the exchange has it; `exchange_id` known
    UNKNOWN = "unknown"     # its outcome is not known: looked up by client order id


_OPEN, _UNKNOWN = _OrderState.OPEN, _OrderState.UNKNOWN
_DONE_STATUSES = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})
_NOT_FOUND_ANSWERS = 2          # "not found" answers before an unknown order counts as never placed
_NO_FILLS: tuple[Fill, ...] = ()


@dataclass(slots=True, eq=False)
class _Tracked:
    """An order the engine follows until it is done. `state` is _OPEN (the exchange has it,
    `exchange_id` known) or _UNKNOWN (to be looked up by client order id)."""

    order: Order
    state: _OrderState
    exchange_id: str | None = None
    filled_qty: float = 0.0          # from the trades seen so far (`fill_ids`)
    notional: float = 0.0
    base_fees: float = 0.0
    not_found: int = 0
    settle_after_ms: int | None = None   # exchange time past which "not found" is final
    fill_ids: set[str] = field(default_factory=set)


_RECONCILE_LOOKBACK_MS = 86_400_000
_RECONCILE_EVERY_MS = 3_600_000


class LiveExecution:
    """Real orders for one bot (client order ids starting with `order_id_prefix`) on `symbol`.

    Implements the `ExecutionEngine` surface; see the module docstring for the rules.
    `clock` stamps fills whose exchange time is missing. `unknown_grace_secs` overrides the
    exchange-time grace before an unknown order that is not found counts as never placed.
    Every `reconcile_every_candles` candles of `timeframe` (by default an hour's worth, at least
    one; 0: never) it reconciles in the background (see `_reconcile`).
    """

    def __init__(self, account: ExchangeAccount, symbol: str, *, order_id_prefix: str,
                 clock: Clock = SYSTEM_CLOCK, unknown_grace_secs: float | None = None,
                 reconcile_every_candles: int | None = None, timeframe: str = "1m") -> None:
        if not order_id_prefix:
            raise ValueError("LiveExecution needs an order_id_prefix: it tells this bot's orders from others'")
        self.symbol = symbol
        self._account = account
        self._prefix = order_id_prefix
        self._clock = clock
        if unknown_grace_secs is None:
            recv_window_ms = account.client.options.get("recvWindow") or 10_000
            self._grace_ms = int(recv_window_ms) + 1_000
        else:
            self._grace_ms = int(unknown_grace_secs * 1000)
        self._orders: dict[str, _Tracked] = {}
        self._protective: list[Order] = []
        self._sent: set[str] = set()
        # Every trade id reported (or booked before a restart): about 100 bytes per fill.
        self._seen_fill_ids: set[str] = set()
        self._unreported: list[Fill] = []
        self._last_price: float | None = None
        self._bar_ms = timeframe_ms(timeframe)
        self._reconcile_every = (max(1, _RECONCILE_EVERY_MS // self._bar_ms) if reconcile_every_candles is None
                                 else reconcile_every_candles)
        self._reconciling: asyncio.Task[None] | None = None

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
        return self._drain()

    async def on_candle(self, candle: Candle) -> Sequence[Fill]:
        """Resolve unknown outcomes first, then poll open orders, then check protective exits
        against `candle`; return the new fills in exchange time order."""
        self._last_price = candle.close
        # Every bot on the symbol's timeframe turns on the same candles (counted from the epoch),
        # so the bots of one account reconcile together and share one set of requests (see
        # `execution.reconcile`). In the background, and half a candle later: its replies
        # (a trade list can take tens of ms to parse) must not land among this candle's orders.
        # What it finds is handed over by a later call.
        if self._reconcile_every and (candle.ts_ms // self._bar_ms) % self._reconcile_every == 0:
            if self._reconciling is None or self._reconciling.done():
                self._reconciling = asyncio.create_task(self._reconcile(), name=f"reconcile:{self._prefix}")
        if not self._orders and not self._protective and not self._unreported:
            return _NO_FILLS
        if not await self._markets_ready():
            return self._drain()
        protective = list(self._protective)       # only exits that existed before this candle
        looked_up = set()
        for tracked in [t for t in self._orders.values() if t.state is _UNKNOWN]:
            looked_up.add(tracked.order.client_order_id)
            await self._resolve(tracked)
        for tracked in [t for t in self._orders.values() if t.state is _OPEN]:
            if tracked.order.client_order_id not in looked_up:
                await self._poll(tracked)
        if protective:
            await self._check_protection(candle, protective)
        return self._drain()

    @property
    def reconciling(self) -> bool:
        """A periodic reconciliation is under way in the background."""
        return self._reconciling is not None and not self._reconciling.done()

    async def _reconcile(self) -> None:
        """Every `reconcile_every_candles`, half a candle after the close: trades of this bot's
        orders it has not reported, and open orders with its prefix it does not track (say,
        left by an earlier run), are adopted; the runner books the fills like any others. A
        failure waits for the next turn."""
        await self._clock.sleep(self._bar_ms / 2000)
        if any(t.state is _UNKNOWN for t in self._orders.values()):
            return                    # the outcome comes first; reconcile on a later candle
        try:
            report = await reconcile(self._account, self.symbol, prefix=self._prefix,
                                     known_open_orders=self.open_orders(), journal_fill_ids=self._seen_fill_ids,
                                     since_ms=self._clock.now_ms() - _RECONCILE_LOOKBACK_MS)
        except ExchangeError as exc:
            # Nothing is lost by skipping a turn; a fatal error (keys revoked) stops the bot at
            # its next order or lookup, where it is raised.
            logger.warning("Periodic reconciliation of {} failed ({}); trying again later", self.symbol, exc)
            return
        for order in report.unknown_open_orders:
            self._sent.add(order.client_order_id)
            self._orders.setdefault(order.client_order_id, _Tracked(order, _UNKNOWN))   # looked up next
        for fill in report.missing_fills:
            if fill.fill_id not in self._seen_fill_ids:
                self._seen_fill_ids.add(fill.fill_id)
                self._unreported.append(fill)

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        """Cancel this bot's open orders on the exchange (those with its prefix, known or not)
        and drop its protective exits; return what was cancelled and every fill learned on the
        way (orders of unknown outcome are looked up first, and an order that filled before its
        cancel arrived is polled), so the caller books them before it sizes a flatten. An order
        whose outcome is still unknown stays in `open_orders()`."""
        await self._account.load_markets()
        for tracked in [t for t in self._orders.values() if t.state is _UNKNOWN]:
            await self._resolve(tracked)
        client = self._account.client
        targets: dict[str, str] = {}
        try:
            for raw in await self._account.call("fetch_open_orders", self.symbol, client.fetch_open_orders,
                                                self.symbol):
                cid = str(raw.get("clientOrderId") or "")
                if not cid.startswith(self._prefix):
                    continue
                targets[cid] = str(raw["id"])
                tracked = self._orders.get(cid)
                if tracked is None:
                    logger.warning("Order {} is open on the exchange but unknown to this bot; adopting it "
                                   "to cancel it", cid)
                    self._sent.add(cid)
                    self._orders[cid] = _Tracked(order_from_ccxt(raw, self.symbol, reason="adopted"), _OPEN,
                                                 exchange_id=str(raw["id"]))
                elif tracked.state is _UNKNOWN:         # its lookup failed just now; the listing found it
                    tracked.state, tracked.exchange_id = _OPEN, str(raw["id"])
        except TemporaryExchangeError as exc:
            logger.warning("Cannot list open orders of {} ({}); cancelling the ones this bot knows", self.symbol, exc)
            targets = {cid: t.exchange_id for cid, t in self._orders.items() if t.state is _OPEN and t.exchange_id}
        cancelled: list[Order] = []
        for cid, exchange_id in targets.items():
            try:
                await self._account.call("cancel_order", self.symbol, client.cancel_order, exchange_id, self.symbol)
            except OrderNotFound:
                pass                 # filled or cancelled meanwhile: the poll below fetches its fills
            except TemporaryExchangeError as exc:
                logger.warning("Cancelling order {} failed ({}); it stays open and is polled at the next candle",
                               cid, exc)
                continue
            else:
                cancelled.append(self._orders[cid].order)
        for tracked in [t for t in self._orders.values() if t.state is _OPEN]:
            await self._poll(tracked)
        cancelled.extend(self._protective)
        self._protective = []
        if cancelled:
            logger.info("Cancelled {} order(s) of {}: {}", len(cancelled), self.symbol,
                        ", ".join(o.client_order_id for o in cancelled))
        return cancelled, self._drain()

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
        the bot-managed protective exits (with `oco_group`)."""
        return [t.order for t in self._orders.values()] + self._protective

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """Adopt orders to follow (a snapshot's, journalled intents, or found on the exchange):
        protective exits are kept as they are, the others are looked up by client order id at
        the next `on_candle` (as unknown outcomes); one already followed is left as it is. Pass
        the trade ids the bot has already booked as `fill_ids`, so their fills are not reported again."""
        self._seen_fill_ids.update(fill_ids)
        known = {o.client_order_id for o in self.open_orders()}
        for order in orders:
            if order.client_order_id in known:
                continue
            if protective_kind(order.client_order_id, order.oco_group) is not None:
                self._protective.append(order)
            else:
                self._sent.add(order.client_order_id)
                self._orders[order.client_order_id] = _Tracked(order, _UNKNOWN)

    async def aclose(self) -> None:
        """The account (shared) is closed by its owner; orders stay as they are on the exchange."""
        if self._reconciling is not None:
            self._reconciling.cancel()
            await asyncio.gather(self._reconciling, return_exceptions=True)
        if self._orders:
            logger.info("Leaving {} order(s) of {} on the exchange: {}", len(self._orders), self.symbol,
                        ", ".join(self._orders))

    # -- sending -----------------------------------------------------------------------------

    async def _submit(self, order: Order) -> None:
        cid = order.client_order_id
        if cid in self._sent:
            logger.warning("Order {} was sent before; not sending it again", cid)
            return
        await self._account.load_markets()
        prepared = self._prepare(order)
        if isinstance(prepared, str):
            logger.warning("Order {} {} {} dropped, not sent: {}", cid, order.side.value, self.symbol, prepared)
            return
        fn, args, size = prepared
        self._sent.add(cid)
        started = time.perf_counter()
        try:
            raw = await self._account.call("create_order", self.symbol, fn, *args, order_submission=True)
        except UnknownOrderOutcome as exc:
            await self._after_unknown_outcome(order, exc)
            return
        except RateLimited as exc:
            logger.warning("Order {} dropped, not placed (rate limited before matching): {}", cid, exc)
            return
        except OrderRejected as exc:
            logger.warning("Order {} dropped, the exchange refused it: {}", cid, exc)
            return
        except FatalExchangeError:
            self._orders[cid] = _Tracked(order, _UNKNOWN)     # it may exist: reconcile before trading again
            raise
        except ExchangeError as exc:                          # none expected; the cautious reading
            await self._after_unknown_outcome(order, exc)
            return
        except BaseException:
            # Cancelled (shutdown) while the request was out: it may have reached the exchange.
            self._orders[cid] = _Tracked(order, _UNKNOWN)
            raise
        tracked = _Tracked(order, _OPEN)
        self._orders[cid] = tracked
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

    def _prepare(self, order: Order) -> tuple[Any, tuple[Any, ...], str] | str:
        """(ccxt method, its arguments, size for the log), or why the order must not be sent."""
        account, client, symbol = self._account, self._account.client, self.symbol
        params = {"clientOrderId": order.client_order_id}
        if order.type is OrderType.STOP:
            return "stop orders are not sent to the exchange; use stop_loss_pct (bot-managed exits)"
        if order.quote_amount is not None:
            cost = order.quote_amount
            if refusal := account.check_order(symbol, None, None, cost=cost):
                return refusal
            market = account.market(symbol)
            size = f"{cost:g} {market['quote']}"
            if client.has.get("createMarketBuyOrderWithCost"):
                return client.create_market_buy_order_with_cost, (symbol, cost, params), size
            return client.create_order, (symbol, "market", "buy", cost, None, {**params, "cost": cost}), size
        amount = account.round_amount(symbol, order.quantity)
        price = account.round_price(symbol, order.price) if order.type is OrderType.LIMIT else None
        if refusal := account.check_order(symbol, amount, price if price is not None else self._last_price):
            return refusal
        return client.create_order, (symbol, order.type.value, order.side.value, amount, price, params), f"{amount:g}"

    async def _after_unknown_outcome(self, order: Order, exc: ExchangeError) -> None:
        logger.warning("Order {}: outcome unknown ({}); looking it up by client order id, never resending it",
                       order.client_order_id, exc)
        tracked = _Tracked(order, _UNKNOWN)
        self._orders[order.client_order_id] = tracked
        await self._resolve(tracked)

    # -- following orders --------------------------------------------------------------------

    async def _resolve(self, tracked: _Tracked) -> None:
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
            else:
                logger.info("Order {} not found yet ({} time(s)); looking again at the next candle", cid,
                            tracked.not_found)
            return
        except TemporaryExchangeError as exc:
            logger.warning("Order {}: lookup by client order id failed ({}); trying again at the next candle",
                           cid, exc)
            return
        logger.info("Order {} found on the exchange after an unknown outcome: {} (filled {})", cid,
                    raw.get("status"), raw.get("filled"))
        tracked.state = _OPEN
        await self._absorb_or_retry_later(tracked, raw)

    async def _poll(self, tracked: _Tracked) -> None:
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

    async def _absorb_or_retry_later(self, tracked: _Tracked, raw: dict[str, Any]) -> None:
        try:
            await self._absorb(tracked, raw)
        except TemporaryExchangeError as exc:
            # The order is known (and tracked as open); its trades are fetched at the next poll.
            logger.warning("Order {}: fetching its trades failed ({}); trying again at the next candle",
                           tracked.order.client_order_id, exc)

    async def _absorb(self, tracked: _Tracked, raw: dict[str, Any]) -> None:
        """Take the exchange's view of `tracked`: its new fills, and whether it is done."""
        tracked.exchange_id = str(raw["id"])
        self._account.remember_order(tracked.exchange_id, tracked.order.client_order_id)
        filled = float(raw.get("filled") or 0.0)
        fallback_ts = int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or self._clock.now_ms())
        if raw.get("trades"):
            await self._book_trades(tracked, raw["trades"], fallback_ts)
        if filled > tracked.filled_qty + _tolerance(filled):
            trades = await self._account.call("fetch_my_trades", self.symbol, self._account.client.fetch_my_trades,
                                              self.symbol, None, None, {"orderId": tracked.exchange_id})
            await self._book_trades(tracked, trades, fallback_ts)
        status = raw.get("status")
        # Done once the exchange says so and every trade it counts has been seen (the trade list
        # can lag the order on a real exchange; the order is then polled again).
        if status in _DONE_STATUSES and tracked.filled_qty + _tolerance(filled) >= filled:
            self._done(tracked, status, raw)

    async def _book_trades(self, tracked: _Tracked, trades: list[dict[str, Any]], fallback_ts: int) -> None:
        order = tracked.order
        for trade in trades:
            fill = await fill_from_ccxt(self._account, self.symbol, {"order": tracked.exchange_id, **trade},
                                        order.client_order_id, order.side, order.reason, fallback_ts_ms=fallback_ts)
            if fill.fill_id in tracked.fill_ids:
                continue
            tracked.fill_ids.add(fill.fill_id)
            tracked.base_fees += fill.base_fee
            tracked.filled_qty += fill.quantity
            tracked.notional += fill.quantity * fill.price
            if fill.fill_id in self._seen_fill_ids:       # booked before a restart: counted, not reported again
                continue
            self._seen_fill_ids.add(fill.fill_id)
            self._unreported.append(fill)

    def _done(self, tracked: _Tracked, status: str, raw: dict[str, Any]) -> None:
        order = tracked.order
        del self._orders[order.client_order_id]
        if status != "closed":
            logger.info("Order {} {} with {} filled", order.client_order_id, status, tracked.filled_qty)
        if tracked.filled_qty > 0 and (order.stop_loss_pct is not None or order.take_profit_pct is not None):
            self._protect(tracked, int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0))

    # -- bot-managed protective exits --------------------------------------------------------

    def _protect(self, tracked: _Tracked, ts_ms: int) -> None:
        entry = tracked.order
        avg_price = tracked.notional / tracked.filled_qty
        held = tracked.filled_qty - (tracked.base_fees if entry.side is Side.BUY else 0.0)
        exit_side = Side.SELL if entry.side is Side.BUY else Side.BUY
        direction = 1.0 if entry.side is Side.BUY else -1.0
        group = entry.client_order_id
        if entry.stop_loss_pct is not None:
            self._protective.append(Order(
                protective_id(group, "sl"), self.symbol, exit_side, OrderType.STOP, quantity=held,
                stop_price=avg_price * (1 - direction * entry.stop_loss_pct), reason="stop_loss",
                created_ts_ms=ts_ms, oco_group=group))
        if entry.take_profit_pct is not None:
            self._protective.append(Order(
                protective_id(group, "tp"), self.symbol, exit_side, OrderType.LIMIT, quantity=held,
                price=avg_price * (1 + direction * entry.take_profit_pct), reason="take_profit",
                created_ts_ms=ts_ms, oco_group=group))
        logger.info("Order {}: protective exits armed (bot-managed): {}", group, ", ".join(
            f"{o.reason} at {o.stop_price or o.price:.8g}" for o in self._protective if o.oco_group == group))

    async def _check_protection(self, candle: Candle, protective: list[Order]) -> None:
        reached: list[Order] = []
        groups: set[str] = set()
        # Stops before targets: a candle reaching both does not say which came first.
        for order in sorted(protective, key=lambda o: o.type is not OrderType.STOP):
            if order.oco_group in groups or not _reached(order, candle):
                continue
            groups.add(order.oco_group)
            reached.append(order)
        if not reached:
            return
        self._protective = [o for o in self._protective if o.oco_group not in groups]
        for order in reached:
            logger.info("Order {}: {} reached by the candle of {} (low {}, high {}); sending a market exit",
                        order.oco_group, order.reason, candle.ts_ms, candle.low, candle.high)
            await self._submit(Order(order.client_order_id, self.symbol, order.side, OrderType.MARKET,
                                     quantity=order.quantity, reason=order.reason, created_ts_ms=candle.ts_ms))

    def _drain(self) -> list[Fill]:
        fills, self._unreported = self._unreported, []
        fills.sort(key=lambda f: f.ts_ms)
        return fills


def _reached(order: Order, candle: Candle) -> bool:
    if order.type is OrderType.STOP:
        return candle.low <= order.stop_price if order.side is Side.SELL else candle.high >= order.stop_price
    return candle.high >= order.price if order.side is Side.SELL else candle.low <= order.price


def _tolerance(quantity: float) -> float:
    return 1e-9 * max(1.0, quantity)
