"""A Binance spot stand-in for tests: a local aiohttp server that the real ccxt client talks to.

Import from here: `from tests.exchange import BinanceStandIn, make_ccxt_client`.
Modules: `binance_standin` (server, faults, introspection), `routes` (endpoints), `matching`
(orders, fills, balances), `market_data` (klines, book, tickers), `exchange_info` (symbol and
filters), `signing` (SIGNED request checks), `faults`, `api_errors`, `ccxt_client`.
"""

from .binance_standin import BinanceStandIn, RecordedRequest
from .ccxt_client import STANDIN_OPTIONS, make_ccxt_client
from .exchange_info import SymbolRules

__all__ = ["STANDIN_OPTIONS", "BinanceStandIn", "RecordedRequest", "SymbolRules", "make_ccxt_client"]
