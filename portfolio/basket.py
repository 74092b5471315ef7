"""A basket's ledgers: one cash balance for the bot, one position ledger per symbol.

Each symbol's leg books its own fills into a `LegPortfolio`, a `Portfolio` whose cash is the
basket's `CashLedger`: a leg's buy takes from the cash every leg spends. The leg keeps its own
`flow` (what its fills put in and took out), so a leg's snapshot restores its share of the
cash without knowing the other legs': cash = capital + the flows of every leg.

A leg's `equity`, `mark` and drawdown are the basket's (cash plus every leg's position at its
last price): the risk rules of a leg (daily loss, drawdown) then watch the basket, and any leg
can trip them. A plain bot pays one `is None` a candle for this (`Portfolio.mark` asks whether
its ledger is a basket's).
"""

from __future__ import annotations

from typing import Any

from portfolio.portfolio import Portfolio

__all__ = ["CashLedger", "LegPortfolio"]


class CashLedger:
    """The basket's cash, shared by its legs' ledgers."""

    __slots__ = ("capital", "cash", "legs", "settled")

    def __init__(self, capital: float) -> None:
        if capital <= 0:
            raise ValueError(f"initial capital must be > 0, got {capital}")
        self.capital = float(capital)
        self.cash = float(capital)
        self.legs: dict[str, LegPortfolio] = {}     # symbol -> its current ledger
        self.settled: dict[str, float] = {}         # symbol -> flow of a leg that left the basket

    def settle(self, flows: dict[str, float]) -> None:
        """The flows of legs that left the basket before this process started (their symbol
        retired): what they made or lost stays in the cash. A leg of that symbol attached later
        (it came back) brings its flow itself."""
        for symbol, flow in flows.items():
            if symbol not in self.legs and symbol not in self.settled:
                self.settled[symbol] = flow
                self.cash += flow

    def attach(self, leg: LegPortfolio) -> None:
        """`leg` is now its symbol's ledger: a ledger it replaces (a restarted leg's, a restored
        one's) takes its flow with it."""
        old = self.legs.get(leg.symbol)
        if old is leg:
            return
        if old is not None:
            self.cash -= old.flow
            old.ledger = None
        elif leg.symbol in self.settled:           # it left the basket once and is back
            self.cash -= self.settled.pop(leg.symbol)
        self.legs[leg.symbol] = leg
        self.cash += leg.flow

    def equity(self) -> float:
        """Cash plus every leg's position at its last price."""
        equity = self.cash
        for leg in self.legs.values():
            if leg.quantity:
                equity += leg.quantity * leg.last_price
        return equity

    def open_positions(self) -> list[str]:
        return [symbol for symbol, leg in self.legs.items() if leg.quantity]


class LegPortfolio(Portfolio):
    """One symbol's ledger in a basket; see the module docstring. Detached (a leg replaced or
    retired), it keeps its own view: cash = capital + its flow."""

    __slots__ = ("flow",)                          # and the base's `ledger`, which `Portfolio.mark` reads

    def __init__(self, symbol: str, ledger: CashLedger) -> None:
        self.ledger: CashLedger | None = None      # attached after the base sets the cash
        self.flow = 0.0
        super().__init__(symbol, ledger.capital)
        ledger.attach(self)
        self.ledger = ledger

    # `cash` overrides the base's slot: every `self.cash -= ...` of `apply_fill` lands here.
    @property
    def cash(self) -> float:
        ledger = self.ledger
        return ledger.cash if ledger is not None else self.initial_capital + self.flow

    @cash.setter
    def cash(self, value: float) -> None:
        change = value - self.cash
        self.flow += change
        if self.ledger is not None:
            self.ledger.cash += change

    @property
    def equity(self) -> float:
        ledger = self.ledger
        return ledger.equity() if ledger is not None else self.cash + self.quantity * self.last_price

    def share(self) -> tuple[float, float, float]:
        """This leg's (equity, pnl, cash) as its status row shows them, so that a basket's legs
        add up to the basket and a total over bots counts it once: pnl is what this symbol made
        (its fills' flow, fees included, plus its position at its last price) and an equal part
        of what the symbols that left made; equity is an equal part of the capital plus that pnl;
        cash is that equity less the position. `equity` (the basket's) is what its risk rules watch."""
        value = self.quantity * self.last_price if self.quantity else 0.0
        ledger = self.ledger
        if ledger is None:                         # detached: its own view
            return self.initial_capital + self.flow + value, self.flow + value, self.initial_capital + self.flow
        count = len(ledger.legs) or 1
        pnl = self.flow + value + sum(ledger.settled.values()) / count
        equity = ledger.capital / count + pnl
        return equity, pnl, equity - value

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "flow": self.flow}

    def restored(self, data: dict[str, Any]) -> LegPortfolio:
        """A ledger continuing from `snapshot()`'s `data`, in this one's basket (it replaces this one)."""
        ledger = self.ledger
        assert ledger is not None, "a detached leg is not restored"
        leg = LegPortfolio(data["symbol"], ledger)
        saved = Portfolio.restore({**data, "cash": ledger.capital + data["flow"]})
        for name in Portfolio.__slots__:
            if name not in ("symbol", "cash", "initial_capital", "ledger"):
                setattr(leg, name, getattr(saved, name))
        leg.initial_capital = ledger.capital
        leg.cash = ledger.cash + data["flow"] - leg.flow     # the leg's flow becomes the saved one
        return leg
