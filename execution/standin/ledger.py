"""What the stand-in's trades did to an account, for comparing a bot's books with it."""

from __future__ import annotations

from collections.abc import Iterable

from execution.standin.orders import Trade


def base_moved(trades: Iterable[Trade], base: str = "BTC") -> float:
    """The base asset the trades added to the account: bought, less sold, less the fees the
    exchange took in the base asset (Binance takes a buy's fee from the coin received)."""
    moved = 0.0
    for trade in trades:
        qty = float(trade.qty)
        moved += qty if trade.is_buyer else -qty
        if trade.commission_asset == base:
            moved -= float(trade.commission)
    return moved
