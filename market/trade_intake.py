"""`TradeIntake`: ccxt trade rows in, each trade once and checked, whichever way it came.

A trade feed reads the same trades twice over: pages of REST that overlap (`since` is the
newest trade's time, so the next page starts with it again), and a websocket beside a REST
catch-up. One rule takes each once with any id scheme: a trade older than the newest one taken
was taken; one at the newest time was taken if its id was seen at that time. (A source that
sent trades out of time order would lose the older ones; Binance's do not.) Trades of one
millisecond are taken in the order of their ids, read as numbers where they are: ccxt sorts
them as text, so "1000" came before "999" and a candle's open could be a later trade.

A row that is not a usable trade (time not an int, price outside `market.limits`, amount
negative or not finite) is dropped with a warning, the first ten of them.
"""

from __future__ import annotations

import math
from typing import Any

from loguru import logger

from market.limits import MAX_PRICE, MAX_VOLUME, MIN_PRICE

_MAX_BAD_TRADE_WARNINGS = 10


class TradeIntake:
    """The trades of rows not taken before, from `since_ms` on (the first period to build)."""

    def __init__(self, source: str, since_ms: int) -> None:
        self._source = source
        self.since_ms = since_ms
        """Time of the newest trade taken (at first: where to start); REST asks from here."""
        self._seen_ids: set[str] = set()    # ids taken at `since_ms`, which the next page repeats
        self.last_trade_ms: int | None = None
        self.bad_trades = 0

    def take(self, rows: list[dict[str, Any]]) -> list[tuple[int, float, float]]:
        """(time ms, price, amount) of each trade in `rows` not taken before, in time order."""
        taken = []
        for row in sorted(rows, key=_time_order):
            trade = self._checked(row)
            if trade is None or trade[0] < self.since_ms:
                continue
            trade_id = str(row.get("id"))
            if trade[0] > self.since_ms:
                self.since_ms, self._seen_ids = trade[0], set()
            elif trade_id in self._seen_ids:
                continue
            self._seen_ids.add(trade_id)
            self.last_trade_ms = trade[0]
            taken.append(trade)
        return taken

    def skip_millisecond(self) -> None:
        """Go on from the millisecond after `since_ms`: its trades not taken yet are left out
        (for a source that cannot page past a full page of them)."""
        self.since_ms += 1
        self._seen_ids = set()

    def _checked(self, row: dict[str, Any]) -> tuple[int, float, float] | None:
        ts, price, amount = row.get("timestamp"), row.get("price"), row.get("amount")
        if (isinstance(ts, int) and isinstance(price, (int, float)) and isinstance(amount, (int, float))
                and MIN_PRICE <= price <= MAX_PRICE and math.isfinite(amount) and 0 <= amount <= MAX_VOLUME):
            return ts, float(price), float(amount)
        self.bad_trades += 1
        if self.bad_trades <= _MAX_BAD_TRADE_WARNINGS:
            logger.warning("{}: trade {} skipped: time {!r}, price {!r}, amount {!r}; expected a time in ms, a price "
                           "within [{:g}, {:g}] and an amount within [0, {:g}]", self._source, row.get("id"), ts, price,
                           amount, MIN_PRICE, MAX_PRICE, MAX_VOLUME)
        return None


def _time_order(row: dict[str, Any]) -> tuple[int, int]:
    """Sort key: the trade's time, then its id where it is a number (else as it came: sorted is stable)."""
    ts, trade_id = row.get("timestamp"), row.get("id")
    return (ts if isinstance(ts, int) else 0, int(trade_id) if isinstance(trade_id, str) and trade_id.isdigit() else 0)
