"""Closed round trips: a position opened from flat and brought back to flat (or reversed)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, unsafe_hash=True)
class Trade:
    """One round trip. `pnl` is net of the fees of every fill in it; `quantity` is the largest
    absolute position reached, signed by direction (negative for a short).

    A value: treat it as immutable. Not declared `frozen`, which sets each field through
    `object.__setattr__` (a microsecond more per round trip of a backtest); it hashes and
    compares by its fields all the same."""

    entry_ts_ms: int
    exit_ts_ms: int
    quantity: float
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    exit_reason: str

    @property
    def is_win(self) -> bool:
        return self.pnl > 0

    def to_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies every field and is ~30x slower.
        return {"entry_ts_ms": self.entry_ts_ms, "exit_ts_ms": self.exit_ts_ms, "quantity": self.quantity,
                "entry_price": self.entry_price, "exit_price": self.exit_price, "pnl": self.pnl,
                "fees": self.fees, "exit_reason": self.exit_reason}
