"""Read a tick file's rows into numpy columns, before any checks (those are in `market.ticks`).

CSV with a header naming `datetime, symbol, price, volume` (any order, any case, spaces
around names and fields allowed, extra columns ignored; `timestamp` is taken for `datetime`).
A datetime is ISO 8601 (`2024-01-01T00:00:00.123Z`; no offset means UTC, an offset is
converted) or epoch milliseconds, whichever most of the first rows hold, as in candle files
(`market.files`). Only the rows of one symbol are kept; a row's symbol matches the bot's
written either way, `BTC/USDT` or Binance's `BTCUSDT`, in any case.

Speed: the file is converted 200,000 lines at a time, each chunk split in one `str.split`
and its columns turned into floats by numpy in C (the csv module only where fields are
quoted), so a million ticks take about a second, no pandas and no per-row objects.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from market.errors import MarketDataError
from market.file_columns import _check_epoch_unit, _epoch_timestamps, _fields_at, _floats, _iso_column_ms
from market.files import MAX_CSV_COLUMNS, _read_bytes
from market.tick_header import ALIASES as _ALIASES
from market.tick_header import TICK_COLUMNS

EXPECTED_TICKS = "expected a header line datetime,symbol,price,volume and one trade per line"
_CHUNK_ROWS = 200_000


@dataclass(slots=True)
class TickTable:
    """The rows of one symbol (and every malformed row) as columns; `lines[i]` is row i's line."""

    ts_ms: np.ndarray      # float64, NaN where the datetime could not be read
    price: np.ndarray
    volume: np.ndarray
    lines: np.ndarray
    malformed: np.ndarray  # rows without the header's number of fields
    symbols_seen: set[str]


def symbol_spellings(symbol: str) -> set[str]:
    """The ways a tick file may write `symbol` ("BTC/USDT"), upper-cased: with and without '/'."""
    upper = symbol.strip().upper()
    return {upper, upper.replace("/", "")}


def read_tick_table(path: Path, symbol: str) -> TickTable:
    """The rows of `path` whose symbol is `symbol`'s, plus rows too broken to say whose they are.

    Raises MarketDataError (message starting with the path) for an unreadable file, a missing
    header or column, or text that is not UTF-8.
    """
    raw = _read_bytes(path)
    if b"\r" in raw and b"\n" not in raw:
        raw = raw.replace(b"\r", b"\n")
    text = _decode(path, raw).replace("\r\n", "\n")
    header, _, body = text.partition("\n")
    if (columns := header.count(",") + 1) > MAX_CSV_COLUMNS:      # before the header is split into names
        raise MarketDataError(f"{path}: the first line has {columns:,} columns; a tick file has four "
                              f"({','.join(TICK_COLUMNS)}) and at most {MAX_CSV_COLUMNS:,} are read: is this a tick file?")
    try:
        names = [_ALIASES.get(n.strip().lower(), n.strip().lower()) for n in next(csv.reader([header]), [])]
    except csv.Error as exc:
        raise MarketDataError(f"{path}: cannot read the header line ({exc}); {EXPECTED_TICKS}") from None
    if not any(names):
        raise MarketDataError(f"{path}: the first line is empty; {EXPECTED_TICKS}")
    missing = [name for name in TICK_COLUMNS if name not in names]
    if missing:
        raise MarketDataError(f"{path}: missing columns {missing}; {EXPECTED_TICKS}")
    positions = [names.index(name) for name in TICK_COLUMNS]
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    wanted = symbol_spellings(symbol)
    quoted = '"' in body
    # Lines with another number of fields than the header, by their commas (str.count, in C;
    # none is the rule; a chunk with some goes line by line, where quotes are understood).
    commas = np.fromiter(map(str.count, lines, repeat(",")), dtype=np.int64, count=len(lines))
    wrong = commas != len(names) - 1
    parts, seen, epoch = [], set(), None
    for first in range(0, len(lines), _CHUNK_ROWS):
        chunk = lines[first:first + _CHUNK_ROWS]
        try:
            ts_text, symbols, prices, volumes, malformed, blank = _split(
                chunk, len(names), positions, regular=not quoted and not wrong[first:first + _CHUNK_ROWS].any())
        except csv.Error as exc:     # a NUL byte, a quote left open: the file is not CSV there
            raise MarketDataError(f"{path}: cannot read as CSV in lines {first + 2}..{first + 1 + len(chunk)} ({exc}); "
                                  f"{EXPECTED_TICKS}") from None
        distinct = set(symbols)
        seen.update(distinct)
        ours = {s for s in distinct if s.strip().upper() in wanted}
        if ours == distinct and not blank.any():
            rows = None                                    # every row is the symbol's: no copies
        else:
            keep = np.fromiter(map(ours.__contains__, symbols), dtype=bool, count=len(chunk))
            rows = np.flatnonzero((keep | malformed) & ~blank).tolist()
            ts_text, prices, volumes = ([column[i] for i in rows] for column in (ts_text, prices, volumes))
        if epoch is None and ts_text:
            epoch = _epoch_timestamps(ts_text)
        ts = _floats(ts_text) if epoch else _iso_column_ms(ts_text)
        index = np.arange(len(chunk)) if rows is None else np.array(rows, dtype=np.int64)
        parts.append((ts, _floats(prices), _floats(volumes), index + first + 2, malformed[index]))
    if not parts:
        empty = np.empty(0)
        return TickTable(empty, empty, empty, np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), seen)
    ts, price, volume, numbers, malformed = (np.concatenate(column) for column in zip(*parts))
    if epoch:
        _check_epoch_unit(path, ts)
    return TickTable(ts, price, volume, numbers, malformed, {s.strip() for s in seen if s.strip()})


def _split(chunk: list[str], width: int, positions: list[int], *, regular: bool
           ) -> tuple[list[str], list[str], list[str], list[str], np.ndarray, np.ndarray]:
    """The four wanted fields of each line, a mask of lines with another number of fields and
    a mask of blank lines. `regular`: every line is known to have `width` fields, unquoted."""
    if regular:
        fields = ",".join(chunk).split(",")
        if len(fields) == len(chunk) * width:
            nothing = np.zeros(len(chunk), dtype=bool)
            return (*(fields[position::width] for position in positions), nothing, nothing)
    rows = list(csv.reader(chunk))
    if len(rows) != len(chunk):
        raise csv.Error("a quoted field runs past the end of its line")
    blank = np.fromiter((not "".join(row).strip() for row in rows), dtype=bool, count=len(rows))
    malformed = np.fromiter((len(row) != width for row in rows), dtype=bool, count=len(rows)) & ~blank
    return (*_fields_at(rows, positions), malformed, blank)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MarketDataError(f"{path}: cannot read as CSV ({exc}); {EXPECTED_TICKS}") from None
