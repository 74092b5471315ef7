"""Read candle files into checked candles: CSV with a header, or ccxt's OHLCV JSON.

CSV: header `timestamp,open,high,low,close,volume` (any order, any case, extra columns
ignored); timestamps are ISO 8601 (`2022-01-01T00:00:00Z`; no offset means UTC) or epoch
milliseconds, whichever most of the first rows hold. A file without a header is read only
in the ccxt (6 columns) or Binance kline (12 columns) layout, whose first six columns are ours.
JSON: ccxt's `fetch_ohlcv` result, `[[ms, open, high, low, close, volume], ...]`.

No pandas, and numpy only when a file needs it: importing them costs a backtest process more
than reading the file (pandas 0.15 s and up, numpy 0.07 s and up). Two readers give the same
candles, warnings and errors: `market.plain_csv` reads a CSV file whose every line is a good
candle in time order, in plain Python; it declines any other file, which
`market.file_columns` reads into numpy columns and checks (`market.validation`), naming each
rejected row.
"""

from __future__ import annotations

import gzip
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loguru import logger

from market.checked import CleanResult
from market.errors import MarketDataError
from market.models import iso_utc
from market.models import timeframe_ms as timeframe_to_ms

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
MAX_CSV_COLUMNS = 1_000
"""Most columns a candle CSV may have: ours, extra ones ignored (an exporter's indicators, say)."""
_EXPECTED_CSV = f"expected a header line {','.join(COLUMNS)} and one candle per line"
_EXPECTED_JSON = "expected ccxt OHLCV: a list of [timestamp_ms, open, high, low, close, volume] lists"
_EPOCH = re.compile(r"\s*\d+(\.0*)?\s*")
_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)


def load_candles(
    path: Path | str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    timeframe: str | None = None,
) -> CleanResult:
    """The checked candles of a `.csv` or `.json` file whose open time is in [start, end).

    Naive datetimes are UTC. `timeframe` ("1m") is the spacing gaps are measured against;
    None infers it from the data. Bad rows are dropped with a warning naming the line (CSV) or
    item (JSON); see `market.validation.clean_arrays`.

    Raises MarketDataError, its message starting with `path`, when the file cannot be read,
    lacks columns, has an unknown extension, or has no candles left in the range.
    """
    started = time.perf_counter()
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    kind = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else path.suffix.lower()
    if kind not in (".csv", ".json"):
        raise MarketDataError(f"{path}: unknown file type {path.suffix!r}; expected .csv or .json (or .csv.gz, .json.gz)")
    start_ms, end_ms = _ms_or_none(start), _ms_or_none(end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise MarketDataError(f"{path}: end {end} is not after start {start}")

    raw = _read_bytes(path)
    if kind == ".csv" and (columns := _first_line_columns(raw)) > MAX_CSV_COLUMNS:
        # Both readers split the first line into names: ten million of them were half a gigabyte.
        raise MarketDataError(f"{path}: the first line has {columns:,} columns; a candle file has six (twelve for "
                              f"Binance's klines) and at most {MAX_CSV_COLUMNS:,} are read: is this a candle file?")
    timeframe_ms = timeframe_to_ms(timeframe) if timeframe else None
    # A file whose every line is a good candle, in order, is read without numpy (most files, and
    # a backtest process then never imports it); any other goes to the column reader, which
    # names each bad row, sorts a file written newest first and reads ccxt's JSON.
    result = None
    if kind == ".csv":
        from market.plain_csv import read_plain_csv

        result = read_plain_csv(path, raw, start_ms=start_ms, end_ms=end_ms, timeframe_ms=timeframe_ms)
    if result is None:
        from market.file_columns import load_columns

        result = load_columns(path, raw, kind, start_ms=start_ms, end_ms=end_ms, start=start, end=end,
                              timeframe_ms=timeframe_ms)
    first, last = result.candles[0].ts_ms, result.candles[-1].ts_ms
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info("Loaded {} candles from {} ({} .. {}), {} rows skipped, in {:.0f} ms", len(result.candles), path,
                iso_utc(first), iso_utc(last), sum(result.rejected.values()), elapsed_ms)
    return result


def _read_bytes(path: Path) -> bytes:
    raw = _read_raw(path)
    if raw[:2] == b"\x1f\x8b":
        if path.suffix.lower() != ".gz":
            raise MarketDataError(f"{path}: the file is gzip-compressed, not text; name it {path.name}.gz "
                                  "to have it read, or decompress it")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise MarketDataError(f"{path}: cannot decompress ({exc})") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise MarketDataError(f"{path}: the file is UTF-16 text; save it as UTF-8 (CSV or JSON)")
    return raw


def _read_raw(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MarketDataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MarketDataError(f"{path}: is a directory; expected a candle file") from None
    except OSError as exc:
        raise MarketDataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _first_line_columns(raw: bytes) -> int:
    """Columns of `raw`'s first line, counted in place: splitting off the line copied the whole
    rest of the file (96 ms and 106 MB more for a 106 MB file)."""
    line_end = raw.find(b"\n")
    line_end = len(raw) if line_end < 0 else line_end
    carriage_return = raw.find(b"\r", 0, line_end)       # old Mac files end lines with CR alone
    if carriage_return >= 0:
        line_end = carriage_return
    return raw.count(b",", 0, line_end) + 1


def _ms_or_none(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH_ZERO) // timedelta(milliseconds=1)
