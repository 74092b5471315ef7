"""A basket's roster in the daemon's snapshot store: its symbols, and what the legs that left made.

A leg's share of the basket's cash (its `flow`) lives in the leg's snapshot, and a restart adds
up the flows of the legs it builds. A symbol that left the basket (its provider dropped it, or
someone deleted it from `symbols:`) has no leg to build any more, so what it made or lost would
drop out of the cash. Each time the daemon learns a basket's legs (at the start, at a reload)
it compares them with the roster it saved last time, `<basket>.roster` beside the legs'
snapshots: a symbol gone is settled, its flow kept in the roster and handed to the basket's
ledger (`CashLedger.settle`) at every start, until its symbol comes back with a leg of its own.

A symbol removed while its leg holds a position is retired at a reload (`runner.basket.retire`,
a provider's by `runner.basket.provider`); one removed while the daemon was down is logged here.
"""

from __future__ import annotations

from typing import Any, Protocol

from loguru import logger

from portfolio.basket import CashLedger
from runner.config.basket import leg_id

__all__ = ["SnapshotPort", "roster_id", "settle_leavers"]


class SnapshotPort(Protocol):
    """The daemon's snapshot store (files, or PostgreSQL): the roster is one more document in it."""

    def read(self, bot_id: str) -> dict[str, Any] | None: ...

    def write(self, bot_id: str, state: dict[str, Any]) -> None: ...


def roster_id(basket: str) -> str:
    """The roster's id in the store (no leg's: a leg's id has a `-` after the dot)."""
    return f"{basket}.roster"


def settle_leavers(store: SnapshotPort, basket: str, symbols: set[str], ledger: CashLedger | None) -> dict[str, float]:
    """Compare `symbols` (the legs configured now) with the saved roster, save the new one and
    return the settled flows (symbol -> flow) of the symbols that left. A leaver's flow is read
    from its ledger when this process has it (`ledger`), else from its last snapshot."""
    saved = _read(store, roster_id(basket)) or {"symbols": [], "settled": {}}
    settled = dict(saved["settled"])
    for symbol in sorted(set(saved["symbols"]) - symbols):
        leg = ledger.legs.get(symbol) if ledger is not None else None
        if leg is not None:
            settled[symbol] = leg.flow
        else:
            state = _read(store, leg_id(basket, symbol))
            settled[symbol] = float(state["portfolio"].get("flow", 0.0)) if state else 0.0
            if state and state["portfolio"].get("quantity"):
                logger.error("Basket {}: {} left its symbols while the daemon was down and its leg holds {} of it; "
                             "nothing closes that position (its value is out of the basket's equity): put {} back "
                             "in symbols: (with on_retire: exit, then delete it at a reload to sell it)",
                             basket, symbol, state["portfolio"]["quantity"], symbol)
    for symbol in symbols:
        settled.pop(symbol, None)             # back in the basket: its leg's snapshot holds its flow
    if saved != (roster := {"symbols": sorted(symbols), "settled": settled}):
        store.write(roster_id(basket), roster)
    return settled


def _read(store: SnapshotPort, document_id: str) -> dict[str, Any] | None:
    try:
        return store.read(document_id)
    except Exception as exc:                 # damaged: the basket starts without it, and says so
        logger.error("Basket state {} unreadable ({}); the flows of symbols that left the basket before are "
                     "not in its cash", document_id, exc)
        return None
