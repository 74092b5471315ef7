"""Importing this module registers the strategies that ship with botrunner."""

from strategies import bollinger_breakout, ema_cross, hybrid, rsi_reversion, sma_cross, sma_trend  # noqa: F401
