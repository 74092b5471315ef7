"""`TrackedOrder`: what `LiveExecution` knows of one order it follows until the exchange is done with it.

An order is followed in one of two states: OPEN (the exchange has it and its exchange id is
known: it is polled by id) or UNKNOWN (the outcome of its submission is not known, or the
exchange no longer finds it by id: it is looked up by client order id). Its fills are counted
once each, by trade id, whichever reply brings them (the order's own reply or its trade list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from execution.models import Fill, Order, OrderType

__all__ = ["DONE_STATUSES", "OrderState", "TrackedOrder"]

DONE_STATUSES = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})
"""ccxt order statuses after which the exchange neither fills nor cancels the order any more."""


class OrderState(Enum):
    OPEN = "open"           # the exchange has it; `exchange_id` known
    UNKNOWN = "unknown"     # its outcome is not known: looked up by client order id


@dataclass(slots=True, eq=False)
class TrackedOrder:
    """An order the engine follows until it is done: its state, its exchange id once known, and
    the totals of the trades seen so far."""

    order: Order
    state: OrderState
    exchange_id: str | None = None
    filled_qty: float = 0.0          # from the trades seen so far (`fill_ids`)
    notional: float = 0.0
    base_fees: float = 0.0
    not_found: int = 0
    settle_after_ms: int | None = None   # exchange time past which "not found" is final
    fill_ids: set[str] = field(default_factory=set)
    last_fill_ts_ms: int = 0         # exchange time of the latest trade seen

    def count(self, fill: Fill) -> bool:
        """Add `fill` to the totals; False (and nothing added) when it was counted before."""
        if fill.fill_id in self.fill_ids:
            return False
        self.fill_ids.add(fill.fill_id)
        self.base_fees += fill.base_fee
        self.filled_qty += fill.quantity
        self.notional += fill.quantity * fill.price
        self.last_fill_ts_ms = max(self.last_fill_ts_ms, fill.ts_ms)
        return True

    def first_candle_of_exits(self, bar_ms: int) -> int:
        """The open time of the first candle of `bar_ms` the protective exits of this entry, found
        done after a restart, see (`LiveExecution.catch_up_exits`). A market entry's: the candle
        its last fill falls in (armed with the order's reply, they saw the rest of it). A limit
        entry's: the first candle opening at or after its last fill (the engine learns a resting
        order filled at a poll after the candle closed, and that candle's range holds prices from
        before the fill: a high the stop would trail from, a low it would take for reached).
        Never one that closed before the entry was decided."""
        fill_ms, decided_ms = self.last_fill_ts_ms, self.order.created_ts_ms
        first_ms = fill_ms - fill_ms % bar_ms if self.order.type is OrderType.MARKET else -(-fill_ms // bar_ms) * bar_ms
        return max(first_ms, decided_ms - decided_ms % bar_ms)

    def lacks_trades(self, filled: float) -> bool:
        """The exchange says `filled` traded: more than the trades seen so far add up to."""
        return filled > self.filled_qty + _tolerance(filled)

    def is_done(self, status: str | None, filled: float) -> bool:
        """Done once the exchange says so (`status`) and every trade it counts (`filled`) has been
        seen: the trade list can lag the order on a real exchange, and the order is then polled again."""
        return status in DONE_STATUSES and self.filled_qty + _tolerance(filled) >= filled


def _tolerance(quantity: float) -> float:
    return 1e-9 * max(1.0, quantity)
