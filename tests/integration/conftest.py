"""Fixtures every integration test may ask for: the Binance stand-in and accounts on it
(tests/standin_exchange.py says what market it serves), and runners fed candle by candle on it
(tests/integration/pushed_runners.py)."""

from __future__ import annotations

from tests.integration.pushed_runners import pushed_runners
from tests.standin_exchange import account, accounts, clock, standin

__all__ = ["account", "accounts", "clock", "pushed_runners", "standin"]      # fixtures: pytest finds them by these names
