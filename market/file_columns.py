"""Read a candle file into numpy columns and check them: the reader for files with something to
report, and for ccxt's OHLCV JSON (`market.files.load_candles` comes here when the plain-CSV
reader, `market.plain_csv`, declines a file).

CSV: the file is read 100,000 lines at a time; a chunk whose every line has the header's number
of fields (almost all) is split in one `str.split` and each column converted by numpy in C: about
40 ms for the 45,000-row month of 1m candles, near pandas' 30 ms (a million rows take ~20%
longer than pandas did, in no more memory). Other chunks go line by line (the csv module where
fields are quoted), and a column with an unreadable value is converted value by value. Either
way a missing field or a value that is not a number is NaN, fields beyond the header's count
are ignored, and the row is then rejected by name (`market.validation`).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Callable

import numpy as np
from loguru import logger

from market.errors import MarketDataError
from market.files import _EPOCH, _EPOCH_ZERO, _EXPECTED_CSV, _EXPECTED_JSON, COLUMNS
from market.models import iso_utc
from market.validation import CleanResult, clean_arrays

_CHUNK_ROWS = 100_000   # CSV lines converted at a time


@dataclass(slots=True)
class _Table:
    """A file's rows as columns, before any checks. `numbers[i]` is row i's line or item number."""

    columns: list[np.ndarray]  # ts_ms (float64, NaN if unreadable), open, high, low, close, volume
    numbers: np.ndarray
    row_name: str  # "line" or "item"
    malformed: np.ndarray  # rows with the wrong number of fields or items


def load_columns(path: Path, raw: bytes, kind: str, *, start_ms: int | None, end_ms: int | None,
                 start: datetime | None, end: datetime | None, timeframe_ms: int | None) -> CleanResult:
    """The checked candles of file `path`, whose bytes are `raw` and kind ".csv" or ".json",
    with their open time in [start_ms, end_ms) (`start` and `end` as given, for messages).
    Raises MarketDataError as `market.files.load_candles` says."""
    table = _oldest_first(path, _READERS[kind](path, raw))
    ts = table.columns[0]
    if not len(ts):
        expected = _EXPECTED_JSON if table.row_name == "item" else _EXPECTED_CSV
        raise MarketDataError(f"{path}: no candles; {expected}")
    keep = np.ones(len(ts), dtype=bool)
    with np.errstate(invalid="ignore"):  # NaN timestamps stay in, to be reported as bad rows
        if start_ms is not None:
            keep &= ~(ts < start_ms)
        if end_ms is not None:
            keep &= ~(ts >= end_ms)
    numbers = table.numbers[keep]
    result = clean_arrays(
        *(column[keep] for column in table.columns),
        source=str(path),
        label=lambda i: f"{table.row_name} {numbers[i]}",
        timeframe_ms=timeframe_ms,
        flagged={"malformed": table.malformed[keep]},
    )
    if not result.candles:
        raise MarketDataError(_nothing_left(path, ts, keep, result, start, end))
    dropped = sum(result.rejected.values())
    if dropped > len(result.candles):   # a file that loses most of its rows is not the data it claims
        counts = ", ".join(f"{name} {count}" for name, count in result.rejected.items())
        raise MarketDataError(f"{path}: {dropped} of {dropped + len(result.candles)} rows were rejected ({counts}); "
                              "more than half: fix the file rather than trade on what is left")
    return result


def _read_csv(path: Path, raw: bytes) -> _Table:
    if b"\r" in raw and b"\n" not in raw:    # old Mac line ends, CR only: one line to every parser
        raw = raw.replace(b"\r", b"\n")
    first_line = raw.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    names = [name.strip().lower() for name in next(csv.reader([first_line]), [])]
    if not any(names):
        raise MarketDataError(f"{path}: the first line is empty; {_EXPECTED_CSV}")
    if _EPOCH.fullmatch(names[0]):
        if len(names) not in (6, 12):
            raise MarketDataError(f"{path}: no header line and {len(names)} columns; {_EXPECTED_CSV}")
        logger.info("{}: no header line; reading the first six of {} columns as {}",
                    path, len(names), ",".join(COLUMNS))
        positions, header_lines = list(range(6)), 0
    else:
        missing = [name for name in COLUMNS if name not in names]
        if missing:
            # A spreadsheet saved with another separator: one column named "timestamp;open;...".
            other = next((sep for sep in (";", "\t", "|") if len(names) == 1 and sep in first_line), None)
            hint = f" (the header is separated by {other!r}: save the file with commas)" if other else ""
            raise MarketDataError(f"{path}: missing columns {missing}; expected {','.join(COLUMNS)}{hint}")
        positions, header_lines = [names.index(name) for name in COLUMNS], 1
    quoted = b'"' in raw
    ends = _line_ends(raw)
    rows = len(ends) - header_lines
    malformed = np.zeros(rows, dtype=bool) if quoted else _wrong_field_counts(raw, len(names), header_lines, rows)
    epoch: bool | None = None  # the timestamps' format, decided on the first lines
    chunks: list[list[np.ndarray]] = []
    for first in range(0, rows, _CHUNK_ROWS):
        # The bytes of a chunk of lines at a time (a "\n" never occurs inside a UTF-8
        # character): the text and the six field strings of every line are alive for one chunk,
        # never for the whole file (a 1M-line file would hold 6M strings at once).
        last = min(first + _CHUNK_ROWS, rows) - 1
        begin = int(ends[header_lines + first - 1]) + 1 if header_lines + first else 0
        text = _decode(path, raw[begin:int(ends[header_lines + last]) + 1]).replace("\r\n", "\n")
        if text.endswith("\n"):
            text = text[:-1]
        texts = _columns(text, last - first + 1, len(names), positions, quoted=quoted,
                         regular=not malformed[first:last + 1].any())
        if epoch is None:
            epoch = _epoch_timestamps(texts[0])
        columns = [_floats(texts[0]) if epoch else _iso_column_ms(texts[0])] + [_floats(c) for c in texts[1:]]
        chunks.append([*columns, _filled(columns, texts)])   # blank lines come through as rows of NaN
    if header_lines and len(ends):
        _decode(path, raw[:int(ends[0])])                       # the header must be UTF-8 too
    if not chunks:
        return _Table([np.empty(0)] * 6, np.empty(0, dtype=np.int64), "line", malformed)
    *columns, filled = (np.concatenate(parts) for parts in zip(*chunks))
    if epoch:
        _check_epoch_unit(path, columns[0])
    numbers = np.flatnonzero(filled) + header_lines + 1
    return _Table([column[filled] for column in columns], numbers, "line", malformed[filled])


def _line_ends(raw: bytes) -> np.ndarray:
    """Byte offset of the "\n" ending each line, or of the end of a last line without one."""
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
    if raw and not raw.endswith(b"\n"):
        ends = np.append(ends, len(raw))
    return ends


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MarketDataError(f"{path}: cannot read as CSV ({exc}); {_EXPECTED_CSV}") from None


def _columns(text: str, lines: int, width: int, positions: list[int], *, quoted: bool,
             regular: bool) -> list[list[str]]:
    """The fields at `positions` of each of the `lines` lines of `text`, one list of strings per column."""
    if regular and not quoted:
        # Every line has `width` fields: one split of the whole text, and a column is every
        # width-th field (a C-level slice, no per-line work).
        fields = text.replace("\n", ",").split(",")
        if len(fields) == lines * width:
            return [fields[position::width] for position in positions]
    rows = csv.reader(text.split("\n")) if quoted else (line.split(",") for line in text.split("\n"))
    return _fields_at(rows, positions)


def _fields_at(rows: Iterable[list[str]], positions: list[int]) -> list[list[str]]:
    """The fields at `positions` of each row, one list per position; a short row (malformed,
    counted by the caller) reads "" past its end. It is padded to the last field read, not to
    the header's width: under a header of ten million columns, that was 80 MB a row."""
    needed = max(positions) + 1
    padding = [""] * needed
    rows = [row if len(row) >= needed else (row + padding)[:needed] for row in rows]
    return [[row[position] for row in rows] for position in positions]


