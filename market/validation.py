"""Check candles once, where they enter the process, and say what was dropped and why.

After this a `Candle` is trusted (see `market.models`). A bad row is dropped, never repaired: a
guessed price would trade on data nobody saw. Each dropped row gets a warning naming the source
and the row, up to `MAX_ROW_WARNINGS` per source; past that, one summary with counts per reason,
so a broken file of 40,000 rows logs a dozen lines rather than 40,000.

The checks run on numpy columns (45,000 rows take a few milliseconds); only the rows that get a
warning are looked at one by one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import numpy as np
from loguru import logger

from market.checked import CleanResult, find_gaps
from market.limits import MAX_PRICE, MAX_TS_MS, MAX_VOLUME, MIN_PRICE, MIN_TS_MS
from market.models import Candle, iso_utc

MAX_ROW_WARNINGS = 10

# Reason -> what the warning about a row says. A row is rejected for the first reason that
# applies, in the order of `_value_checks`, then duplicate, then out_of_order.
_REASON_TEXT = {
    "bad_timestamp": f"timestamp is missing, not a date or outside {iso_utc(MIN_TS_MS)[:4]}..{iso_utc(MAX_TS_MS)[:4]}",
    "not_finite": "{field} is missing, not a number or infinite",
    "non_positive_price": "{field} is {value}; prices must be > 0",
    "price_out_of_range": f"{{field}} is {{value}}; prices must be within [{MIN_PRICE:g}, {MAX_PRICE:g}]",
    "negative_volume": "volume is {value}; it must be >= 0",
    "volume_out_of_range": f"volume is {{value}}; it must be at most {MAX_VOLUME:g}",
    "high_below_low": "high {high} is below low {low}",
    "open_outside_range": "open {open} is outside [low, high] = [{low}, {high}]",
    "close_outside_range": "close {close} is outside [low, high] = [{low}, {high}]",
    "duplicate": "duplicate timestamp {ts}; kept the first, {first}",
    "out_of_order": "timestamp {ts} is older than the candle before it, {previous}",
    # Loaders flag these themselves (see `flagged`); the checks here never see such a row whole.
    "malformed": "malformed: not the six fields timestamp, open, high, low, close, volume",
}
# An out_of_order row newer than the two rows after it (`_spikes`) is described so.
_NEWER_THAN_NEXT = "timestamp {ts} is newer than the candles after it, from {next}"
_FIELDS = ("open", "high", "low", "close", "volume")


def clean_candles(
    rows: Iterable[tuple[Any, Any, Any, Any, Any, Any, Any]],
    *,
    source: str,
    timeframe_ms: int | None = None,
) -> CleanResult:
    """Drop bad rows from `rows` and report gaps; see `clean_arrays` for the checks.

    Each row is `(row_label, ts_ms, open, high, low, close, volume)`. `row_label` names the row
    in warnings: an int is a 1-based file line number ("line 7"), a str is used as it is
    ("item 3"). A value that is None or not a number is rejected like NaN.
    """
    rows = list(rows)
    labels = [row[0] for row in rows]
    columns = [_floats([row[k] for row in rows]) for k in range(1, 7)]

    def label(i: int) -> str:
        name = labels[i]
        return name if isinstance(name, str) else f"line {name}"

    return clean_arrays(*columns, source=source, label=label, timeframe_ms=timeframe_ms)


def clean_arrays(
    ts_ms: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    *,
    source: str,
    label: Callable[[int], str],
    timeframe_ms: int | None = None,
    flagged: Mapping[str, np.ndarray] | None = None,
) -> CleanResult:
    """The column form of `clean_candles`, for loaders that already hold numpy columns.

    `ts_ms` is float64 (NaN where the timestamp could not be read; floats hold epoch ms exactly);
    `label(i)` names row i in warnings. `flagged` maps a reason of the caller's own (say
    "malformed") to a mask of rows it already knows are bad; those reasons are checked first.

    Rejected: a bad timestamp, NaN/inf values, prices <= 0 or outside [MIN_PRICE, MAX_PRICE]
    (`market.limits`), volume < 0, high < low, open or close
    outside [low, high], a repeated timestamp (the first is kept) and a timestamp older than the
    last accepted one. Gaps are found with `timeframe_ms`, or, when None, with the most common
    spacing of the accepted candles, and reported in one warning (`market.checked.find_gaps`).

    Raises MarketDataError when `timeframe_ms` is given and no two consecutive candles are that
    far apart: the data is another timeframe (a 5m file for a 1m bot), not a file full of gaps.
    """
    # Candles carry whole milliseconds. A fraction (epoch ms `1704067260000.5`, or ISO with
    # microseconds) is cut before the order and duplicate checks, not after: compared as floats,
    # 1704067260000 and 1704067260000.5 are two candles that become one time when cut.
    ts_ms = np.floor(ts_ms)
    n = len(ts_ms)
    reason = np.zeros(n, dtype=np.int8)  # 0 = accepted, k = reasons[k - 1]
    reasons: list[str] = []
    with np.errstate(invalid="ignore"):
        checks = [*(flagged or {}).items(), *_value_checks(ts_ms, open_, high, low, close, volume)]
        for name, mask in checks:
            reasons.append(name)
            reason[(reason == 0) & mask] = len(reasons)

        # A row is in order when it is newer than every accepted row before it. Rows rejected
        # for their values do not count: a row of garbage must not push the rest out of order.
        # One far-future row would make every row after it "older than the one before": it is
        # the row that is out of order, newer than its successor while its neighbours agree.
        valid = np.flatnonzero(reason == 0)
        reasons.append("out_of_order")
        reason[valid[_spikes(ts_ms[valid])]] = len(reasons)
        valid = np.flatnonzero(reason == 0)
        valid_ts = ts_ms[valid]
        previous = np.concatenate(([-np.inf], np.maximum.accumulate(valid_ts)))[:-1]
        reasons.append("duplicate")
        reason[valid[valid_ts == previous]] = len(reasons)
        reason[valid[valid_ts < previous]] = reasons.index("out_of_order") + 1

    accepted = np.flatnonzero(reason == 0)
    counts = np.bincount(reason, minlength=len(reasons) + 1)[1:]
    rejected = {name: int(count) for name, count in zip(reasons, counts) if count}
    columns = (ts_ms, open_, high, low, close, volume)
    if rejected:
        context = _RowContext(columns, accepted, valid, previous, label)
        _warn_rejected(source, reason, reasons, rejected, context)

    ts_int = ts_ms[accepted].astype(np.int64).tolist()
    values = (column[accepted].tolist() for column in columns[1:])
    candles = list(map(Candle._make, zip(ts_int, *values)))
    return CleanResult(candles, rejected, find_gaps(source, ts_int, timeframe_ms))


def _spikes(ts: np.ndarray) -> np.ndarray:
    """Rows newer than the two rows after them while the rows either side of them are in order.
    (Two swapped neighbours are not a spike: the later one is the row out of order, as before.)"""
    spike = np.zeros(len(ts), dtype=bool)
    if len(ts) >= 3:
        before = np.concatenate(([-np.inf], ts[:-3]))
        spike[:-2] = (ts[:-2] > ts[1:-1]) & (ts[:-2] > ts[2:]) & (before < ts[1:-1])
    return spike


def _value_checks(ts_ms, open_, high, low, close, volume) -> list[tuple[str, np.ndarray]]:
    """(reason, mask of rows it rejects), in order; NaN compares False, so later checks see
    only finite values in the rows still in."""
    prices = (open_, high, low, close)
    finite = np.isfinite(open_) & np.isfinite(high) & np.isfinite(low) & np.isfinite(close) & np.isfinite(volume)
    return [
        ("bad_timestamp", ~((ts_ms >= MIN_TS_MS) & (ts_ms < MAX_TS_MS))),   # NaN fails both
        ("not_finite", ~finite),
        ("non_positive_price", np.minimum.reduce(prices) <= 0),
        # 1e-318 is positive, but an order sized from it overflows to infinity.
        ("price_out_of_range", (np.minimum.reduce(prices) < MIN_PRICE) | (np.maximum.reduce(prices) > MAX_PRICE)),
        ("negative_volume", volume < 0),
        ("volume_out_of_range", volume > MAX_VOLUME),
        ("high_below_low", high < low),
        ("open_outside_range", (open_ < low) | (open_ > high)),
        ("close_outside_range", (close < low) | (close > high)),
    ]


class _RowContext:
    """What a warning about one row needs; built only when there is something to warn about."""

    def __init__(self, columns, accepted, valid, previous, label) -> None:
        self.columns, self.accepted, self.valid, self.previous = columns, accepted, valid, previous
        self.label = label

    def detail(self, name: str, i: int) -> str:
        ts, *values = (col[i] for col in self.columns)
        named = dict(zip(_FIELDS, values))
        text = _REASON_TEXT.get(name, name.replace("_", " "))
        if name == "not_finite":
            return text.format(field=next(f for f, v in named.items() if not np.isfinite(v)))
        if name == "non_positive_price":
            bad = next(f for f in _FIELDS[:4] if named[f] <= 0)
            return text.format(field=bad, value=named[bad])
        if name == "price_out_of_range":
            bad = next(f for f in _FIELDS[:4] if not MIN_PRICE <= named[f] <= MAX_PRICE)
            return text.format(field=bad, value=named[bad])
        if name == "duplicate":
            accepted_ts = self.columns[0][self.accepted]
            first = self.accepted[np.searchsorted(accepted_ts, ts)]
            return text.format(ts=iso_utc(int(ts)), first=self.label(int(first)))
        if name == "out_of_order":
            at = int(np.searchsorted(self.valid, i))
            if self.valid[at] != i:
                # A row newer than the two after it (`_spikes`), left out of `valid`; the row
                # after it is in (two spikes cannot follow each other). Not "older than the
                # candle before it": it is not, and the first row has none.
                following = self.columns[0][self.valid[at]]
                return _NEWER_THAN_NEXT.format(ts=iso_utc(int(ts)), next=iso_utc(int(following)))
            return text.format(ts=iso_utc(int(ts)), previous=iso_utc(int(self.previous[at])))
        return text.format(value=named["volume"], **named)


def _warn_rejected(source: str, reason: np.ndarray, reasons: list[str], rejected: dict[str, int],
                   context: _RowContext) -> None:
    bad_rows = np.flatnonzero(reason)
    for i in bad_rows[:MAX_ROW_WARNINGS].tolist():
        name = reasons[reason[i] - 1]
        logger.warning("{} {}: {}; row skipped", source, context.label(i), context.detail(name, i))
    if len(bad_rows) > MAX_ROW_WARNINGS:
        counts = ", ".join(f"{name} {count}" for name, count in rejected.items())
        logger.warning("{}: skipped {} bad rows in all ({}); only the first {} are listed above",
                       source, len(bad_rows), counts, MAX_ROW_WARNINGS)


def _floats(values: list[Any]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_float_or_nan(v) for v in values], dtype=np.float64)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
