"""What the exchange says about one bot, compared with what the bot believes: run at start-up,
before a paper or live bot trades again (DESIGN.md, "State that survives a crash").

`reconcile` only reports; the caller applies the bot's `on_restart` policy to the report:

- `resume`: book `missing_fills` (their `fill_id` keys make that idempotent in the journal),
  adopt `unknown_open_orders` with `LiveExecution.restore_orders`, drop `vanished_orders` once
  their fills are booked; pass every booked fill id to `restore_orders(fill_ids=...)`;
- `flatten`: cancel the bot's open orders and close `exchange_base_balance` minus what other
  bots on the account hold;
- `halt`: refuse to start when the report is not `clean`, and show it to a person.

A bot's orders are recognised by their client order id prefix (`execution.order_ids`).
Binance's trade list carries the exchange order id only, so each order that traded since
`since_ms` is looked up once to learn its client order id.

Every read goes through `ExchangeAccount.shared_read`, and `since_ms` is rounded down to the
hour: a hundred bots on one account reconciling at the same candle send one set of requests
between them, not a hundred. The trade history is paged as Binance allows (see `_trades_since`):
a look-back longer than a day is read a day at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from execution.errors import OrderNotFound
from execution.exchange import ExchangeAccount
from execution.models import Fill, Order, OrderType, Side
from execution.order_ids import is_exchange_stop

__all__ = ["ReconcileReport", "base_balance", "fill_from_ccxt", "order_from_ccxt", "reconcile"]

_PAGE = 1000            # Binance's largest myTrades page
_MAX_PAGES = 200        # requests for trades: 100 days of windows, or about 200,000 trades
_WINDOW_MS = 86_400_000 # Binance: "The time between startTime and endTime can't be longer than 24 hours."
_SINCE_STEP_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """`unknown_open_orders`: open on the exchange with the bot's prefix, unknown to the bot.
    `vanished_orders`: the bot holds them open, the exchange does not (filled, cancelled, or never
    placed; their fills, if any, are in `missing_fills` unless journalled). `missing_fills`:
    trades of the bot's orders since `since_ms` whose trade id is not in the journal, oldest
    first. `exchange_base_balance` / `exchange_base_free`: the account's base asset, total and
    free (the account's, not the bot's: other bots on it hold part of it)."""

    symbol: str
    unknown_open_orders: list[Order]
    vanished_orders: list[Order]
    missing_fills: list[Fill]
    exchange_base_balance: float
    exchange_base_free: float

    @property
    def clean(self) -> bool:
        """Nothing to adopt: the bot's view matches the exchange's."""
        return not (self.unknown_open_orders or self.vanished_orders or self.missing_fills)


async def reconcile(account: ExchangeAccount, symbol: str, *, prefix: str, known_open_orders: list[Order],
                    journal_fill_ids: set[str], since_ms: int) -> ReconcileReport:
    """Compare the exchange's view of the bot whose client order ids start with `prefix` with
    `known_open_orders` (its snapshot's) and `journal_fill_ids` (the fill keys it journalled).

    `since_ms` (exchange time) bounds the trade history read: the time of the snapshot the bot
    restarts from, minus a margin. Bot-managed protective orders (those with an `oco_group`:
    see `execution.live`) never rest on the exchange and are not compared; a stop-loss resting
    on the exchange (`execution.exchange_stop`) is compared like any order. Raises the domain
    errors of `execution.errors` (after the account's retries).
    """
    await account.load_markets()
    client = account.client
    since_ms -= since_ms % _SINCE_STEP_MS        # reading a little further back is harmless, and shared
    raw_open = await account.shared_read("fetch_open_orders", symbol, client.fetch_open_orders, symbol)
    mine_open = {cid: raw for raw in raw_open if (cid := _client_id(raw)).startswith(prefix)}
    real_known = [o for o in known_open_orders if o.oco_group is None or is_exchange_stop(o.client_order_id)]
    known_ids = {o.client_order_id for o in real_known}
    reasons = {o.client_order_id: o.reason for o in known_open_orders}

    unknown = [order_from_ccxt(raw, symbol, reason="adopted") for cid, raw in mine_open.items() if cid not in known_ids]
    vanished = [o for o in real_known if o.client_order_id not in mine_open]

    missing: list[Fill] = []
    for trade, cid in await _bot_trades(account, symbol, prefix, since_ms, _order_ids(mine_open)):
        if str(trade["id"]) in journal_fill_ids:
            continue
        missing.append(await fill_from_ccxt(account, symbol, trade, cid, Side(trade["side"]),
                                            reasons.get(cid, "reconciled")))
    missing.sort(key=lambda f: f.ts_ms)

    report = ReconcileReport(symbol, unknown, vanished, missing, *await base_balance(account, symbol))
    if not report.clean:
        logger.warning("Reconcile {} (prefix {}): {} unknown open order(s), {} vanished, {} fill(s) not journalled",
                       symbol, prefix, len(unknown), len(vanished), len(missing))
    return report


async def base_balance(account: ExchangeAccount, symbol: str) -> tuple[float, float]:
    """The account's base asset of `symbol`, (total, free): all of the account's, not one bot's.
    Read through `shared_read`, so bots asking at the same moment send one request."""
    balance = await account.shared_read("fetch_balance", None, account.client.fetch_balance)
    base = account.market(symbol)["base"]
    return float((balance.get("total") or {}).get(base) or 0.0), float((balance.get("free") or {}).get(base) or 0.0)


def order_from_ccxt(raw: Mapping[str, Any], symbol: str, *, reason: str = "") -> Order:
    """An `Order` for a ccxt order structure the bot did not create itself (adopted at restart,
    or found by cancel_all). Limit-like types become LIMIT at their price, others MARKET."""
    amount = raw.get("amount") or raw.get("filled") or 0.0
    price = raw.get("price")
    order_type = OrderType.LIMIT if raw.get("type") != "market" and price else OrderType.MARKET
    return Order(_client_id(raw), symbol, Side(raw["side"]), order_type, quantity=float(amount),
                 price=float(price) if order_type is OrderType.LIMIT else None, reason=reason,
                 created_ts_ms=int(raw.get("timestamp") or 0))


async def fill_from_ccxt(account: ExchangeAccount, symbol: str, trade: Mapping[str, Any], client_order_id: str,
                         side: Side, reason: str, *, fallback_ts_ms: int = 0) -> Fill:
    """The `Fill` of a ccxt trade structure of the bot's order `client_order_id`, with its fees
    split as `ExchangeAccount.trade_fees` does (quote from cash, base off the position)."""
    qty, price = float(trade["amount"]), float(trade["price"])
    ts_ms = int(trade.get("timestamp") or fallback_ts_ms)
    fee, base_fee = await account.trade_fees(symbol, trade)
    fill_id = str(trade.get("id") or f"{trade.get('order')}:{ts_ms}:{qty}:{price}")
    return Fill(client_order_id, symbol, side, qty, price, fee, ts_ms, reason, fill_id, base_fee)


def _client_id(raw: Mapping[str, Any]) -> str:
    return str(raw.get("clientOrderId") or "")


def _order_ids(orders: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {str(raw["id"]): cid for cid, raw in orders.items()}


async def _bot_trades(account: ExchangeAccount, symbol: str, prefix: str, since_ms: int,
                      client_ids: dict[str, str]) -> list[tuple[dict[str, Any], str]]:
    """(trade, client order id) for every trade since `since_ms` of an order with `prefix`.
    `client_ids` (exchange order id -> client order id) and the account's shared map spare
    lookups; what a lookup learns goes into the shared map."""
    client = account.client
    trades = await _trades_since(account, symbol, since_ms)
    for exchange_id, cid in client_ids.items():
        account.remember_order(exchange_id, cid)
    found = []
    for trade in trades:
        order_id = str(trade["order"])
        cid = account.client_order_id_of(order_id)
        if cid is None:
            try:
                raw = await account.shared_read("fetch_order", symbol, client.fetch_order, order_id, symbol)
                cid = _client_id(raw)
            except OrderNotFound:
                logger.warning("Reconcile {}: trade {} names order {}, which the exchange no longer finds",
                               symbol, trade["id"], order_id)
                cid = ""
            account.remember_order(order_id, cid)
        if cid and cid.startswith(prefix):
            found.append((trade, cid))
    return found


async def _trades_since(account: ExchangeAccount, symbol: str, since_ms: int) -> list[dict[str, Any]]:
    """Every trade of the account on `symbol` since `since_ms`, oldest first, read as Binance
    allows: at most 1000 trades a request, a time range of at most 24 hours, and `fromId` (trades
    from that id on) never with a time.

    First the newest trades (no time, no `fromId`: Binance's most recent ones). When they are
    fewer than a page, or reach back to `since_ms`, that is all. Otherwise the look-back is read
    forward from `since_ms` in 24-hour windows (`startTime` + `endTime`), and a window that fills
    a page is read on by `fromId`, until the newest trades are reached.
    """
    client = account.client

    async def read(since: int | None, params: dict[str, Any]) -> list[dict[str, Any]]:
        return await account.shared_read("fetch_my_trades", symbol, client.fetch_my_trades, symbol, since, _PAGE,
                                         params)

    newest = await read(None, {})
    if len(newest) < _PAGE or min(_ts(t) for t in newest) <= since_ms:
        return sorted((t for t in newest if _ts(t) >= since_ms), key=_trade_id)
    newest_first_ms, newest_first_id = min(_ts(t) for t in newest), min(_trade_id(t) for t in newest)
    by_id = {_trade_id(t): t for t in newest}
    requests, start = 1, since_ms
    while start <= newest_first_ms and requests < _MAX_PAGES:
        end = start + _WINDOW_MS - 1
        page = await read(start, {"until": end})
        requests += 1
        by_id.update((_trade_id(t), t) for t in page)
        # A full window goes on by id (fromId cannot go with a time) until it passes the window's end.
        while (len(page) == _PAGE and max(_trade_id(t) for t in page) < newest_first_id
               and max(_ts(t) for t in page) <= end and requests < _MAX_PAGES):
            page = await read(None, {"fromId": max(_trade_id(t) for t in page) + 1})
            requests += 1
            by_id.update((_trade_id(t), t) for t in page)
        start = end + 1
    if start <= newest_first_ms:
        logger.warning("Reconcile {}: stopped after {} requests for trades ({} found); reconcile from a later "
                       "since_ms", symbol, requests, len(by_id))
    return sorted((t for t in by_id.values() if _ts(t) >= since_ms), key=_trade_id)


def _ts(trade: Mapping[str, Any]) -> int:
    return int(trade.get("timestamp") or 0)


def _trade_id(trade: Mapping[str, Any]) -> int:
    return int(trade["id"])
