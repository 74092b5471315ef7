"""Fixtures every integration test may ask for: the Binance stand-in and accounts on it
(tests/standin_exchange.py says what market it serves)."""

from __future__ import annotations

from tests.standin_exchange import account, accounts, clock, standin

__all__ = ["account", "accounts", "clock", "standin"]      # fixtures: pytest finds them by these names
