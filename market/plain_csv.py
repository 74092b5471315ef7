"""Read a CSV candle file in plain Python, when every line of it is a good candle in time order.

Most candle files are (`botrunner download-data` writes them so), and for those this is the
whole read: no numpy to import, which costs a backtest process more than the read itself
(about 30 ms for the 45,000 lines of the BTC month, most of it `str.split` and `float`).

Each step is one C-level pass over a column (`map`, `min`, `all`), not Python code per row,
except the timestamps (a dict look-up per day and per time of day). The text is split about
60,000 lines at a time, so the field strings of one piece are alive at once: a million lines
peak at 670 MB, the column reader's 690 MB (1.47 GB split whole), and read in 0.8x its time. The checks are those of
`market.validation`, asked the other way round: not "which rows are bad and why" but "is any
row bad". At the first doubt (a row that fails a check, a duplicate or a row out of order, a
line with another number of fields, a quote, a blank line, a byte beyond ASCII, no header
line, a timestamp neither epoch ms nor like `2022-01-01T00:00:00Z`) the reader declines the
file (returns None) and `market.file_columns` reads it, naming what is wrong. So every warning
and error about a file comes from one place, and the two readers agree on the files this one
accepts (tests/unit/market/test_plain_csv.py compares them).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date
from itertools import islice, repeat
from math import isfinite
from operator import le, lt
from pathlib import Path

from market.checked import CleanResult, find_gaps
from market.files import _EPOCH, COLUMNS
from market.limits import MAX_PRICE, MAX_TS_MS, MAX_VOLUME, MIN_PRICE, MIN_TS_MS
from market.models import Candle

# A timestamp is read as its day, `YYYY-MM-DD`, and the rest: `THH:MM:SS` (or a space for the
# T), a fraction of zeros allowed, with or without `Z` (all UTC). These are forms numpy's
# datetime64 and this reader read alike; offsets and other fractions go to numpy.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_OF_DAY = re.compile(r"[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.0{1,6})?Z?")
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_CHUNK_CHARS = 4_000_000    # about 60,000 lines of candles
_DAY_MS = 86_400_000


def read_plain_csv(path: Path, raw: bytes, *, start_ms: int | None, end_ms: int | None,
                   timeframe_ms: int | None) -> CleanResult | None:
    """The candles of CSV file `path` (its bytes `raw`) opening in [start_ms, end_ms), as
    `market.files.load_candles` gives them; None when any line of the file needs the column
    reader (see the module's docstring), or no candle is in the range.

    Raises MarketDataError when the candles are not `timeframe_ms` apart (`find_gaps`)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if not text.isascii() or '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    body = text.find("\n") + 1     # the lines after the header, up to a last line end
    names = [name.strip().lower() for name in text[:body - 1 if body else None].split(",")]
    if _EPOCH.fullmatch(names[0]) or not set(COLUMNS) <= set(names) or not 0 < body < len(text):
        return None
    positions = [names.index(name) for name in COLUMNS]
    columns: list[list] = [[] for _ in COLUMNS]
    reading = _Timestamps()
    for chunk in _chunks(text, body, len(text) - text.endswith("\n")):
        texts = _fields(chunk, len(names), positions)
        ts = None if texts is None else reading.ms(texts[0])
        if ts is None:
            return None
        try:
            values = [list(map(float, column)) for column in texts[1:]]
        except ValueError:
            return None
        for column, part in zip(columns, (ts, *values)):
            column += part
    ts = columns[0]
    if not (reading.plausible(ts) and _in_order(ts) and _all_good(*columns[1:])):
        return None
    first = 0 if start_ms is None else bisect_left(ts, start_ms)
    last = len(ts) if end_ms is None else bisect_left(ts, end_ms)
    if first >= last:
        return None
    if first or last < len(ts):
        columns = [column[first:last] for column in columns]
    # tuple.__new__ is what Candle._make does, without a Python call per row.
    candles = list(map(tuple.__new__, repeat(Candle), zip(*columns)))
    return CleanResult(candles, {}, find_gaps(str(path), columns[0], timeframe_ms))


def _chunks(text: str, start: int, end: int) -> Iterator[str]:
    """`text[start:end]` in pieces of whole lines, about `_CHUNK_CHARS` each: the field strings
    of one piece are alive at a time, never the whole file's (six million for a million lines).
    Not sliced whole first: that would be a copy of the file."""
    while True:
        cut = text.find("\n", start + _CHUNK_CHARS, end)
        if cut < 0:
            yield text[start:end]
            return
        yield text[start:cut]
        start = cut + 1


def _fields(chunk: str, width: int, positions: list[int]) -> list[list[str]] | None:
    """The fields at `positions` of each line of `chunk`, one list per column; None when a line
    has other than `width` fields (a blank line has one)."""
    if set(map(str.count, chunk.split("\n"), repeat(","))) != {width - 1}:
        return None
    fields = chunk.replace("\n", ",").split(",")
    return [fields[position::width] for position in positions]


class _Timestamps:
    """Reads a file's timestamp fields, piece by piece, as epoch ms or as ISO 8601 (as
    `_DAY` and `_TIME_OF_DAY` say): one form for the whole file, decided on its first piece, as
    the column reader decides it."""

    def __init__(self) -> None:
        self.epoch: bool | None = None
        # Each day and each time of day is checked and worked out once (a month of 1m candles
        # has 31 and 1,440), then a row costs two slices and two look-ups.
        self._days, self._times = _DayMs(), _TimeOfDayMs()

    def ms(self, texts: list[str]) -> list[int] | None:
        """Epoch ms of each field; None for a field in another form than the file's."""
        epoch = all(map(str.isdigit, texts))
        if self.epoch is None:
            self.epoch = epoch
        try:
            if epoch and self.epoch:
                return list(map(int, texts))
            if not self.epoch:
                days, times = self._days, self._times
                return [days[text[:10]] + times[text[10:]] for text in texts]
        except ValueError:   # more digits than int() takes; not a day or a time of day, or one
            pass             # that does not exist (2022-02-30)
        return None

    def plausible(self, ts: list[int]) -> bool:
        """False where the column reader refuses the file: epoch ms whose median looks like
        seconds or microseconds. (In time order, or declined later, the median is between
        these two.)"""
        return not self.epoch or (1e11 <= ts[(len(ts) - 1) // 2] and ts[len(ts) // 2] < 1e14)


class _DayMs(dict):
    """"2022-01-01" -> epoch ms of its midnight, UTC."""

    def __missing__(self, day: str) -> int:
        if not _DAY.fullmatch(day):
            raise ValueError(day)
        self[day] = ms = (date.fromisoformat(day).toordinal() - _EPOCH_DAY) * _DAY_MS
        return ms


class _TimeOfDayMs(dict):
    """"T13:45:00Z" -> ms since midnight."""

    def __missing__(self, rest: str) -> int:
        match = _TIME_OF_DAY.fullmatch(rest)
        if match is None:
            raise ValueError(rest)
        hours, minutes, seconds = map(int, match.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(rest)
        self[rest] = ms = ((hours * 60 + minutes) * 60 + seconds) * 1000
        return ms


def _in_order(ts: list[int]) -> bool:
    """Every timestamp within the bounds and newer than the one before: no duplicate, no row
    out of order, nothing written newest first."""
    return MIN_TS_MS <= ts[0] and ts[-1] < MAX_TS_MS and all(map(lt, ts, islice(ts, 1, None)))


def _all_good(open_: list[float], high: list[float], low: list[float], close: list[float],
              volume: list[float]) -> bool:
    """No row that `market.validation` rejects for its values."""
    prices = (open_, high, low, close)
    # A NaN or an infinity anywhere makes the sum NaN or infinite (so may an overflow of
    # finite volumes: such a file is declined, not misread).
    if not all(isfinite(sum(column)) for column in (*prices, volume)):
        return False
    if (min(map(min, prices)) < MIN_PRICE or max(map(max, prices)) > MAX_PRICE or min(volume) < 0.0
            or max(volume) > MAX_VOLUME):
        return False
    # low <= open <= high also says that high is not below low.
    return (all(map(le, low, open_)) and all(map(le, open_, high))
            and all(map(le, low, close)) and all(map(le, close, high)))
