"""What the exchange says about one bot, compared with what the bot believes: run at start-up,
before a paper or live bot trades again (DESIGN.md, "State that survives a crash").

`reconcile` only reports; the caller applies the bot's `on_restart` policy to the report:

- `resume`: book `missing_fills` (their `fill_id` keys make that idempotent in the journal),
  adopt `unknown_open_orders` with `LiveExecution.restore_orders`, drop `vanished_orders` once
  their fills are booked; pass every booked fill id to `restore_orders(fill_ids=...)`;
- `flatten`: cancel the bot's open orders and close `exchange_base_balance` minus what other
  bots on the account hold;
- `halt`: refuse to start when the report is not `clean`, and show it to a person.

A bot's orders are recognised by their client order id prefix (`client_order_prefix(bot_id)`).
Binance's trade list carries the exchange order id only, so each order that traded since
`since_ms` is looked up once to learn its client order id.

Every read goes through `ExchangeAccount.shared_read`, and `since_ms` is rounded down to the
hour: a hundred bots on one account reconciling at the same candle send one set of requests
between them, not a hundred.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from execution.errors import OrderNotFound
from execution.exchange import ExchangeAccount
from execution.models import Fill, Order, OrderType, Side

__all__ = ["ReconcileReport", "order_from_ccxt", "reconcile"]

_PAGE = 1000            # Binance's largest myTrades page
_MAX_PAGES = 100        # 100,000 trades: a `since_ms` this far back is a caller's mistake
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
    see `execution.live`) never rest on the exchange and are not compared. Raises the domain
    errors of `execution.errors` (after the account's retries).
    """
    await account.load_markets()
    client = account.client
    since_ms -= since_ms % _SINCE_STEP_MS        # reading a little further back is harmless, and shared
    raw_open = await account.shared_read("fetch_open_orders", symbol, client.fetch_open_orders, symbol)
    mine_open = {cid: raw for raw in raw_open if (cid := _client_id(raw)).startswith(prefix)}
    real_known = [o for o in known_open_orders if o.oco_group is None]
    known_ids = {o.client_order_id for o in real_known}
    reasons = {o.client_order_id: o.reason for o in known_open_orders}

    unknown = [order_from_ccxt(raw, symbol, reason="adopted") for cid, raw in mine_open.items() if cid not in known_ids]
    vanished = [o for o in real_known if o.client_order_id not in mine_open]

    missing: list[Fill] = []
    for trade, cid in await _bot_trades(account, symbol, prefix, since_ms, _order_ids(mine_open)):
        if str(trade["id"]) in journal_fill_ids:
            continue
        missing.append(Fill(
            cid, symbol, Side(trade["side"]), float(trade["amount"]), float(trade["price"]),
            await account.fee_in_quote(symbol, trade), int(trade["timestamp"] or 0),
            reasons.get(cid, "reconciled"), str(trade["id"])))
    missing.sort(key=lambda f: f.ts_ms)

    balance = await account.shared_read("fetch_balance", None, client.fetch_balance)
    base = account.market(symbol)["base"]
    report = ReconcileReport(symbol, unknown, vanished, missing,
                             float((balance.get("total") or {}).get(base) or 0.0),
                             float((balance.get("free") or {}).get(base) or 0.0))
    if not report.clean:
        logger.warning("Reconcile {} (prefix {}): {} unknown open order(s), {} vanished, {} fill(s) not journalled",
                       symbol, prefix, len(unknown), len(vanished), len(missing))
    return report


def order_from_ccxt(raw: Mapping[str, Any], symbol: str, *, reason: str = "") -> Order:
    """An `Order` for a ccxt order structure the bot did not create itself (adopted at restart,
    or found by cancel_all). Limit-like types become LIMIT at their price, others MARKET."""
    amount = raw.get("amount") or raw.get("filled") or 0.0
    price = raw.get("price")
    order_type = OrderType.LIMIT if raw.get("type") != "market" and price else OrderType.MARKET
    return Order(_client_id(raw), symbol, Side(raw["side"]), order_type, quantity=float(amount),
                 price=float(price) if order_type is OrderType.LIMIT else None, reason=reason,
                 created_ts_ms=int(raw.get("timestamp") or 0))


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
    trades: list[dict[str, Any]] = []
    page = await account.shared_read("fetch_my_trades", symbol, client.fetch_my_trades, symbol, since_ms, _PAGE)
    for _ in range(_MAX_PAGES):
        trades.extend(page)
        if len(page) < _PAGE:
            break
        # Binance: fromId cannot go with startTime, so later pages continue by trade id.
        last_id = max(int(t["id"]) for t in page)
        page = await account.shared_read("fetch_my_trades", symbol, client.fetch_my_trades, symbol, None, _PAGE,
                                         {"fromId": last_id + 1})
    else:
        logger.warning("Reconcile {}: stopped after {} trades; reconcile from a later since_ms", symbol,
                       len(trades))
    known = account.client_order_ids
    known.update(client_ids)
    found = []
    for trade in trades:
        order_id = str(trade["order"])
        if order_id not in known:
            try:
                raw = await account.shared_read("fetch_order", symbol, client.fetch_order, order_id, symbol)
                known[order_id] = _client_id(raw)
            except OrderNotFound:
                logger.warning("Reconcile {}: trade {} names order {}, which the exchange no longer finds",
                               symbol, trade["id"], order_id)
                known[order_id] = ""
        cid = known[order_id]
        if cid.startswith(prefix) and cid:
            found.append((trade, cid))
    return found
