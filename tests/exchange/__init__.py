"""A Binance spot stand-in for tests: a local aiohttp server that the real ccxt client talks to.

Use it from any test file as `from tests.exchange import BinanceStandIn, make_ccxt_client`, like
`tests.fakes`: with `--import-mode=importlib`, pytest imports `tests/conftest.py` as
`tests.conftest` and registers `tests` as a namespace package rooted at the repository, so
`tests.exchange` (a regular package, this file) resolves from any working directory.
`tests/unit/exchange_standin/conftest.py` shows fixtures that start one and close its clients.

Modules: `binance_standin` (server, faults, introspection), `routes` (endpoints), `matching`
(orders, fills, balances), `market_data` (klines, book, tickers), `exchange_info` (symbol and
filters), `streams` (kline websocket streams), `signing` (SIGNED request checks), `faults`,
`api_errors`, `ccxt_client`, `clock` (the stand-in's time as a bot's clock), `tapes` (candles to
replay), `serve` (a stand-in in a process of its own, for benchmarks).
"""

from .binance_standin import BinanceStandIn, RecordedRequest
from .ccxt_client import STANDIN_OPTIONS, make_ccxt_client
from .clock import FastForwardClock, SteppedExchangeClock, VirtualStandInClock
from .exchange_info import SymbolRules

__all__ = ["STANDIN_OPTIONS", "BinanceStandIn", "FastForwardClock", "RecordedRequest", "SteppedExchangeClock",
           "SymbolRules", "VirtualStandInClock", "make_ccxt_client"]
