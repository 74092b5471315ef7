"""What the dashboard follows: every bot as one compact row, sampled once a tick, and what
changed since the last tick, encoded once and sent to every open dashboard.

Made for a thousand bots and many dashboards: the bots are read once per tick whatever the
number of viewers, a viewer gets one snapshot on connecting and then only changed cells
(`[field index, value]` pairs per bot), and a viewer too slow to keep up is disconnected
rather than buffered without bound (its EventSource reconnects and starts from a snapshot).

The same samples feed each bot's `EquityHistory`, seeded from its journalled fills.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from loguru import logger

from runner.control.equity_history import EquityHistory
from runner.control.status import BotStatus

__all__ = ["DashboardFeed", "FIELDS", "FillHistory", "row_of"]

# A row's cells, in this order; the page reads the names from the snapshot.
FIELDS = ("id", "state", "mode", "symbol", "timeframe", "strategy", "position", "equity", "pnl",
          "last_candle_time", "bars", "trades", "errors", "problem", "hit_rate")
_BOTS = "bots"


class FillHistory(Protocol):
    """Where a bot's past equity comes from: `SqliteJournal.recent` in the daemon."""

    def recent(self, bot_id: str, *, kinds: tuple[str, ...] | None = None, limit: int = 50) -> list[Any]: ...


def row_of(status: BotStatus) -> tuple:
    """The dashboard's row for one bot. Money is rounded to cents and positions to 1e-8, so a
    change below what the page shows sends nothing."""
    return (status.id, status.state, status.mode, status.symbol, status.timeframe, status.strategy,
            round(status.position, 8), round(status.equity, 2), round(status.pnl, 2),
            status.last_candle_time, status.bars, status.trades, status.errors,
            status.kill_reason or status.last_error,
            None if status.model is None or status.model.hit_rate is None else round(status.model.hit_rate, 4))


class DashboardFeed:
    """Samples the bots every `interval_secs` for every dashboard open on the daemon.

    `subscribe()` gives a viewer its inbox of encoded server-sent events; `None` in it means
    "disconnect". `run()` samples until cancelled; `close()` disconnects every viewer (at
    shutdown, so that the server need not wait for streams that never end)."""

    def __init__(self, statuses, *, fills: FillHistory | None = None, interval_secs: float = 1.0,
                 history_points: int = 2000, seed_fills: int = 2000, inbox_events: int = 30) -> None:
        self._statuses = statuses               # () -> list[BotStatus]: BotControl.statuses
        self._fills = fills
        self.interval_secs = interval_secs
        self._history_points = history_points
        self._seed_fills = seed_fills
        self._inbox_events = inbox_events
        self._rows: dict[str, tuple] = {}
        self._history: dict[str, EquityHistory] = {}
        self._bars: dict[str, int] = {}
        self._inboxes: set[asyncio.Queue[bytes | None]] = set()
        self.dropped_viewers = 0                # disconnected for falling behind
        self.samples = 0

    @property
    def viewers(self) -> int:
        return len(self._inboxes)

    async def run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:                   # a bad sample must not end the dashboard for good
                logger.exception("Dashboard sample failed; trying again in {}s", self.interval_secs)
            await asyncio.sleep(self.interval_secs)

    def sample(self) -> None:
        """Read every bot once: record its equity, and send what changed to every viewer."""
        statuses = self._statuses()
        rows: dict[str, tuple] = {}
        for status in statuses:
            rows[status.id] = row_of(status)
            self._record_equity(status)
        changed = {bot_id: [[i, cell] for i, (cell, was) in enumerate(zip(row, old)) if cell != was]
                   if (old := self._rows.get(bot_id)) is not None else [[i, cell] for i, cell in enumerate(row)]
                   for bot_id, row in rows.items() if self._rows.get(bot_id) != row}
        removed = [bot_id for bot_id in self._rows if bot_id not in rows]
        for bot_id in removed:
            self._history.pop(bot_id, None)
            self._bars.pop(bot_id, None)
        self._rows = rows
        self.samples += 1
        if (changed or removed) and self._inboxes:
            self._publish(_event("delta", {"changed": changed, "removed": removed}))

    def snapshot_event(self) -> bytes:
        """Every bot's row, as the event a viewer gets first."""
        if not self._rows and not self.samples:
            self.sample()
        return _event("snapshot", {"fields": FIELDS, "rows": list(self._rows.values()),
                                   "interval_secs": self.interval_secs})

    def history(self, bot_id: str, max_points: int | None = None) -> dict[str, list]:
        """The bot's equity and drawdown series (see EquityHistory.series); empty when the
        feed has not seen the bot yet."""
        history = self._history.get(bot_id)
        return history.series(max_points) if history is not None else {"ts_ms": [], "equity": [], "drawdown": []}

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[bytes | None]]:
        inbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=self._inbox_events)
        self._inboxes.add(inbox)
        try:
            yield inbox
        finally:
            self._inboxes.discard(inbox)

    def close(self) -> None:
        """Tell every viewer to disconnect."""
        for inbox in list(self._inboxes):
            _drop_into(inbox)
        self._inboxes.clear()

    def _publish(self, message: bytes) -> None:
        for inbox in list(self._inboxes):
            if inbox.qsize() >= self._inbox_events - 1:     # room left for the disconnect only
                self.dropped_viewers += 1
                self._inboxes.discard(inbox)
                _drop_into(inbox)
                logger.info("A dashboard fell {} updates behind; disconnected (it reconnects)", inbox.qsize())
            else:
                inbox.put_nowait(message)

    def _record_equity(self, status: BotStatus) -> None:
        history = self._history.get(status.id)
        if history is None:
            history = self._history[status.id] = self._seeded_history(status.id)
        if status.bars == self._bars.get(status.id) or status.last_candle_time is None:
            return
        self._bars[status.id] = status.bars
        history.record(_ts_ms(status.last_candle_time), status.equity)

    def _seeded_history(self, bot_id: str) -> EquityHistory:
        history = EquityHistory(self._history_points)
        if self._fills is None:
            return history
        # Newest first from the journal; a fill's cash and position are after the fill.
        for fill in reversed(self._fills.recent(bot_id, kinds=("fill",), limit=self._seed_fills)):
            data = fill.data
            if "cash" in data and "position" in data:
                history.record(fill.ts_ms, data["cash"] + data["position"] * data["price"])
        return history


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n".encode()


def _drop_into(inbox: asyncio.Queue[bytes | None]) -> None:
    try:
        inbox.put_nowait(None)
    except asyncio.QueueFull:               # the reader is gone or stuck: make room for the goodbye
        inbox.get_nowait()
        inbox.put_nowait(None)


def _ts_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
