"""The surface the runner needs from a portfolio. `portfolio.Portfolio` implements it."""

from __future__ import annotations

from typing import Any, Protocol

from execution.models import Fill


class PortfolioManager(Protocol):
    cash: float
    quantity: float
    peak_equity: float

    def apply_fill(self, fill: Fill) -> None: ...

    def mark(self, price: float) -> float: ...

    @property
    def equity(self) -> float: ...

    def snapshot(self) -> dict[str, Any]: ...
