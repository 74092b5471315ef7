"""A basket as one bot for `botrunner status BASKET` and `GET /baskets/{id}`.

Each leg's status row (`GET /bots`) carries its own symbol's figures and its share of the
basket's equity and cash (`LegPortfolio.share`), so totals over bots count a basket once. This
is the other view: the basket whole, its one cash balance and equity, its open positions
against `max_open_positions`, its kill latch, and a line per leg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:                 # the control client imports this module: no risk engine with it
    from runner.basket.group import BasketGroup

__all__ = ["BasketLegStatus", "BasketStatus", "basket_status", "format_basket_status"]


class BasketLegStatus(BaseModel):
    id: str
    symbol: str
    state: str
    position: float
    pnl: float                 # what this symbol made: realized, unrealized, fees (and its part of leavers')
    realized_pnl: float
    unrealized_pnl: float
    retiring: bool             # its symbol left the list while it held a position (on_retire)


class BasketStatus(BaseModel):
    id: str
    state: str                 # killed (the latch), running (a leg runs), starting, else the legs' common state
    capital: float
    cash: float                # the basket's one balance
    equity: float              # cash plus every leg's position at its last price
    pnl: float                 # equity - capital
    open_positions: int
    max_open_positions: int | None       # None: every leg may hold one
    kill_switch: bool
    kill_reason: str
    legs: list[BasketLegStatus]
    candle_spans: str = ""     # sim: the legs' candles cover different spans, so the backtest ends elsewhere


def basket_status(basket_id: str, rows: list[dict[str, Any]], retiring: dict[str, bool],
                  group: BasketGroup | None) -> BasketStatus:
    """The basket from its legs' status rows (`BotSlot.status_row`), whether each is retiring
    (by leg id), and its group (None while no leg has been built: the configured capital)."""
    if group is not None:
        ledger, latch = group.ledger, group.kill_switch
        capital, cash, equity = ledger.capital, ledger.cash, ledger.equity()
        open_positions, limit = len(ledger.open_positions()), group.basket.max_open_positions
        killed, reason = bool(latch.tripped), latch.reason
    else:
        capital = cash = equity = sum(r["equity"] for r in rows)      # no leg built: nothing spent
        open_positions, limit, killed, reason = 0, None, False, ""
    states = {r["state"] for r in rows}
    state = ("killed" if killed or "killed" in states else "running" if "running" in states
             else "starting" if states & {"created", "starting", "restarting"} else ",".join(sorted(states)))
    legs = [BasketLegStatus(id=r["id"], symbol=r["symbol"], state=r["state"], position=r["position"], pnl=r["pnl"],
                            realized_pnl=r["realized_pnl"], unrealized_pnl=r["unrealized_pnl"],
                            retiring=retiring.get(r["id"], False)) for r in rows]
    return BasketStatus(id=basket_id, state=state, capital=capital, cash=cash, equity=equity, pnl=equity - capital,
                        open_positions=open_positions, max_open_positions=limit, kill_switch=killed,
                        kill_reason=reason, legs=legs,
                        candle_spans=group.lockstep.span_note() if group is not None else "")


def format_basket_status(status: BasketStatus) -> str:
    """The basket's figures on three lines, then a line per leg."""
    limit = "no limit" if status.max_open_positions is None else f"max {status.max_open_positions}"
    latch = f"TRIPPED ({status.kill_reason})" if status.kill_switch else "off"
    symbols = "1 symbol" if len(status.legs) == 1 else f"{len(status.legs)} symbols"
    lines = [f"basket {status.id}: {status.state}, {symbols}",
             f"  equity {status.equity:,.2f}  cash {status.cash:,.2f}  pnl {status.pnl:+,.2f}  "
             f"(capital {status.capital:,.2f})",
             f"  open positions {status.open_positions} ({limit})  kill switch {latch}"]
    headers = ("ID", "SYMBOL", "STATE", "POSITION", "PNL", "REALIZED", "UNREALIZED", "")
    rows = [(leg.id, leg.symbol, leg.state, f"{leg.position:.8g}", f"{leg.pnl:+,.2f}", f"{leg.realized_pnl:+,.2f}",
             f"{leg.unrealized_pnl:+,.2f}", "retiring" if leg.retiring else "") for leg in status.legs]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    right = (False, False, False, True, True, True, True, False)
    for cells in (headers, *rows):
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        lines.append(("  " + "  ".join(padded)).rstrip())
    if status.candle_spans:
        lines.append(f"  note: {status.candle_spans}")
    return "\n".join(lines)
