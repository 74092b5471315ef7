"""Limits across bots: bots that share an exchange account, or a risk group of the daemon's.

| limit | refuses a bot's new entry when, with it, |
|---|---|
| `max_symbol_exposure_pct` | the group's gross exposure on the entry's symbol would pass this share of the group's equity |
| `max_gross_exposure_pct` | the group's gross exposure on all symbols would pass this share of its equity |
| `max_open_positions` | more of the group's bots would hold a position (or have an entry on its way) |
| `max_entries_per_candle` | more entries would leave on the same candle |
| `var` | the value at risk of the group's per-candle equity returns is above `limit_pct` |

Exposure is what the members hold, valued at their last price, plus every entry on its way
(reserved when it leaves, released once its order is done); equity is the members' equity
summed (each bot's share of the account). Exits are never refused.

`reserve` checks and reserves in one synchronous call, with no await between the two, so of two
bots deciding on the same candle, the one the event loop runs first takes the room and the
other is refused when only one fits, whichever runs first. Pure: no I/O; the runner calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from market.limits import Number, WholeNumber
from market.strict import StrictModel
from portfolio.ports import PortfolioManager
from risk.config import VarConfig
from risk.var import ValueAtRisk

__all__ = ["RiskGroup", "RiskGroupLimits", "Reservation"]

_Share = Annotated[Number, Field(gt=0, le=10)]   # above 1: leverage, for a group that has it


class RiskGroupLimits(StrictModel):
    """The limits of one risk group or exchange account, from `daemon.yaml`; each optional."""

    max_symbol_exposure_pct: _Share | None = None
    max_gross_exposure_pct: _Share | None = None
    max_open_positions: Annotated[WholeNumber, Field(ge=1, le=100_000)] | None = None
    max_entries_per_candle: Annotated[WholeNumber, Field(ge=1, le=100_000)] | None = None
    var: VarConfig | None = None
    """VaR and ES of the group's equity (all its bots together), as a bot's `risk.var` is of its own."""


@dataclass(slots=True)
class Reservation:
    """An entry on its way: room taken in the group until its order is done."""

    bot_id: str
    order_id: str
    symbol: str
    notional: float
    candle_ts_ms: int


@dataclass(slots=True)
class _Member:
    symbol: str
    portfolio: PortfolioManager


class RiskGroup:
    """One group's members and the room their entries take; see the module docstring."""

    def __init__(self, name: str, limits: RiskGroupLimits) -> None:
        self.name = name
        self.limits = limits
        self._members: dict[str, _Member] = {}
        self._reserved: dict[str, Reservation] = {}          # by client order id
        self._entries_on: tuple[int, int] = (-1, 0)           # (candle ts, entries reserved on it)
        self.refusals = 0
        var = limits.var
        self._var = ValueAtRisk(var.window, var.confidence, var.method, var.limit_pct) if var is not None else None
        self._last_candle_ms = -1

    def observe(self, candle_ts_ms: int) -> None:
        """A member is about to take the candle closing at `candle_ts_ms`: on the first such call
        for a candle, the group's equity (every member marked at the candle before) is one more
        return for its VaR. Does nothing without a `var` limit."""
        if self._var is not None and candle_ts_ms > self._last_candle_ms:
            self._last_candle_ms = candle_ts_ms
            self._var.on_candle(None, self.equity())

    def join(self, bot_id: str, symbol: str, portfolio: PortfolioManager) -> None:
        """`bot_id` trades `symbol` with `portfolio` in this group (again, after a restart)."""
        self._members[bot_id] = _Member(symbol, portfolio)

    def leave(self, bot_id: str) -> None:
        self._members.pop(bot_id, None)
        for order_id in [o for o, r in self._reserved.items() if r.bot_id == bot_id]:
            del self._reserved[order_id]

    def reserve(self, bot_id: str, order_id: str, symbol: str, notional: float, candle_ts_ms: int) -> str | None:
        """Take room for an entry of `notional` (quote currency) on `symbol`, decided on the
        candle closing at `candle_ts_ms`: None when it fits every limit (the room is then
        taken until `release`), or why it does not (nothing is taken)."""
        limits = self.limits
        equity = self.equity()
        exposure = self.exposure()
        if limits.max_gross_exposure_pct is not None:
            total = sum(exposure.values()) + notional
            if total > limits.max_gross_exposure_pct * equity:
                return self._refuse(f"gross exposure would be {total:.2f} of the group's equity {equity:.2f}, "
                                    f"over its limit of {limits.max_gross_exposure_pct:.2%}")
        if limits.max_symbol_exposure_pct is not None:
            on_symbol = exposure.get(symbol, 0.0) + notional
            if on_symbol > limits.max_symbol_exposure_pct * equity:
                return self._refuse(f"{symbol} exposure would be {on_symbol:.2f} of the group's equity {equity:.2f}, "
                                    f"over its limit of {limits.max_symbol_exposure_pct:.2%}")
        if limits.max_open_positions is not None:
            holding = self.open_positions() | {r.bot_id for r in self._reserved.values()}
            if bot_id not in holding and len(holding) >= limits.max_open_positions:
                return self._refuse(f"{len(holding)} of the group's bots hold or enter positions, its limit is "
                                    f"{limits.max_open_positions}")
        if self._var is not None and (refusal := self._var.refusal()) is not None:
            return self._refuse(f"the group's {refusal.reason}")
        ts, count = self._entries_on
        count = count if ts == candle_ts_ms else 0
        if limits.max_entries_per_candle is not None and count >= limits.max_entries_per_candle:
            return self._refuse(f"{count} entries already left on this candle, the group's limit is "
                                f"{limits.max_entries_per_candle}")
        self._reserved[order_id] = Reservation(bot_id, order_id, symbol, notional, candle_ts_ms)
        self._entries_on = (candle_ts_ms, count + 1)
        return None

    def release(self, order_ids: set[str] | None = None, *, bot_id: str | None = None) -> None:
        """The room of these orders is given back (they are done: filled and booked, or
        refused); with `bot_id`, every reservation of that bot whose order is not in `order_ids`."""
        if bot_id is None:
            for order_id in order_ids or ():
                self._reserved.pop(order_id, None)
            return
        keep = order_ids or set()
        for order_id in [o for o, r in self._reserved.items() if r.bot_id == bot_id and o not in keep]:
            del self._reserved[order_id]

    def has_reservations(self, bot_id: str) -> bool:
        return any(r.bot_id == bot_id for r in self._reserved.values())

    # -- figures -----------------------------------------------------------------------------

    def equity(self) -> float:
        return sum(m.portfolio.equity for m in self._members.values())

    def exposure(self) -> dict[str, float]:
        """Gross exposure per symbol: positions at their last price, plus entries on their way."""
        out: dict[str, float] = {}
        for member in self._members.values():
            p = member.portfolio
            if p.quantity:
                out[member.symbol] = out.get(member.symbol, 0.0) + abs(p.quantity) * p.last_price
        for r in self._reserved.values():
            out[r.symbol] = out.get(r.symbol, 0.0) + r.notional
        return out

    def open_positions(self) -> set[str]:
        return {bot_id for bot_id, m in self._members.items() if m.portfolio.quantity}

    def figures(self) -> dict[str, Any]:
        equity = self.equity()
        exposure = self.exposure()
        gross = sum(exposure.values())
        return {"group": self.name, "bots": len(self._members), "equity": equity,
                "gross_exposure_pct": gross / equity if equity > 0 else None,
                "open_positions": len(self.open_positions()), "entries_on_the_way": len(self._reserved),
                "refusals": self.refusals, **(self._var.figures() if self._var is not None else {})}

    def _refuse(self, reason: str) -> str:
        self.refusals += 1
        return f"risk group {self.name}: {reason}"
