"""A Binance spot stand-in: a local aiohttp server, on 127.0.0.1, that the real ccxt client talks
to with Binance's REST protocol (signed requests, real error payloads, Binance's fee, window and
filter rules), kline streams, and orders over Binance's WebSocket API (`order.place`). The tests and the benches (`bench/live_latency.py`) use it; it
lives in the package, beside the engines it stands in for, so both can. It never reaches the
network. Faults (lost answers, 5xx, orders that land seconds after their 5xx, bans, fills during
a cancel, lagging trade lists, a drifting clock) are armed by hooks.

Modules: `binance_standin` (server, clock, introspection), `hooks` (the faults and market
changes a test arms), `http_replies` (fault replies), `rate_limits` (request weights, the weight and
unfilled-order limits, their 429/418 and usage headers), `routes` (endpoints), `order_params` (a
new order's parameters), `matching` (orders, fills, balances), `self_trade` (self-trade prevention), `market_data` (klines, book, tickers), `exchange_info` (symbol and
filters), `streams` (kline websocket streams), `ws_api` (the WebSocket API), `signing` (SIGNED request checks), `faults`,
`api_errors`, `ccxt_client`, `clock` (the stand-in's time as a bot's clock), `tapes` (candles to
replay), `serve` (a stand-in in a process of its own, for benchmarks).
"""

from .binance_standin import BinanceStandIn, RecordedRequest
from .ccxt_client import STANDIN_OPTIONS, make_ccxt_client
from .clock import FastForwardClock, SteppedExchangeClock, VirtualStandInClock
from .exchange_info import SymbolRules

__all__ = ["STANDIN_OPTIONS", "BinanceStandIn", "FastForwardClock", "RecordedRequest", "SteppedExchangeClock",
           "SymbolRules", "VirtualStandInClock", "make_ccxt_client"]
