"""Best bid and ask from an exchange: the live prices paper trading fills at.

`QuoteSource` is the port; `CcxtQuotes` reads it from any ccxt client. Errors are ccxt's own
exceptions, untranslated: the caller decides what a failed read means (`PaperExecution` keeps a
market order pending and tries again at the next candle).
"""

from __future__ import annotations

from typing import Any, Protocol

import ccxt
import ccxt.async_support as ccxt_async
from loguru import logger

from execution.errors import ExchangeError
from execution.exchange import ExchangeAccount


class QuoteSource(Protocol):
    """The best bid and ask of one market, as of now."""

    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        """(bid, ask) in quote currency per unit of base. Raises when the source cannot say."""
        ...


class CcxtQuotes:
    """`QuoteSource` over a ccxt client: the ticker's bid/ask, or the top of a 5-level book
    when the ticker lacks them (some exchanges' tickers carry only the last price).

    The client is borrowed: whoever built it closes it. Needs no API keys: both calls are public.

        quotes = CcxtQuotes(exchange)
        bid, ask = await quotes.best_bid_ask("BTC/USDT")

    Raises ccxt exceptions as the client raises them, and `ccxt.BadResponse` when neither the
    ticker nor the book holds both sides (an empty or one-sided book).
    """

    def __init__(self, client: ccxt_async.Exchange) -> None:
        self._client = client

    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        ticker = await self._client.fetch_ticker(symbol)
        quote = _two_sided(ticker.get("bid"), ticker.get("ask"))
        if quote is not None:
            return quote
        book = await self._client.fetch_order_book(symbol, limit=5)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        quote = _two_sided(bids[0][0] if bids else None, asks[0][0] if asks else None)
        if quote is None:
            raise ccxt.BadResponse(f"{self._client.id} has no best bid and ask for {symbol}: the ticker lacks "
                                   f"them and the book is one-sided or empty ({len(bids)} bids, {len(asks)} asks)")
        return quote


async def account_spread_bps(account: ExchangeAccount, symbol: str) -> float | None:
    """The spread of `symbol` on `account`'s exchange in bps, read through the account (its rate
    budget, back-off and error translation); None, with a WARNING, when the read fails."""
    quotes = CcxtQuotes(account.client)
    try:
        bid, ask = await account.call("best_bid_ask", symbol, quotes.best_bid_ask, symbol)
    except ExchangeError as exc:
        logger.warning("No quote for the spread of {} ({}); the spread breaker keeps its last reading", symbol, exc)
        return None
    return spread_in_bps(bid, ask)


def spread_in_bps(bid: float, ask: float) -> float:
    """The spread between `bid` and `ask` in basis points of their mid."""
    mid = (bid + ask) / 2
    return (ask - bid) / mid * 10_000 if mid > 0 else 0.0


def _two_sided(bid: Any, ask: Any) -> tuple[float, float] | None:
    # A zero or missing side is "no quote", not a price: a market order must not fill at 0.
    if not bid or not ask:
        return None
    return float(bid), float(ask)
