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
