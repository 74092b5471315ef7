"""Importing this module registers the strategies that ship with botrunner."""

from strategies import bollinger_breakout, ema_cross, hybrid, rsi_reversion, sma_cross, sma_trend

# Imported for their registration, which runs on import; named here so the imports read as used.
__all__ = ["bollinger_breakout", "ema_cross", "hybrid", "rsi_reversion", "sma_cross", "sma_trend"]