def _floats(texts: list[str]) -> np.ndarray:
    """float64 of each field, NaN where blank or not a number."""
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:                    # a blank or unreadable field somewhere: one by one
        return np.array([_number(text) for text in texts], dtype=np.float64)


def _filled(columns: list[np.ndarray], texts: list[list[str]]) -> np.ndarray:
    """Rows with at least one non-empty field (one that is not a number, or only spaces, counts:
    such a row is rejected by name, not skipped like a blank line)."""
    empty = np.logical_and.reduce([np.isnan(column) for column in columns]) if columns[0].size else np.zeros(0, bool)
    for row in np.flatnonzero(empty).tolist():
        empty[row] = not any(column[row] for column in texts)
    return ~empty


def _read_json(path: Path, raw: bytes) -> _Table:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MarketDataError(f"{path}: JSON nested too deeply; {_EXPECTED_JSON}") from None
    except UnicodeDecodeError as exc:
        raise MarketDataError(f"{path}: not UTF-8 text ({exc}); {_EXPECTED_JSON}") from None
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}"
        raise MarketDataError(f"{path}: not valid JSON ({where}); {_EXPECTED_JSON}") from None
    if not isinstance(data, list) or (data and not any(isinstance(item, list) for item in data)):
        got = f"an object with keys {list(data)[:3]}" if isinstance(data, dict) else _json_kind(data)
        raise MarketDataError(f"{path}: got {got}; {_EXPECTED_JSON}")
    try:  # the fast path: every item a list of at least six numbers
        array = np.array(data, dtype=np.float64).reshape(len(data), -1)
        usable = array.shape[1] >= 6
    except (TypeError, ValueError):
        usable = False
    if usable:
        columns, malformed = list(array[:, :6].T), np.zeros(len(data), dtype=bool)
    else:  # one by one, so a bad item is a rejected row rather than a failed file
        malformed = np.array([not (isinstance(item, list) and len(item) >= 6) for item in data], dtype=bool)
        rows = [[None] * 6 if bad else item[:6] for item, bad in zip(data, malformed)]
        columns = [np.array([_number(value) for value in column], dtype=np.float64) for column in zip(*rows)]
        columns = columns or [np.empty(0)] * 6
    _check_epoch_unit(path, columns[0])
    return _Table(columns, np.arange(len(data)), "item", malformed)


