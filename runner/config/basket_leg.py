"""What a leg of a basket bot knows of its basket (`runner.config.basket` sets it on each leg).

A basket file (`symbols: [...]`) becomes one ordinary `BotConfig` per symbol, its leg, with
this block filled in; nobody writes it in a bot file. It is a module of its own because both
`runner.config.bot` (the field) and `runner.config.basket` (which makes legs) need it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from market.limits import MAX_CAPITAL, Flag, Number, WholeNumber
from market.strict import StrictModel

__all__ = ["BasketLeg", "OnRetire"]

OnRetire = Literal["exit", "hold"]


class BasketLeg(StrictModel):
    """The basket a leg belongs to, and the rules every leg of it shares."""

    basket: str
    """The basket's id: its legs share one cash balance, one kill switch and `max_open_positions`."""
    stake_amount: Annotated[Number, Field(gt=0, le=MAX_CAPITAL)] | None = None
    stake_fraction: Annotated[Number, Field(gt=0, le=1)] | None = None
    max_open_positions: Annotated[WholeNumber, Field(ge=1, le=10_000)] | None = None
    on_retire: OnRetire = "exit"
    retiring: Flag = False
    """The symbol left the basket's list while the leg held a position (`on_retire: hold`):
    no new entry, its exits as usual, and it leaves once flat."""
