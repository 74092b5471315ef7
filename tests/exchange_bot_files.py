"""The bot file of a paper or live bot trading BTC/USDT 1s candles on the Binance stand-in, for the
tests that start a daemon on a config folder (a daemon process, notifications, cluster nodes).
The stand-in is usually tests/wall_clock_standin.py's; its URL is the bot's `base_url`."""

from __future__ import annotations

from typing import Any

import yaml

# ccxt's binance asks for only what the stand-in serves: spot markets, no currencies, no margins.
STANDIN_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


def exchange_bot_file(bot_id: str, mode: str, base_url: str, *, capital: int = 5_000, slow: int = 4,
                      exchange_extra: dict[str, Any] | None = None, **fields: Any) -> str:
    """The YAML of an sma_cross (fast 2, `slow`) bot staking half its `capital`, polling the
    stand-in at `base_url` every 0.1 s. `exchange_extra` adds to its exchange section (a live
    bot's `api_key_env` and `secret_env`, a paper bot's `account`); `fields` to the bot."""
    exchange = {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.1, "options": STANDIN_OPTIONS,
                **(exchange_extra or {})}
    bot = {"id": bot_id, "mode": mode, "symbol": "BTC/USDT", "timeframe": "1s", "capital": capital,
           "exchange": exchange, "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": slow}},
           "risk": {"stake_pct": 0.5}, **fields}
    return yaml.safe_dump(bot, sort_keys=False)
