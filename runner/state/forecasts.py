"""The forecast store: every forecast a bot's model made, and how right it turned out to be.

One SQLite file in the state folder (`forecasts.sqlite3`, WAL, 0600 like the journal), one row
per forecast, keyed by (bot, model, ts_ms): a sim bot re-running candles after a crash records
the same forecasts again, and each is stored once (the first one stands; see `record`).

A forecast is *pending* until its horizon has passed, then *scored* at the first candle the bot
sees closing at or after `target_ts_ms`, at that candle's close (`score_due`). Scoring, with
`p` the price then, `a` the actual price, `r = a / p - 1` the actual return and `d` the
direction:

- `hit`: 1 when `d = +1` and `r > 0`, or `d = -1` and `r < 0`; else 0. A forecast of direction
  0 has no direction to be right about: its `hit` stays NULL and it is left out of hit rates
  and calibration (any "flat" band would be arbitrary next to the horizon's volatility);
- `abs_error = |a - predicted_price|`, in the quote currency;
- `pct_error = |r - predicted_return|`, a fraction (0.004 = 0.4%). This equals
  `abs_error / p`: the price error relative to the price when the forecast was made;
- `trade_return = d * r`: the simple return of taking the forecast's side at `p` and closing
  at `a`, before fees and slippage (the store knows no bot's fees; this measures the model,
  not a bot). 0 for direction 0.

Pending forecasts live in the file, so they survive a restart: one whose horizon passed while
the daemon was down is scored by the first candle at or after its target time that the bot
sees once it is back.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from market.forecast import Forecast
from runner.state.state_dir import open_wal_database, private_file

__all__ = ["FORECAST_COLUMNS", "FORECASTS_FILE", "ForecastStore", "ForecastStoreMissing", "score_values",
           "where_clause"]

FORECASTS_FILE = "forecasts.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS forecasts (
    bot              TEXT NOT NULL,
    model            TEXT NOT NULL,
    symbol           TEXT NOT NULL,
    ts_ms            INTEGER NOT NULL,
    horizon_ms       INTEGER NOT NULL,
    target_ts_ms     INTEGER NOT NULL,
    price            REAL NOT NULL,
    predicted_price  REAL NOT NULL,
    predicted_return REAL NOT NULL,
    direction        INTEGER NOT NULL,
    confidence       REAL NOT NULL,
    trigger          TEXT NOT NULL,
    actual_price     REAL,
    actual_return    REAL,
    hit              INTEGER,
    abs_error        REAL,
    pct_error        REAL,
    trade_return     REAL,
    scored_ts_ms     INTEGER,
    PRIMARY KEY (bot, model, ts_ms)
);
CREATE INDEX IF NOT EXISTS forecasts_pending ON forecasts (bot, symbol, target_ts_ms)
    WHERE scored_ts_ms IS NULL;
CREATE INDEX IF NOT EXISTS forecasts_by_model ON forecasts (model, symbol);
"""

# The Forecast fields in declaration order: the columns `Forecast(*row)` is built from.
FORECAST_COLUMNS = ("model", "symbol", "ts_ms", "horizon_ms", "price", "predicted_return",
                    "direction", "confidence", "trigger")
_SELECT_FORECAST = f"SELECT {', '.join(FORECAST_COLUMNS)} FROM forecasts"

_SCORE_SQL = ("UPDATE forecasts SET actual_price = ?, actual_return = ?, hit = ?, abs_error = ?, pct_error = ?, "
              "trade_return = ?, scored_ts_ms = ? WHERE bot = ? AND model = ? AND ts_ms = ? AND scored_ts_ms IS NULL")


class ForecastStoreMissing(FileNotFoundError):
    """There is no forecast store at the path given to a reader (`botrunner forecasts` exits 1)."""


def score_values(price: float, predicted_return: float, direction: int,
                 actual_price: float) -> tuple[float, int | None, float, float, float]:
    """`(actual_return, hit, abs_error, pct_error, trade_return)` of a forecast made at `price`
    when the price at its target time is `actual_price`; see the module docstring."""
    actual_return = actual_price / price - 1.0
    hit = None if direction == 0 else int(direction * actual_return > 0)
    abs_error = abs(actual_price - price * (1.0 + predicted_return))
    pct_error = abs(actual_return - predicted_return)
    trade_return = 0.0 if direction == 0 else direction * actual_return   # not -0.0 for a fall
    return actual_return, hit, abs_error, pct_error, trade_return


