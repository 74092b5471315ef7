"""Where a bot's events go: order intents, fills, cancels, kill-switch trips, lifecycle changes.

The runner writes one event per order, fill or state change (never per candle). Two journals:

- `MemoryJournal` keeps them in a list: all a backtest needs.
- `SqliteJournal` appends them to an embedded SQLite database (WAL), shared by every bot of a
  daemon. Trading events carry a deterministic `key` (the client order id, the fill id), and a
  key is written once: when a bot re-runs candles after a crash, the events it writes again are
  checked against the ones already there instead of being stored twice. A difference means the
  re-run is not the run that was journalled, and `JournalConflict` stops the bot.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from loguru import logger

from runner.bot.errors import BotMustStayDown
from runner.state.state_dir import open_wal_database
from runner.state.wal_checkpointer import WalCheckpointer


@dataclass(slots=True)
class JournalEvent:
    """One event as recorded; treat it as immutable. Not a frozen dataclass: one is made for each
    order and fill, and a frozen one sets its seven fields through `object.__setattr__` (1.4 us
    against 0.4 us here, ~10% of a sim order's whole cost)."""

    bot_id: str
    kind: str          # "order", "fill", "cancel", "kill", "resume", "lifecycle", "error"
    ts_ms: int         # candle close time for trading events, clock time for the others
    data: dict[str, Any]
    key: str | None = None   # unique per bot and kind when set; see the module docstring
    bar: int = -1            # index of the candle in the bot's stream, -1 when not tied to one
    seq: int = 0             # position in the journal, set when read back


_data_slot = JournalEvent.data        # the slot the dataclass made; `LazyJournalEvent.data` reads it


class LazyJournalEvent(JournalEvent):
    """A `JournalEvent` of an order or a fill whose data dict is made the first time `data` is
    read, from what was passed when it was recorded (`lazy_event`): `make(*args)`, then kept.

    Every order and fill of a backtest is journalled, and a `MemoryJournal` only keeps them:
    building the two dicts of a signal (an order's thirteen fields, a fill's twelve) cost about
    a tenth of a sim signal's decision and fill, for data a report may never read. A journal
    that writes (SQLite, PostgreSQL) reads `data` in `record`, so the intent it stores before an
    order leaves is made then. `args` must be values that do not change afterwards: an `Order`
    or a `Fill` (treated as immutable), and numbers."""

    __slots__ = ("_make", "_args")

    @property
    def data(self) -> dict[str, Any]:
        data = _data_slot.__get__(self)
        if data is None:
            data = self._make(*self._args)
            _data_slot.__set__(self, data)
            self._make = self._args = None     # let go of the order or fill
        return data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:   # the dataclass's __init__ (`dataclasses.replace`, a copy)
        _data_slot.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        # Equal to a plain event with the same fields, as one made eagerly would be.
        if not isinstance(other, JournalEvent):
            return NotImplemented
        return ((self.bot_id, self.kind, self.ts_ms, self.data, self.key, self.bar, self.seq)
                == (other.bot_id, other.kind, other.ts_ms, other.data, other.key, other.bar, other.seq))

    __hash__ = None                        # as a dataclass's with eq and not frozen


_new_lazy = LazyJournalEvent.__new__


def lazy_event(bot_id: str, kind: str, ts_ms: int, make: Callable[..., dict[str, Any]], args: tuple,
               key: str | None, bar: int) -> LazyJournalEvent:
    """The event whose data is `make(*args)`, made when first read (see `LazyJournalEvent`)."""
    event = _new_lazy(LazyJournalEvent)
    event.bot_id, event.kind, event.ts_ms, event.key, event.bar, event.seq = bot_id, kind, ts_ms, key, bar, 0
    _data_slot.__set__(event, None)
    event._make, event._args = make, args
    return event


class Journal(Protocol):
    def record(self, event: JournalEvent) -> int:
        """Append `event`; return its sequence number (0 where the journal has none)."""
        ...

    def commit(self) -> None:
        """Make everything recorded so far durable."""
        ...

    async def group_commit(self) -> None:
        """Make everything recorded so far durable, in one commit with the other callers of this
        event-loop turn; returns once it is."""
        ...


class JournalConflict(BotMustStayDown):
    """An event re-written under an existing key differs from what the journal holds."""


# Set aside when a basket leg's fill is compared with its re-run: the basket's cash after the fill
# is whatever the other legs had done by then, and after a restart each leg re-runs from its own
# snapshot at another pace than the run that was journalled (under load, legs a hundred candles
# apart). The leg's flow is booked as a difference of that cash, so its last bits follow it.
_SHARED_CASH_FIELDS = ("cash", "flow")


def rewritten_alike(journalled: str, data: str) -> bool:
    """Whether `data`, an event's JSON written again under its key, is the `journalled` one. A
    basket leg's fill (it carries the leg's `flow`) is compared without the basket's cash."""
    if journalled == data:
        return True
    if '"flow":' not in data:
        return False
    ours, theirs = json.loads(data), json.loads(journalled)
    if "flow" not in ours:
        return False
    for fields in (ours, theirs):
        for name in _SHARED_CASH_FIELDS:
            fields.pop(name, None)
    return ours == theirs


class MemoryJournal:
    def __init__(self) -> None:
        self.events: list[JournalEvent] = []

    def record(self, event: JournalEvent) -> int:
        self.events.append(event)
        return len(self.events)

    def commit(self) -> None:
        pass

    async def group_commit(self) -> None:
        pass

    def of_kind(self, kind: str) -> list[JournalEvent]:
        return [e for e in self.events if e.kind == kind]


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)   # one encoder: dumps() builds one per call; NaN is a bug, not data
# `JSONEncoder.encode` builds its C encoder anew on every call and tracks every container for
# cycles (an event's data, made by our code, has none): a quarter of what encoding an order cost,
# on the way of every live order before its commit. The same C encoder, made once; the same text.
_C_ENCODER = (json.encoder.c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
                                          True, False, False) if json.encoder.c_make_encoder is not None else None)


