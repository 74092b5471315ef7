"""The plain-Python CSV reader (`market.plain_csv`) gives what the numpy column reader gives.

`load_candles` tries the plain reader first and falls back to the column reader
(`market.file_columns.load_columns`) for any file it declines. These tests read the same files
both ways: the candles, the rejected counts, the gaps, every warning and every error must be
the same, and a clean file must be read by the plain reader (so a backtest of it imports no
numpy), not declined.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from market.errors import MarketDataError
from market.file_columns import load_columns
from market import plain_csv
from market.files import COLUMNS, _read_bytes, load_candles
from market.plain_csv import read_plain_csv
from market.synthetic import generate_candles

T0 = 1_640_995_200_000  # 2022-01-01T00:00:00Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CANDLES = generate_candles(count=40, seed=5, start_ms=T0, start_price=40_000.0)

# Forms of a timestamp: those the plain reader reads, then those it leaves to numpy.
PLAIN_STAMPS = {
    "iso_z": lambda ms: _iso(ms) + "Z",
    "iso_naive": lambda ms: _iso(ms),
    "iso_space": lambda ms: _iso(ms).replace("T", " "),
    "iso_zero_fraction": lambda ms: _iso(ms).replace("T", " ") + ".000000",
    "epoch_ms": str,
}
OTHER_STAMPS = {
    "epoch_s": lambda ms: str(ms // 1000),
    "epoch_float": lambda ms: f"{ms}.0",
    "offset": lambda ms: _iso(ms + 3_600_000) + "+01:00",
    "fraction": lambda ms: _iso(ms) + ".5Z",
}
# What a mutation writes into one field of one row.
ODD_VALUES = ["", "nan", "inf", "-inf", "-1", "0", "1e-320", "1e13", " 5 ", "abc", "1_0", "-0", "１", '"7"',
              "99999999999999999999", "2022-02-30T00:00:00Z", "2022-01-01T24:00:00Z", "1640995200", str(T0 + 90_000)]


def _iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S")


@st.composite
def candle_files(draw) -> tuple[str, dict[str, Any], bool]:
    """(file text, load_candles keywords, whether the plain reader must read it itself)."""
    count = draw(st.integers(1, len(CANDLES)))
    stamp_name = draw(st.sampled_from(sorted(PLAIN_STAMPS) + sorted(OTHER_STAMPS)))
    stamp = {**PLAIN_STAMPS, **OTHER_STAMPS}[stamp_name]
    extra_column = draw(st.booleans())
    names = [*COLUMNS, *(["trades"] if extra_column else [])]
    order = draw(st.permutations(names))
    rows = [dict(zip(COLUMNS, (stamp(c.ts_ms), *map(repr, c[1:]))), trades="3") for c in CANDLES[:count]]
    mutations = draw(st.lists(st.tuples(
        st.sampled_from(["value", "swap_high_low", "duplicate", "swap_rows", "delete", "blank", "short", "long"]),
        st.integers(0, len(CANDLES)), st.sampled_from(COLUMNS), st.sampled_from(ODD_VALUES)), max_size=3))
    lines_before: dict[int, str] = {}
    for kind, at, column, value in mutations:
        at %= len(rows)
        if kind == "value":
            rows[at] = {**rows[at], column: value}
        elif kind == "swap_high_low":
            rows[at] = {**rows[at], "high": rows[at]["low"], "low": rows[at]["high"]}
        elif kind == "duplicate":
            rows.insert(at, dict(rows[at]))
        elif kind == "swap_rows" and at + 1 < len(rows):
            rows[at], rows[at + 1] = rows[at + 1], rows[at]
        elif kind == "delete" and len(rows) > 1:
            del rows[at]
        elif kind in ("short", "long"):
            rows[at] = {**rows[at], "__fields__": -1 if kind == "short" else 1}
        elif kind == "blank":
            lines_before[at] = ""
    lines = [",".join(order)]
    for i, row in enumerate(rows):
        if i in lines_before:
            lines.append(lines_before[i])
        fields = [row[name] for name in order]
        change = row.get("__fields__", 0)
        lines.append(",".join(fields[:-1] if change < 0 else fields + ["1"] * change))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = draw(st.sampled_from(["", "\ufeff"])) + newline.join(lines) + draw(st.sampled_from([newline, ""]))
    span = (CANDLES[count - 1].ts_ms - T0) or 60_000
    moments = st.one_of(st.none(), st.integers(T0 - 120_000, T0 + span + 120_000).map(
        lambda ms: EPOCH + timedelta(milliseconds=ms)))
    keywords = {"start": draw(moments), "end": draw(moments), "timeframe": draw(st.sampled_from([None, "1m", "5m"]))}
    clean = not mutations and stamp_name in PLAIN_STAMPS
    return text, keywords, clean


def outcome(read) -> tuple:
    """What a read gives: its candles, rejects, gaps and warnings, or its error's message."""
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        result = read()
    except MarketDataError as exc:
        return ("error", str(exc), warnings)
    finally:
        logger.remove(sink)
    return ("read", result.candles, result.rejected, result.gaps, warnings)


