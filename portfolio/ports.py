"""The surface the runner needs from a portfolio. `portfolio.Portfolio` implements it."""

from __future__ import annotations

from typing import Any, Protocol

from execution.models import Fill


class PortfolioManager(Protocol):
    """One bot's ledger: the risk engine sizes and limits orders from it, the runner books fills
    into it and marks it."""

    cash: float
    quantity: float
    peak_equity: float
    last_price: float

    def apply_fill(self, fill: Fill) -> None: ...

    def mark(self, price: float) -> float: ...

    @property
    def equity(self) -> float: ...

    @property
    def position_value(self) -> float: ...

    def snapshot(self) -> dict[str, Any]: ...
