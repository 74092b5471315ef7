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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async

from execution.exchange import ExchangeAccount, ExchangeAccounts
from execution.exchange_config import ExchangeConfig
from market.clock import Clock

from .binance_standin import BinanceStandIn

_KEY_ENV, _SECRET_ENV = "BR_STANDIN_KEY", "BR_STANDIN_SECRET"    # only ever in an ExchangeAccounts' own environ

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


def fast_client(exchange_id: str, settings: dict[str, Any]) -> ccxt_async.Exchange:
    """An `ExchangeAccounts` client factory for tests: ccxt's own client with its rate limiter
    set to 1 ms (the stand-in does not limit) and no wait on close."""
    return getattr(ccxt_async, exchange_id)({**settings, "rateLimit": 1, "timeout_on_exit": 0})


@asynccontextmanager
async def standin_account(standin: BinanceStandIn, *, clock: Clock, secret: str | None = None,
                          **changes: Any) -> AsyncIterator[ExchangeAccount]:
    """An `ExchangeAccount` on `standin` with its keys (or another `secret`), closed after; `changes`
    go into its `ExchangeConfig`. Checks on exit that ccxt asked for nothing the stand-in does not serve."""
    environ = {_KEY_ENV: standin.api_key, _SECRET_ENV: standin.secret if secret is None else secret}
    accounts = ExchangeAccounts(environ=environ, client_factory=fast_client, clock=clock)
    fields = dict(id="binance", account="main", api_key_env=_KEY_ENV, secret_env=_SECRET_ENV,
                  base_url=standin.base_url, timeout_secs=5)
    try:
        yield accounts.get(ExchangeConfig(**(fields | changes)))
    finally:
        await accounts.aclose()
    assert standin.unserved == [], f"ccxt asked for endpoints the stand-in does not serve: {standin.unserved}"
