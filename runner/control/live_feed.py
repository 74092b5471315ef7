"""What the dashboard follows: every bot as one compact row, sampled once a tick, and what
changed since the last tick, encoded once and sent to every open dashboard.

Made for a thousand bots and many dashboards: the bots are read once per tick whatever the
number of viewers, and not at all while no dashboard is open (at ten thousand bots a tick is
tens of milliseconds of the event loop). A viewer gets one snapshot on connecting and then only
changed cells (`[field index, value]` pairs per bot), and a viewer too slow to keep up is
disconnected rather than buffered without bound (its EventSource reconnects and starts from a
snapshot).

The same samples feed each bot's `EquityHistory`, seeded from its journalled fills; after a
stretch with no viewer, the fills of that stretch are added before the next sample.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from loguru import logger

from runner.control.equity_history import EquityHistory
from runner.control.status import BotStatus

__all__ = ["BotSample", "DashboardFeed", "FIELDS", "JournalView", "sample_of"]

# A row's cells, in this order; the page reads the names from the snapshot. Not the candle count:
# it moves every candle of every bot, and the last candle's time says as much. Not the model's
# hit rate either: it takes a query per bot (the bot's detail shows it, from /bots/{id}).
FIELDS = ("id", "state", "mode", "symbol", "timeframe", "strategy", "position", "equity", "pnl",
          "last_candle_ts_ms", "trades", "errors", "problem")
_EQUITY, _CANDLE_TS_MS = FIELDS.index("equity"), FIELDS.index("last_candle_ts_ms")


class BotSample(NamedTuple):
    """One bot at one tick: its dashboard row (FIELDS, money rounded to cents and positions to
    1e-8, so a change below what the page shows sends nothing) and its candle count.
    `BotManager.dashboard_samples()` builds these straight from its runners: a BotStatus per bot
    per tick (a validated pydantic model) cost 50 ms a second with a thousand bots."""

    row: tuple
    bars: int


class JournalView(Protocol):
    """The daemon's journal as the dashboard reads it (`SqliteJournal`): a bot's fills seed its
    equity history, and its latest events are shown."""

    def recent(self, bot_id: str, *, kinds: tuple[str, ...] | None = None, limit: int = 50) -> list[Any]: ...


def sample_of(status: BotStatus) -> BotSample:
    """The sample of a bot known by its status (what any BotControl can give)."""
    candle_ts_ms = _ts_ms(status.last_candle_time) if status.last_candle_time else None
    return BotSample((status.id, status.state, status.mode, status.symbol, status.timeframe, status.strategy,
                      round(status.position, 8), round(status.equity, 2), round(status.pnl, 2), candle_ts_ms,
                      status.trades, status.errors, status.kill_reason or status.last_error), status.bars)


class DashboardFeed:
    """Samples the bots every `interval_secs` while a dashboard is open on the daemon.

    `subscribe()` gives a viewer its inbox of encoded server-sent events; `None` in it means
    "disconnect". `run()` samples until cancelled, only while someone subscribes; `close()`
    disconnects every viewer (at shutdown, so that the server need not wait for streams that
    never end)."""

    def __init__(self, samples: Callable[[], Iterable[BotSample]], *, fills: JournalView | None = None,
                 interval_secs: float = 1.0, history_points: int = 1000, seed_fills: int = 2000,
                 inbox_events: int = 30) -> None:
        self._samples = samples                 # BotControl.dashboard_samples
        self._fills = fills
        self.interval_secs = interval_secs
        self._history_points = history_points
        self._seed_fills = seed_fills
        self._inbox_events = inbox_events
        self._rows: dict[str, tuple] = {}
        self._history: dict[str, EquityHistory] = {}
        self._bars: dict[str, int] = {}
        self._inboxes: set[asyncio.Queue[bytes | None]] = set()
        self._watched = asyncio.Event()         # set while at least one viewer is subscribed
        self._rows_current = False              # sampled since the last viewer left
        self._unwatched_fills = False           # histories may miss fills made while nobody watched
        self.dropped_viewers = 0                # disconnected for falling behind
        self.samples = 0

    @property
    def viewers(self) -> int:
        return len(self._inboxes)

    async def run(self) -> None:
        while True:
            if not self._inboxes:
                # Nobody watching: no sample. The first viewer's snapshot samples afresh.
                await self._watched.wait()
            else:
                try:
                    self.sample()
                except Exception:               # a bad sample must not end the dashboard for good
                    logger.exception("Dashboard sample failed; trying again in {}s", self.interval_secs)
            await asyncio.sleep(self.interval_secs)

    def sample(self) -> None:
        """Read every bot once: record its equity, and send what changed to every viewer."""
        self._sample(publish=True)

    def _sample(self, *, publish: bool) -> None:
        rows: dict[str, tuple] = {}
        catch_up, self._unwatched_fills = self._unwatched_fills, False
        for sample in self._samples():
            bot_id = sample.row[0]
            rows[bot_id] = sample.row
            if catch_up and (history := self._history.get(bot_id)) is not None:
                self._add_fills(bot_id, history)
            self._record_equity(bot_id, sample)
        changed = {bot_id: [[i, cell] for i, (cell, was) in enumerate(zip(row, old)) if cell != was]
                   if (old := self._rows.get(bot_id)) is not None else [[i, cell] for i, cell in enumerate(row)]
                   for bot_id, row in rows.items() if self._rows.get(bot_id) != row}
        removed = [bot_id for bot_id in self._rows if bot_id not in rows]
        for bot_id in removed:
            self._history.pop(bot_id, None)
            self._bars.pop(bot_id, None)
        self._rows = rows
        self._rows_current = True
        self.samples += 1
        if publish and (changed or removed) and self._inboxes:
            self._publish(_event("delta", {"changed": changed, "removed": removed}))

    def snapshot_event(self) -> bytes:
        """Every bot's row, as the event a viewer gets first."""
        if not self._rows_current:             # never sampled, or not since the last viewer left
            # Then the only viewer subscribed is the one about to get this snapshot (it asks for
            # it as it subscribes): a delta from the old rows would only repeat the snapshot.
            self._sample(publish=False)
        return _event("snapshot", {"fields": FIELDS, "rows": list(self._rows.values()),
                                   "interval_secs": self.interval_secs})

    def history(self, bot_id: str, max_points: int | None = None) -> dict[str, list]:
        """The bot's equity and drawdown series (see EquityHistory.series). While no dashboard
        is open nothing is sampled, so a bot's series has its journalled fills and the candles
        seen while one was."""
        history = self._history.get(bot_id)
        if not self._inboxes and self._fills is not None:
            if history is None:
                history = self._history[bot_id] = self._seeded_history(bot_id)
            else:
                self._add_fills(bot_id, history)
        return history.series(max_points) if history is not None else {"ts_ms": [], "equity": [], "drawdown": []}

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[bytes | None]]:
        inbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=self._inbox_events)
        self._inboxes.add(inbox)
        self._watched.set()
        try:
            yield inbox
        finally:
            self._inboxes.discard(inbox)
            self._on_viewer_gone()

    def close(self) -> None:
        """Tell every viewer to disconnect."""
        for inbox in list(self._inboxes):
            _drop_into(inbox)
        self._inboxes.clear()
        self._on_viewer_gone()

    def _on_viewer_gone(self) -> None:
        if not self._inboxes and self._watched.is_set():
            self._watched.clear()
            self._rows_current = False
            self._unwatched_fills = True

    def _publish(self, message: bytes) -> None:
        for inbox in list(self._inboxes):
            if inbox.qsize() >= self._inbox_events - 1:     # room left for the disconnect only
                self.dropped_viewers += 1
                self._inboxes.discard(inbox)
                _drop_into(inbox)
                self._on_viewer_gone()
                logger.info("A dashboard fell {} updates behind; disconnected (it reconnects)", inbox.qsize())
            else:
                inbox.put_nowait(message)

    def _record_equity(self, bot_id: str, sample: BotSample) -> None:
        history = self._history.get(bot_id)
        if history is None:
            history = self._history[bot_id] = self._seeded_history(bot_id)
        candle_ts_ms = sample.row[_CANDLE_TS_MS]
        if sample.bars == self._bars.get(bot_id) or candle_ts_ms is None:
            return
        self._bars[bot_id] = sample.bars
        history.record(candle_ts_ms, sample.row[_EQUITY])

    def _seeded_history(self, bot_id: str) -> EquityHistory:
        history = EquityHistory(self._history_points)
        self._add_fills(bot_id, history)
        return history

    def _add_fills(self, bot_id: str, history: EquityHistory) -> None:
        """The bot's journalled fills after the history's last point (it ignores older ones)."""
        if self._fills is None:
            return
        # Newest first from the journal; a fill's cash and position are after the fill.
        for fill in reversed(self._fills.recent(bot_id, kinds=("fill",), limit=self._seed_fills)):
            data = fill.data
            if "cash" in data and "position" in data:
                history.record(fill.ts_ms, data["cash"] + data["position"] * data["price"])


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