def _encode(data: dict[str, Any]) -> str:
    if _C_ENCODER is None:           # a Python without the _json accelerator
        return _ENCODER.encode(data)
    return "".join(_C_ENCODER(data, 0))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT,
    bar     INTEGER NOT NULL,
    ts_ms   INTEGER NOT NULL,
    data    TEXT NOT NULL,
    UNIQUE (bot_id, kind, key)
);
CREATE INDEX IF NOT EXISTS events_by_bot ON events (bot_id, seq);
"""


class SqliteJournal:
    """The daemon's journal: one SQLite file in WAL mode, one row per event.

    Events are written into an open transaction and made durable by `commit()`, which the
    daemon calls before every snapshot it writes (so a snapshot is never ahead of the journal)
    and a live bot calls before an order leaves. A commit per event would cost ~150 us each;
    in a transaction a row costs a few. With `synchronous=NORMAL` a commit survives the process
    being killed (the WAL is in the OS cache); `durable=True` also fsyncs each commit, for
    surviving a power cut. Other processes (`botrunner journal`) see committed events.

    A commit never copies the WAL back into the database (SQLite's automatic checkpoint would,
    in the commit that crosses 1,000 pages: 4 ms or more on the candle whose orders wait for
    that commit); `WalCheckpointer` does it on a thread of its own every
    `_CHECKPOINT_EVERY_COMMITS` commits.
    """

    def __init__(self, path: Path | str, *, durable: bool = False) -> None:
        self.path = Path(path)
        self._db = open_wal_database(
            self.path, _SCHEMA, durable=durable,
            unreadable="{path}: not a journal the daemon can read ({error}); it holds the bots' "
                       "orders, fills and kills: restore it, or move it away to start afresh")
        self._db.execute("PRAGMA wal_autocheckpoint=0")      # see `WalCheckpointer`
        self._checkpointer = WalCheckpointer(self.path)
        self._commits = 0
        self._group_waiters: list[asyncio.Future[None]] = []    # callers of `group_commit` this turn
        self._after_group: list[Callable[[], None]] = []         # `after_group_commit`'s callbacks
        self._listeners: tuple[Callable[[JournalEvent], None], ...] = ()

    def subscribe(self, listener: Callable[[JournalEvent], None]) -> None:
        """Call `listener(event)` for each event stored from now on, as it is stored (on the
        recording bot's task: a listener must only queue). An event re-written under a key the
        journal already holds (a bot re-running candles after a crash) is not stored again, and
        not passed on again. A listener that raises is logged; the bot never sees it."""
        self._listeners = (*self._listeners, listener)

    def record(self, event: JournalEvent) -> int:
        data = _encode(event.data)
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events (bot_id, kind, key, bar, ts_ms, data) VALUES (?, ?, ?, ?, ?, ?)",
            (event.bot_id, event.kind, event.key, event.bar, event.ts_ms, data))
        if cursor.rowcount:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("Journal listener {!r} failed on a {} event", listener, event.kind)
            return cursor.lastrowid
        seq, stored = self._db.execute(
            "SELECT seq, data FROM events WHERE bot_id = ? AND kind = ? AND key = ?",
            (event.bot_id, event.kind, event.key)).fetchone()
        if not rewritten_alike(stored, data):
            raise JournalConflict(
                f"journal already holds {event.kind} {event.key} of bot {event.bot_id} with other values: "
                f"journalled {stored}, now {data}. The data or the bot's code changed since it was written; "
                f"move the bot's state away to start it afresh.")
        return seq

    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")
            self._commits += 1
            if self._commits % _CHECKPOINT_EVERY_COMMITS == 0:
                self._checkpointer.request()

    async def group_commit(self) -> None:
        """`commit()` once for every caller in this event-loop turn. Forty live bots deciding on
        one candle close each journal an intent that must be durable before their order leaves;
        the first caller schedules one COMMIT behind the callbacks already queued (the other
        bots' turns at that candle) and they all wait for it, instead of forty commits in a row.
        Raises what the commit raised, to every caller.

        Each caller waits on a future of its own, so one cancelled while waiting leaves the
        others' (a shared future would need `asyncio.shield`, one more loop turn per caller,
        on the way of every order)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._group_waiters:
            loop.call_soon(self._commit_group)
        self._group_waiters.append(waiter)
        await waiter

    def after_group_commit(self, callback: Callable[[], None]) -> bool:
        """Call `callback` on the loop once the group commit now being gathered is done and its
        callers have taken their next step (a live bot's: its order on the wire); False, and
        nothing scheduled, when no group commit is being gathered. The daemon's snapshots
        wait here, so that the orders of a candle do not wait for them (`Checkpoints.submit_soon`)."""
        if not self._group_waiters:
            return False
        self._after_group.append(callback)
        return True

    def _commit_group(self) -> None:
        waiters, self._group_waiters = self._group_waiters, []
        after, self._after_group = self._after_group, []
        try:
            self.commit()
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()   # retrieved: a waiter cancelled meanwhile must not leave it unread
        else:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        # Queued behind the callers' wake-ups, which `set_result` queued just now.
        loop = asyncio.get_running_loop() if after else None
        for callback in after:
            loop.call_soon(callback)

    def for_bot(self, bot_id: str) -> BotJournal:
        return BotJournal(self, bot_id)

    def events(self, bot_id: str, *, after_seq: int = 0, kinds: tuple[str, ...] | None = None,
               limit: int | None = None) -> list[JournalEvent]:
        sql = "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id = ? AND seq > ?"
        args: list[Any] = [bot_id, after_seq]
        order = " ORDER BY seq"
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
            if not after_seq and _BULK_KINDS.isdisjoint(kinds):
                # A few rows of the bot's whole journal (its kills, resumes, governance decisions,
                # read as it is built): found through the (bot, kind, key) index and sorted, not
                # by reading every row of the bot in seq order (7 us against 70 for 600 rows).
                sql, order = sql.replace(" AND seq > ?", " AND +seq > ?"), " ORDER BY +seq"
        return self._rows(sql + order, args, limit)

    def basket_events(self, basket_id: str, *, kinds: tuple[str, ...] | None = None,
                      limit: int | None = None) -> list[JournalEvent]:
        """Every leg's events of the basket `basket_id`, in journal order (`botrunner journal
        BASKET`). A leg's id is `<basket>.<base>-<quote>` (runner.config.basket.leg_id) and no
        bot's id holds a dot, so the legs are the ids from "basket." up to "basket/" ('/'
        follows '.'): a range the (bot_id, seq) index reads."""
        sql = "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id > ? AND bot_id < ?"
        args: list[Any] = [f"{basket_id}.", f"{basket_id}/"]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        return self._rows(sql + " ORDER BY seq", args, limit)

    def _rows(self, sql: str, args: list[Any], limit: int | None) -> list[JournalEvent]:
        """The events a SELECT of (seq, bot_id, kind, key, bar, ts_ms, data) reads, at most `limit`."""
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [JournalEvent(bot, kind, ts, json.loads(data), key, bar, seq)
                for seq, bot, kind, key, bar, ts, data in self._db.execute(sql, args)]

    def seq_of(self, bot_id: str, kind: str, key: str) -> int | None:
        """The sequence number of the bot's `kind` event under `key` (None: none journalled),
        through the (bot, kind, key) index: where a read of what followed it starts
        (`runner.bot.journal_follow`, a basket leg's orders past its snapshot)."""
        row = self._db.execute("SELECT seq FROM events WHERE bot_id = ? AND kind = ? AND key = ?",
                               (bot_id, kind, key)).fetchone()
        return row[0] if row is not None else None

    def recent(self, bot_id: str, *, kinds: tuple[str, ...] | None = None, limit: int = 50) -> list[JournalEvent]:
        """The bot's `limit` latest events (of `kinds`), newest first: what the dashboard shows."""
        sql = "SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id = ?"
        args: list[Any] = [bot_id]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        args.append(limit)
        return [JournalEvent(bot, kind, ts, json.loads(data), key, bar, seq)
                for seq, bot, kind, key, bar, ts, data in self._db.execute(sql + " ORDER BY seq DESC LIMIT ?", args)]

    def last_seq(self, bot_id: str) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM events WHERE bot_id = ?", (bot_id,)).fetchone()
        return row[0] or 0

    @property
    def checkpoints(self) -> int:
        """WAL checkpoints done so far by the checkpointer's thread."""
        return self._checkpointer.done

    def close(self) -> None:
        self.commit()
        self._checkpointer.close()
        self._db.close()          # the last connection: SQLite checkpoints and removes the WAL


_BULK_KINDS = frozenset(("order", "fill", "cancel", "lifecycle", "risk"))
"""The kinds a bot journals many of: a read of them goes through the rows in seq order."""

_CHECKPOINT_EVERY_COMMITS = 200
"""A commit adds a few pages to the WAL (the events' table and index pages it changed); 200 of
them keep the WAL near SQLite's own threshold of 1,000 pages."""


class BotJournal:
    """One bot's view of the shared journal; remembers the last sequence number it wrote."""

    __slots__ = ("_journal", "bot_id", "last_seq")

    def __init__(self, journal: SqliteJournal, bot_id: str) -> None:
        self._journal = journal
        self.bot_id = bot_id
        self.last_seq = journal.last_seq(bot_id)

    def record(self, event: JournalEvent) -> int:
        seq = self._journal.record(event)
        self.last_seq = max(self.last_seq, seq)
        return seq

    def commit(self) -> None:
        self._journal.commit()

    async def group_commit(self) -> None:
        await self._journal.group_commit()

    def events(self, *, after_seq: int = 0, kinds: tuple[str, ...] | None = None,
               limit: int | None = None) -> list[JournalEvent]:
        return self._journal.events(self.bot_id, after_seq=after_seq, kinds=kinds, limit=limit)

    def seq_of(self, kind: str, key: str) -> int | None:
        return self._journal.seq_of(self.bot_id, kind, key)
