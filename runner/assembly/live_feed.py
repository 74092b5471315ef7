"""The live candle feed of a paper or live bot: the exchange's klines, or candles made from its
trades (`exchange: {candles_from: trades}`), and the key bots share it by.

Bots on one account, symbol and timeframe share a feed only when they take their candles from
the same place: a trades feed and a klines feed can disagree on a candle (a late trade, the
moment of closing), so they are never mixed.
"""

from __future__ import annotations

from typing import Callable

from execution.exchange import ExchangeAccount
from market.ccxt_feed import CcxtCandleFeed
from market.clock import Clock
from market.ports import MarketDataProvider
from market.shared import FeedKey, live_feed_key
from market.trade_feed import TradeCandleFeed
from runner.config.bot import BotConfig


def exchange_feed(config: BotConfig, account: ExchangeAccount,
                  clock: Clock) -> tuple[FeedKey, Callable[[], MarketDataProvider]]:
    """(the key the bot's candles are shared by, a maker of the feed behind them)."""
    exchange = config.exchange
    assert exchange is not None            # BotConfig guarantees it for paper and live
    key = live_feed_key(exchange.id, exchange.account, config.symbol, config.timeframe)
    if exchange.candles_from == "trades":
        key = FeedKey(("live-trades", exchange.id, exchange.account), config.symbol, config.timeframe)
        return key, lambda: TradeCandleFeed(
            account.client, config.symbol, config.timeframe, clock=clock, grace_secs=exchange.trade_grace_secs,
            poll_secs=exchange.trade_poll_secs, stale_after_bars=exchange.stale_after_bars,
            websocket=account.websocket)
    return key, lambda: CcxtCandleFeed(
        account.client, config.symbol, config.timeframe, clock=clock, poll_delay_secs=exchange.poll_delay_secs,
        stale_after_bars=exchange.stale_after_bars, websocket=account.websocket)
