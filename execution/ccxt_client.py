"""The ccxt client of an exchange account: its settings, its keys from the environment, its URLs rebased.

`make_client` builds the one client an `ExchangeAccount` (`execution.exchange`) shares among
its bots:

- ccxt's rate limiter is on, as a rolling window where the exchange's limits are a budget per
  minute; ccxt's own retries are off (it would resend an order whose first attempt may have
  landed); Binance stays on its spot endpoints;
- keys come from the environment variables the config names and go into the ccxt client only;
  no message, log line or repr here carries them. An unset one raises `MissingCredentials`;
- `base_url` and `ws_url` move ccxt's URLs to another host (a testnet, the tests' stand-in),
  keeping their paths;
- it is ccxt.pro's class (REST and websockets) when the config wants websockets and ccxt has
  one for the exchange, else the async REST class;
- on Binance, ccxt's limiter counts each request at Binance's own weight where ccxt's table
  says otherwise (`BINANCE_WEIGHTS`).

```python
client = make_client(config, os.environ)
websocket = websocket_wanted(config) and bool(client.has.get("watchOHLCV"))
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from execution.errors import AuthenticationFailed
from execution.exchange_config import ExchangeConfig

__all__ = ["BINANCE_WEIGHTS", "ClientFactory", "MissingCredentials", "client_fields", "client_settings",
           "default_client_factory", "make_client", "rebase_urls", "websocket_wanted"]

# Keep ccxt on the spot endpoints: by default it also loads futures markets, margin pairs and
# currencies (sapi), which a spot bot never needs and which cost request weight at every start.
_BINANCE_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}
# Exchanges whose limits are a budget per minute, which ccxt's rolling window models (see
# `ExchangeConfig.rate_limit_window_secs`); elsewhere ccxt's leaky bucket stays the default.
_PER_MINUTE_LIMITS = frozenset({"binance", "binanceus"})

BINANCE_WEIGHTS: dict[tuple[str, str, bool], int] = {
    # (api, path, with orderId) -> Binance's request weight, where ccxt 4.5's cost table differs.
    # The trade candles poll aggTrades (weight 4; ccxt counts 2): counted low, the limiter lets
    # through twice what the budget holds, and Binance answers 429s (then bans). An order's
    # trades, myTrades with orderId (weight 5; ccxt counts 20 as without): counted high, they
    # hold back the orders behind them for nothing.
    ("public", "aggTrades", False): 4,
    ("private", "myTrades", True): 5,
}
_WEIGHT_PER_COST = 5          # ccxt's binance: rateLimit 50 ms, so 1,200 cost units for 6,000 weight a minute


ClientFactory = Callable[[str, dict[str, Any]], ccxt_async.Exchange]
"""`(exchange id, ccxt constructor settings) -> client`; tests pass one to change e.g. `rateLimit`."""


class MissingCredentials(AuthenticationFailed):
    """An environment variable the config names for the API key or secret is unset or empty."""

    fix = "Set the variable in the daemon's environment (e.g. its systemd EnvironmentFile) and restart it."


def make_client(config: ExchangeConfig, environ: Mapping[str, str],
                client_factory: ClientFactory | None = None) -> ccxt_async.Exchange:
    """The ccxt client of `config`'s account, made by `client_factory` (by default
    `default_client_factory`), keys read from `environ`. Raises `MissingCredentials`."""
    settings = client_settings(config, environ)
    if client_factory is None:
        client = default_client_factory(config.id, settings, websocket=websocket_wanted(config))
    else:
        client = client_factory(config.id, settings)
    if config.base_url is not None or config.ws_url is not None:
        client.urls["api"] = rebase_urls(client.urls["api"], http=config.base_url, ws=config.ws_url)
    if config.id == "binance":
        _count_binance_weights(client)
    return client


def _count_binance_weights(client: ccxt_async.Exchange) -> None:
    """Make `client`'s limiter cost a request as `BINANCE_WEIGHTS` says; ccxt's own otherwise."""
    ccxt_cost = client.calculate_rate_limiter_cost

    def calculate_rate_limiter_cost(api: Any, method: Any, path: Any, params: Any, config: Any = None) -> Any:
        weight = BINANCE_WEIGHTS.get((api[0] if api else "", path, "orderId" in params))
        if weight is not None:
            return weight / _WEIGHT_PER_COST
        return ccxt_cost(api, method, path, params, {} if config is None else config)

    client.calculate_rate_limiter_cost = calculate_rate_limiter_cost


def default_client_factory(exchange_id: str, settings: dict[str, Any], *,
                           websocket: bool = False) -> ccxt_async.Exchange:
    """ccxt.pro's class (REST and websockets) with `websocket` where ccxt has one, else the
    async REST class."""
    if websocket and hasattr(ccxt_pro, exchange_id):
        return getattr(ccxt_pro, exchange_id)(settings)
    return getattr(ccxt_async, exchange_id)(settings)


def websocket_wanted(config: ExchangeConfig) -> bool:
    """The config asks for websockets and says where they are."""
    # Websockets only where their URL is known: a base_url without ws_url points REST at a
    # testnet (or the tests' stand-in) and would leave the streams on the real exchange.
    return config.websocket and (config.base_url is None or config.ws_url is not None)


def client_settings(config: ExchangeConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """ccxt's constructor settings for `config`, keys read from `environ`. Raises
    `MissingCredentials` naming a variable the config names that is unset or empty."""
    options = {**(_BINANCE_OPTIONS if config.id == "binance" else {}), **config.options}
    # Never ccxt's own retries: it would resend a POST whose first attempt may have landed.
    options["maxRetriesOnFailure"] = 0
    settings: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(config.timeout_secs * 1000),
        "options": options,
    }
    window_secs = config.rate_limit_window_secs
    if window_secs is None:
        window_secs = 60.0 if config.id in _PER_MINUTE_LIMITS else 0.0
    if window_secs > 0:
        settings["rateLimiterAlgorithm"] = "rollingWindow"
        settings["rollingWindowSize"] = window_secs * 1000
    for field, ccxt_name in (("api_key_env", "apiKey"), ("secret_env", "secret")):
        variable = getattr(config, field)
        if variable is None:
            continue
        value = environ.get(variable)
        if not value:
            raise MissingCredentials(
                "load credentials", None,
                f"exchange account {config.id}/{config.account}: the environment variable {variable} "
                f"(exchange.{field}) is not set or empty")
        settings[ccxt_name] = value
    return settings


def client_fields(config: ExchangeConfig) -> tuple[Any, ...]:
    """The fields of `config` its client is made from: bots sharing an account must agree on them."""
    return (config.api_key_env, config.secret_env, config.base_url, config.ws_url, config.websocket,
            config.rate_limit_window_secs, config.options)


def rebase_urls(urls: Any, *, http: str | None, ws: str | None) -> Any:
    """ccxt's `urls['api']` (a URL, or a dict of them, maybe nested) with each http(s) URL's
    origin replaced by `http` and each ws(s) URL's by `ws` (where given; else by `http`): the
    path stays, so `/api/v3` and `/sapi/v1` keep apart."""
    if isinstance(urls, str):
        parts = urlsplit(urls)
        # Without `ws`, streams point at `http`'s host too: unused (websockets are off then),
        # but nothing configured for a testnet or the tests can reach the real exchange.
        root = (ws or http) if parts.scheme in ("ws", "wss") else http
        return urls if root is None else root.rstrip("/") + parts.path
    if isinstance(urls, dict):
        return {name: rebase_urls(url, http=http, ws=ws) for name, url in urls.items()}
    return urls
