"""Which exchange account a paper or live bot uses, validated from YAML.

Keys never appear here: the config names the environment variables that hold them.

```yaml
exchange:
  id: binance                     # a ccxt exchange id
  account: main                   # bots on the same (id, account) share one client and rate limit
  api_key_env: BINANCE_MAIN_KEY   # live only: the variables holding the key and secret
  secret_env: BINANCE_MAIN_SECRET
  base_url: null                  # e.g. a testnet's REST root; replaces the exchange's API URLs
  websocket: true                 # candles by websocket (ccxt.pro watch_ohlcv) where the exchange has them
  ws_url: null                    # the websockets' root with base_url, e.g. wss://stream.testnet.binance.vision
  rate_limit_window_secs: null    # ccxt's limiter: 60 = a per-minute budget, 0 = one request per rateLimit
  candles_from: klines            # or trades: candles made from the exchange's public trades (market.trade_feed)
```
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from market.limits import Flag, Number, WholeNumber, reachable_url
from market.strict import StrictModel

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
                               description="an environment variable name in capitals, e.g. BINANCE_KEY")]


class ExchangeConfig(StrictModel):
    id: str
    account: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "default"
    api_key_env: EnvName | None = None
    secret_env: EnvName | None = None
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", description="an http(s) URL"),
                        AfterValidator(reachable_url)] | None = None
    websocket: Flag = True
    """Read candles by websocket (ccxt.pro's `watch_ohlcv`) where ccxt has one for the exchange;
    REST polling otherwise, and after a websocket error."""
    ws_url: Annotated[str, Field(pattern=r"^wss?://[^\s]+$", description="a ws(s) URL"),
                      AfterValidator(reachable_url)] | None = None
    """Replaces the origin of the exchange's websocket URLs (their paths stay). With `base_url`
    set and this unset, candles are polled: a REST root says nothing about where streams are."""
    timeout_secs: Annotated[Number, Field(gt=0, le=120)] = 10.0
    poll_delay_secs: Annotated[Number, Field(ge=0, le=60)] = 1.0
    """Ask for a closed candle this long after the timeframe boundary (exchanges publish late)."""
    max_candle_age_secs: Annotated[Number, Field(gt=0, le=604_800)] | None = None
    """A signal on a candle that closed longer ago than this is not acted on: after an outage
    the backlog of candles updates the strategy, and only a fresh candle trades (a round trip
    decided on minutes-old prices pays fees for nothing). Unset: `poll_delay_secs` plus half
    the bot's timeframe."""
    stale_after_bars: Annotated[WholeNumber, Field(ge=2, le=1000)] = 3
    """No new candle for this many timeframes: the feed is stale (a risk rule can kill on it)."""
    rate_limit_window_secs: Annotated[Number, Field(ge=0, le=3600)] | None = None
    """ccxt's rate limiter for the account. Above 0: ccxt's rolling window, where requests may
    spend the exchange's whole budget for a window of this many seconds at once, so the orders
    of many bots at one candle close go out together. 0: ccxt's leaky bucket, one request per
    `rateLimit` ms, which queues the twentieth order a second behind the first. Unset: 60 on
    binance (its limits are weight per minute, and ccxt's costs are fractions of that budget),
    0 elsewhere."""
    options: dict[str, Any] = {}
    """Extra ccxt options for this account (never keys)."""
    candles_from: Literal["klines", "trades"] = "klines"
    """Where a paper or live bot's candles come from: the exchange's own candles (klines), or
    its public trades (`watch_trades` where `websocket`, else `fetch_trades`), made into
    candles here (`market.trade_feed`). Sim bots read their `market` block instead."""
    trade_grace_secs: Annotated[Number, Field(ge=0, le=60)] = 2.0
    """candles_from trades: a candle is emitted this long after its period ends, unless a trade
    of a later period comes first; a trade for it after that is late (counted, left out)."""
    trade_poll_secs: Annotated[Number, Field(gt=0, le=3600)] = 2.0
    """candles_from trades: ask for new trades this often (and at every period's end + grace)."""

    @model_validator(mode="after")
    def _trade_settings_need_trades(self) -> Self:
        if self.candles_from == "klines" and {"trade_grace_secs", "trade_poll_secs"} & self.model_fields_set:
            raise ValueError("trade_grace_secs and trade_poll_secs apply to candles made from trades: "
                             "add candles_from: trades, or remove them")
        return self

    @field_validator("id")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        import ccxt   # here, not at the top: a sim bot's config has no exchange and never pays ccxt's import

        if value not in ccxt.exchanges:
            raise ValueError(f"unknown exchange {value!r}; ccxt knows {len(ccxt.exchanges)}, e.g. binance, kraken, okx")
        return value

    def max_candle_age_ms(self, timeframe_ms: int) -> int:
        """`max_candle_age_secs`, or its default for a bot of `timeframe_ms`, in ms."""
        if self.max_candle_age_secs is not None:
            return int(self.max_candle_age_secs * 1000)
        return int(self.poll_delay_secs * 1000) + timeframe_ms // 2

    @property
    def account_key(self) -> tuple[str, str]:
        return (self.id, self.account)