def _oldest_first(path: Path, table: _Table) -> _Table:
    """A file written newest first (most steps go back in time) is sorted, with a warning;
    otherwise every row after the first would be dropped as out of order."""
    steps = np.diff(table.columns[0])
    steps = steps[np.isfinite(steps)]
    if not len(steps) or (steps < 0).sum() <= len(steps) // 2:
        return table
    logger.warning("{}: candles are newest first; sorted them oldest first", path)
    order = np.argsort(table.columns[0], kind="stable")
    return _Table([column[order] for column in table.columns], table.numbers[order], table.row_name,
                  table.malformed[order])


def _epoch_timestamps(texts: list[str]) -> bool:
    """True when the timestamps are epoch ms: most of the first 100 look like one, or every
    field is a number (or blank); else they are ISO 8601. Decided once per file."""
    sample = list(islice(filter(None, texts), 100))
    if sample and sum(1 for text in sample if _EPOCH.fullmatch(text)) > len(sample) / 2:
        return True
    try:
        np.array(texts, dtype=np.float64)
    except ValueError:
        return not any(text and np.isnan(_number(text)) for text in texts)
    return True


# RFC 3339 allows a lower-case `z`. numpy reads it as UTC with a UserWarning (an error under
# `-W error`, noise on a user's terminal) and Python 3.11's fromisoformat refuses it.
_UTC_DESIGNATORS = ("Z", "z")


def _iso_column_ms(texts: list[str]) -> np.ndarray:
    """ISO 8601 fields as epoch ms; no offset or `Z` means UTC. numpy parses a column of
    UTC times in C; one with an offset or an unreadable field goes value by value."""
    naive = [text[:-1] if text[-1:] in _UTC_DESIGNATORS else text for text in map(str.strip, texts)]
    if not any("+" in text or "-" in text[10:] for text in naive):   # a date's own dashes end at 10
        try:
            # numpy warns ("no explicit representation of timezones") on a field it reads as
            # holding a zone, such as a line of `;`-separated values read as one timestamp
            # field: taken as a refusal, so the column goes value by value and says which row.
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                parsed = np.array(naive, dtype="datetime64[us]")
        except (ValueError, Warning):
            pass
        else:
            ms = parsed.astype(np.int64) / 1000.0
            ms[np.isnat(parsed)] = np.nan
            return ms
    return np.array([_iso_ms(text) for text in texts], dtype=np.float64)


def _iso_ms(value: Any) -> float:
    """One ISO 8601 timestamp as epoch ms, NaN if unreadable (the slow path, for far dates)."""
    text = str(value).strip()
    if text[-1:] in _UTC_DESIGNATORS:
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return float("nan")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - _EPOCH_ZERO) / timedelta(milliseconds=1)


def _check_epoch_unit(path: Path, ts: np.ndarray) -> None:
    """Epoch seconds or microseconds read as milliseconds would land in 1970 or year 50,000."""
    finite = ts[np.isfinite(ts)]
    if not len(finite):
        return
    typical = float(np.median(finite))
    unit = "seconds" if typical < 1e11 else "microseconds" if typical >= 1e14 else None
    if unit:
        raise MarketDataError(f"{path}: timestamps such as {typical:.0f} look like epoch {unit}; "
                              "expected epoch milliseconds or ISO 8601")


def _wrong_field_counts(raw: bytes, expected: int, header_lines: int, rows: int) -> np.ndarray:
    """Mask of data rows with other than `expected` fields, by counting commas per line.

    Skipped (all False) when the file quotes fields, as a quoted field may hold commas."""
    if b'"' in raw:
        return np.zeros(rows, dtype=bool)
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if len(buf) and buf[-1] != ord("\n"):
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = np.flatnonzero(buf == ord(","))
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    wrong = fields[header_lines:] != expected
    return wrong if len(wrong) == rows else np.zeros(rows, dtype=bool)


def _nothing_left(path: Path, ts: np.ndarray, keep: np.ndarray, result: CleanResult,
                  start: datetime | None, end: datetime | None) -> str:
    if keep.any() and result.rejected:
        counts = ", ".join(f"{name} {count}" for name, count in result.rejected.items())
        return f"{path}: all {int(keep.sum())} rows were rejected ({counts}); expected valid candles"
    finite = ts[np.isfinite(ts)]
    if len(finite):
        covers = f"the file covers {iso_utc(int(finite.min()))} .. {iso_utc(int(finite.max()))}"
    else:
        covers = "no row has a readable timestamp"
    return f"{path}: no candles from {start or 'the start'} to {end or 'the end'}; {covers}"


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _json_kind(data: Any) -> str:
    if isinstance(data, list):
        return f"a list of {type(data[0]).__name__}"
    return f"a JSON {type(data).__name__}"


_READERS: dict[str, Callable[[Path, bytes], _Table]] = {".csv": _read_csv, ".json": _read_json}
