"""The embedded default bot: what `botrunner backtest` runs with no config file.

Sim mode on seeded synthetic candles, so it needs no data file, no exchange and no keys.
"""

from __future__ import annotations

from runner.config.bot import BotConfig

DEFAULT_BOT = BotConfig.model_validate({
    "id": "demo-sma-cross",
    "mode": "sim",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "capital": 10_000,
    "market": {"source": "synthetic", "seed": 7, "bars": 45_000, "start_price": 30_000},
    "strategy": {"name": "sma_cross", "params": {"fast": 100, "slow": 400}},
    "risk": {"stake_pct": 0.95, "stop_loss_pct": 0.05, "max_drawdown_pct": 0.5},
    "execution": {"fee_rate": 0.001, "slippage_bps": 2},
})


def _demo_bot(bot_id: str, strategy: dict, **extra) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "mode": "sim", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 10_000,
        # A day and more of candles at one a second: it runs "as if live" until stopped.
        "market": {"source": "synthetic", "seed": 11, "bars": 100_000, "start_price": 30_000},
        "speed": 60, "strategy": strategy,
        "risk": {"stake_pct": 0.5, "stop_loss_pct": 0.01}, "execution": {"fee_rate": 0.001}, **extra,
    })


DEMO_BOTS = [
    _demo_bot("demo-sma-cross", {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}),
    _demo_bot("demo-rsi-reversion", {"name": "rsi_reversion", "params": {"period": 14}}),
    _demo_bot("demo-hybrid", {"name": "hybrid", "params": {}}),
]
"""What `botrunner run` runs with no config folder: three bots on one stream of synthetic 1m
candles paced at a candle a second, so `status`, `kill` and `resume` can be tried on them."""

DEMO_DASHBOARD_PORT = 8765
"""Where the demo serves the web dashboard (127.0.0.1) when BOTRUNNER_TOKEN is set."""