class ForecastStore:
    """The daemon's forecast store: record forecasts, score them when their horizon passes.

    Like the journal, rows are written into an open transaction and made durable by `commit()`.
    Call it wherever the journal commits (before each snapshot), so a snapshot is never ahead
    of the store: a forecast recorded before the snapshot's candle and lost in a crash would
    never be made again by the re-run.

        store = ForecastStore(state_dir / FORECASTS_FILE)
        store.record("btc-hybrid", forecast)                 # when the model answers
        store.score_due("btc-hybrid", "BTC/USDT", candle.ts_ms + tf_ms, candle.close)  # every candle
        store.commit()
        store.close()

    `read_only=True` opens an existing file for reading only (`botrunner forecasts`, with or
    without a daemon writing it: a WAL reader sees what was committed); raises
    `ForecastStoreMissing` when there is none.
    """

    def __init__(self, path: Path | str, *, durable: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # (bot, symbol) -> the earliest target time of its pending forecasts; absent: none pending.
        # score_due runs once per bot per candle, and almost always has nothing to do: this
        # makes that a dict lookup instead of a query.
        self._next_due: dict[tuple[str, str], int] = {}
        if read_only:
            if not self.path.is_file():
                raise ForecastStoreMissing(
                    f"no forecast store at {self.path}; is --state-dir the daemon's state folder?")
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
            return
        private_file(self.path)          # 0600 before SQLite opens it; its -wal and -shm files follow
        self._db = open_wal_database(
            self.path, _SCHEMA, durable=durable,
            unreadable="{path}: not a forecast store the daemon can read ({error}); restore it, "
                       "or move it away to start afresh (it holds the models' scored forecasts)")
        for bot, symbol, target in self._db.execute(
                "SELECT bot, symbol, MIN(target_ts_ms) FROM forecasts WHERE scored_ts_ms IS NULL GROUP BY bot, symbol"):
            self._next_due[(bot, symbol)] = target

    def record(self, bot_id: str, forecast: Forecast) -> bool:
        """Store `forecast`, made by bot `bot_id`, as pending. Returns False when the store already
        holds a forecast of this bot and model at `forecast.ts_ms` (a re-run after a crash): the
        first one stands, as it is the one whose score counts and a live model asked again may
        answer otherwise. Raises ValueError for a forecast that cannot be scored (NaN or infinite
        numbers, a price <= 0, a horizon <= 0, a direction other than -1, 0, +1, a confidence
        outside [0, 1])."""
        _check(forecast)
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        f = forecast
        target = f.target_ts_ms
        cursor = self._db.execute(
            # Not INSERT OR IGNORE: that would also drop a row breaking NOT NULL, silently.
            "INSERT INTO forecasts (bot, model, symbol, ts_ms, horizon_ms, target_ts_ms, price, "
            "predicted_price, predicted_return, direction, confidence, trigger) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, model, ts_ms) DO NOTHING",
            (bot_id, f.model, f.symbol, f.ts_ms, f.horizon_ms, target, f.price, f.predicted_price,
             f.predicted_return, f.direction, f.confidence, f.trigger))
        if not cursor.rowcount:
            return False
        key = (bot_id, f.symbol)
        if target < self._next_due.get(key, target + 1):
            self._next_due[key] = target
        return True

    def due(self, bot_id: str, symbol: str, up_to_ts_ms: int) -> list[Forecast]:
        """The bot's pending forecasts on `symbol` whose target time is at or before `up_to_ts_ms`,
        earliest target first."""
        rows = self._db.execute(
            f"{_SELECT_FORECAST} WHERE bot = ? AND symbol = ? AND scored_ts_ms IS NULL AND target_ts_ms <= ? "
            "ORDER BY target_ts_ms, ts_ms, model", (bot_id, symbol, up_to_ts_ms))
        return [Forecast(*row) for row in rows]

    def pending(self, bot_id: str, symbol: str) -> int:
        """How many of the bot's forecasts on `symbol` wait for their horizon to pass."""
        return self._db.execute("SELECT COUNT(*) FROM forecasts WHERE bot = ? AND symbol = ? AND scored_ts_ms IS NULL",
                                (bot_id, symbol)).fetchone()[0]

    def score(self, bot_id: str, model: str, ts_ms: int, actual_price: float, scored_ts_ms: int) -> bool:
        """Score the bot's forecast by `model` made at `ts_ms` against `actual_price`, the close of
        the candle closing at `scored_ts_ms`. Returns False when there is no such pending forecast
        (unknown, or already scored: a forecast is scored once). Raises ValueError for a price
        that is not finite and > 0."""
        _check_price(actual_price, "actual price")
        row = self._db.execute(
            "SELECT symbol, price, predicted_return, direction FROM forecasts "
            "WHERE bot = ? AND model = ? AND ts_ms = ? AND scored_ts_ms IS NULL", (bot_id, model, ts_ms)).fetchone()
        if row is None:
            return False
        symbol, price, predicted_return, direction = row
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.execute(_SCORE_SQL, (actual_price, *score_values(price, predicted_return, direction, actual_price),
                                      scored_ts_ms, bot_id, model, ts_ms))
        self._refresh_next_due(bot_id, symbol)
        return True

    def score_due(self, bot_id: str, symbol: str, candle_close_ts_ms: int, close_price: float) -> int:
        """Score every pending forecast of the bot on `symbol` whose target time is at or before
        `candle_close_ts_ms`, at `close_price`; return how many. Called once per candle: when
        nothing is due it is a dict lookup and runs no SQL. `Candle.ts_ms` is the candle's open
        time: pass `candle.ts_ms + timeframe_ms` and `candle.close`."""
        next_due = self._next_due.get((bot_id, symbol))
        if next_due is None or candle_close_ts_ms < next_due:
            return 0
        _check_price(close_price, "close price")
        rows = self._db.execute(
            "SELECT model, ts_ms, price, predicted_return, direction FROM forecasts "
            "WHERE bot = ? AND symbol = ? AND scored_ts_ms IS NULL AND target_ts_ms <= ?",
            (bot_id, symbol, candle_close_ts_ms)).fetchall()
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.executemany(_SCORE_SQL, [
            (close_price, *score_values(price, predicted_return, direction, close_price),
             candle_close_ts_ms, bot_id, model, ts_ms)
            for model, ts_ms, price, predicted_return, direction in rows])
        self._refresh_next_due(bot_id, symbol)
        return len(rows)

    def next_due_ts_ms(self, bot_id: str, symbol: str) -> int | None:
        """The earliest target time of the bot's pending forecasts on `symbol`, None if none."""
        return self._next_due.get((bot_id, symbol))

    def forecasts(self, *, bot: str | None = None, model: str | None = None,
                  symbol: str | None = None) -> list[Forecast]:
        """The stored forecasts (pending and scored), oldest first, optionally of one bot, model
        or symbol."""
        where, args = where_clause(bot=bot, model=model, symbol=symbol)
        rows = self._db.execute(f"{_SELECT_FORECAST}{where} ORDER BY ts_ms, model, symbol, bot", args)
        return [Forecast(*row) for row in rows]

    def query(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        """Run a read query on the store's connection (`forecast_report` aggregates with it)."""
        return self._db.execute(sql, args)

    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def close(self) -> None:
        if not self.read_only:
            self.commit()
        self._db.close()

    def _refresh_next_due(self, bot_id: str, symbol: str) -> None:
        target = self._db.execute(
            "SELECT MIN(target_ts_ms) FROM forecasts WHERE bot = ? AND symbol = ? AND scored_ts_ms IS NULL",
            (bot_id, symbol)).fetchone()[0]
        if target is None:
            self._next_due.pop((bot_id, symbol), None)
        else:
            self._next_due[(bot_id, symbol)] = target


def where_clause(*, bot: str | None, model: str | None, symbol: str | None) -> tuple[str, list[str]]:
    """A `WHERE` clause (empty when no filter is set) selecting rows of this bot, model and
    symbol, with its arguments."""
    conditions = [(column, value) for column, value in (("bot", bot), ("model", model), ("symbol", symbol))
                  if value is not None]
    if not conditions:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column, _ in conditions), [v for _, v in conditions]


def _check(f: Forecast) -> None:
    problem = None
    if not (math.isfinite(f.price) and f.price > 0):
        problem = f"price {f.price}"
    elif not math.isfinite(f.predicted_return):
        problem = f"predicted_return {f.predicted_return}"
    elif f.direction not in (-1, 0, 1):
        problem = f"direction {f.direction}"
    elif not 0.0 <= f.confidence <= 1.0:          # False for NaN too
        problem = f"confidence {f.confidence}"
    elif f.horizon_ms <= 0:
        problem = f"horizon_ms {f.horizon_ms}"
    if problem:
        raise ValueError(f"cannot store forecast of {f.model} on {f.symbol} at {f.ts_ms}: bad {problem}")


def _check_price(price: float, what: str) -> None:
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"cannot score forecasts at {what} {price}: not a finite price > 0")