def read_by_columns(path: Path, *, start: datetime | None, end: datetime | None, timeframe: str | None):
    ms = {"start_ms": _ms(start), "end_ms": _ms(end)}
    if ms["start_ms"] is not None and ms["end_ms"] is not None and ms["end_ms"] <= ms["start_ms"]:
        pytest.skip("load_candles refuses the range before any reader sees the file")
    return load_columns(path, _read_bytes(path), ".csv", **ms, start=start, end=end,
                        timeframe_ms={None: None, "1m": 60_000, "5m": 300_000}[timeframe])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=candle_files(), chunk_chars=st.sampled_from([1, 100, plain_csv._CHUNK_CHARS]))
def test_load_candles_gives_what_the_column_reader_gives_for_any_file(tmp_path, case, chunk_chars):
    text, keywords, clean = case
    path = tmp_path / "candles.csv"
    path.write_bytes(text.encode())
    if keywords["start"] and keywords["end"] and keywords["end"] <= keywords["start"]:
        keywords["end"] = None

    with patch.object(plain_csv, "_CHUNK_CHARS", chunk_chars):     # a line, a few lines or the whole file at a time
        loaded = outcome(lambda: load_candles(path, **keywords))

    assert loaded == outcome(lambda: read_by_columns(path, **keywords))
    if clean and loaded[0] == "read":
        plain = read_plain_csv(path, path.read_bytes(), start_ms=_ms(keywords["start"]), end_ms=_ms(keywords["end"]),
                               timeframe_ms={None: None, "1m": 60_000, "5m": 300_000}[keywords["timeframe"]])
        assert plain is not None and plain.candles == loaded[1]


@pytest.mark.parametrize("first, then", [("iso_z", "epoch_ms"), ("epoch_ms", "iso_z")])
@pytest.mark.parametrize("chunk_chars", [1, plain_csv._CHUNK_CHARS])
def test_a_file_whose_timestamps_change_form_part_way_is_read_as_the_column_reader_reads_it(
        write_file, first, then, chunk_chars):
    # The column reader takes the form of the first lines for the whole file: a later line in
    # the other form is a bad timestamp even where it is in order, whichever piece it is in.
    stamps = [PLAIN_STAMPS[first]] * 20 + [PLAIN_STAMPS[then]] + [PLAIN_STAMPS[first]] * 19
    lines = [",".join(COLUMNS), *(",".join([stamp(c.ts_ms), *map(repr, c[1:])]) for stamp, c in zip(stamps, CANDLES))]
    path = write_file("mixed.csv", "\n".join(lines) + "\n")

    with patch.object(plain_csv, "_CHUNK_CHARS", chunk_chars):
        loaded = outcome(lambda: load_candles(path, timeframe="1m"))

    assert loaded == outcome(lambda: read_by_columns(path, start=None, end=None, timeframe="1m"))
    assert loaded[0] == "read" and loaded[2] == {"bad_timestamp": 1}


@pytest.mark.parametrize("stamp", sorted(PLAIN_STAMPS))
def test_a_clean_file_is_read_by_the_plain_reader_as_the_column_reader_reads_it(write_file, stamp):
    lines = [",".join(COLUMNS), *(",".join([PLAIN_STAMPS[stamp](c.ts_ms), *map(repr, c[1:])]) for c in CANDLES)]
    path = write_file("clean.csv", "\n".join(lines) + "\n")

    plain = read_plain_csv(path, path.read_bytes(), start_ms=None, end_ms=None, timeframe_ms=60_000)

    assert plain is not None and plain.candles == CANDLES == read_by_columns(path, start=None, end=None,
                                                                             timeframe="1m").candles


def test_the_shared_data_files_are_read_by_the_plain_reader_as_the_column_reader_reads_them(shared_data):
    paths = sorted(shared_data.glob("*.csv")) + sorted((shared_data / "formats").glob("btc-perp-raw-*.csv"))
    assert paths
    for path in paths:
        plain = outcome(lambda: read_plain_csv(path, path.read_bytes(), start_ms=None, end_ms=None, timeframe_ms=None)
                        or pytest.fail(f"{path.name}: declined"))
        assert plain == outcome(lambda: read_by_columns(path, start=None, end=None, timeframe=None)), path.name


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // timedelta(milliseconds=1)
