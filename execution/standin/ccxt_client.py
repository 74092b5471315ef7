"""`make_ccxt_client`: the real `ccxt.async_support.binance` client, pointed at a `BinanceStandIn`.

Nothing in ccxt is patched. Two things are changed, both public configuration:

- every entry of `exchange.urls["api"]` keeps its path and gets the stand-in's origin, so
  `public`/`private` (`/api/v3`) reach the served endpoints and anything else ccxt might call
  (`sapi`, `fapiPublic`, ...) gets a 404 recorded in `standin.unserved` instead of reaching the
  internet;
- options that keep ccxt on the spot endpoints the stand-in serves (see `STANDIN_OPTIONS`).

One difference from production remains: ccxt picks its per-market error table from the URL
(`get_exceptions_by_url` looks for `https://api.binance.com/`), so against the stand-in only its
general table applies. Two codes the stand-in can send are in the spot-only table (-1008, -1131);
`execution.ccxt_errors.binance_class` reads them by code, so the bot means the same by them here
as in production (`test_every_error_the_stand_in_sends_means_to_the_bot_what_binances_own_does`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async

from .binance_standin import BinanceStandIn

STANDIN_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},    # default also loads fapi + dapi exchangeInfo
    "fetchMargins": False,                  # default with keys: sapi margin/allPairs + isolated/allPairs
    "fetchCurrencies": False,               # default with keys: sapi capital/config/getall
    "adjustForTimeDifference": False,       # the stand-in checks timestamps against the wall clock
}


def make_ccxt_client(standin: BinanceStandIn, *, api_key: str | None = None, secret: str | None = None,
                     enable_rate_limit: bool = False, timeout_ms: int = 5_000,
                     **options: Any) -> ccxt_async.binance:
    """A ccxt binance client talking to `standin`; the caller must `await exchange.close()`.

    `api_key`/`secret` default to the stand-in's; `timeout_ms` is ccxt's `timeout`; `options` are
    merged over `STANDIN_OPTIONS` into ccxt's `options` (e.g. `recvWindow=5000`).
    """
    exchange = ccxt_async.binance({
        "apiKey": standin.api_key if api_key is None else api_key,
        "secret": standin.secret if secret is None else secret,
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        # close() sleeps this long (250 ms by default) so TLS transports can finish closing; the
        # stand-in speaks plain HTTP, and the sleep would dominate the test run.
        "timeout_on_exit": 0,
        "options": {**STANDIN_OPTIONS, **options},
    })
    exchange.urls["api"] = {name: standin.base_url + urlsplit(url).path
                            for name, url in exchange.urls["api"].items()}
    return exchange
