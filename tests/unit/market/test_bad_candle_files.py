"""Candle files broken the ways real ones are: every one loads to trusted candles or is a
MarketDataError naming the file, never another exception, a Python warning or a repeated candle."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.errors import MarketDataError
from market.file_columns import load_columns
from market.files import load_candles
from market.plain_csv import read_plain_csv

HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000


def iso(ts_ms: int, fraction: str = "") -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def good_lines(count: int, stamp=str) -> list[str]:
    return [f"{stamp(T0 + i * MINUTE)},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}" for i in range(count)]


def test_a_fraction_of_a_millisecond_does_not_make_two_candles_of_one_time(write_file, warnings_logged):
    # Before, 1704067800000 and 1704067800000.5 were two rows in order; cut to whole ms they
    # were two candles of 00:10, and the strategy saw the same minute twice.
    lines = good_lines(20)
    lines.insert(11, lines[10].replace(str(T0 + 10 * MINUTE), f"{T0 + 10 * MINUTE}.5", 1))

    result = load_candles(write_file("frac.csv", "\n".join([HEADER, *lines]) + "\n"))

    assert [c.ts_ms for c in result.candles] == [T0 + i * MINUTE for i in range(20)]
    assert result.rejected == {"duplicate": 1}
    assert any("line 13: duplicate timestamp 2024-01-01T00:10:00Z" in w for w in warnings_logged())


def test_iso_times_with_microseconds_are_whole_milliseconds_one_candle_each(write_file):
    lines = good_lines(5, stamp=lambda ts: iso(ts, ".000500"))
    lines.insert(3, lines[2].replace(".000500Z", ".000900Z", 1))      # the same millisecond again

    result = load_candles(write_file("micro.csv", "\n".join([HEADER, *lines]) + "\n"))

    assert [c.ts_ms for c in result.candles] == [T0 + i * MINUTE for i in range(5)]
    assert all(type(c.ts_ms) is int for c in result.candles) and result.rejected == {"duplicate": 1}


def test_a_line_separated_by_semicolons_is_a_malformed_row_without_a_python_warning(write_file, warnings_logged):
    # numpy warned "no explicit representation of timezones" on the `Z` inside the one field,
    # on the user's terminal (and as an error under -W error) before the row was named.
    lines = good_lines(10, stamp=iso)
    lines[4] = lines[4].replace(",", ";")

    result = load_candles(write_file("semi.csv", "\n".join([HEADER, *lines]) + "\n"))

    assert len(result.candles) == 9 and result.rejected == {"malformed": 1}
    assert any("line 6: malformed" in w for w in warnings_logged())


def test_a_line_of_semicolons_without_a_zone_letter_is_malformed_too(write_file, warnings_logged):
    # "2024-01-01 00:01:00;100;..." has no `Z`, yet numpy still reads a zone in it and warns;
    # hypothesis found it, with the file's only row.
    result = load_candles(write_file("semi.csv", HEADER + "\n2024-01-01 00:01:00;100;101;99;100.5;10\n"
                                     + "2024-01-01 00:02:00,100,101,99,100.5,10\n"))

    assert len(result.candles) == 1 and result.rejected == {"malformed": 1}


# -- property: any of these breakages, in any mix ------------------------------------------------

_VALUES = ["nan", "", "inf", "-inf", "0", "-1", "1e308", "1e-320", "abc", "1e400", " 5 ", '"5"', "null", "9" * 400]
_STAMPS = ["2024-01-01T00:00:00Z", "2024-01-01 00:01:00", "1704067260", "1704067260000000", "2024-13-01T00:00:00Z",
           "", "nan", "-1", "1704067260000.5", "2024-01-01T00:02:00+02:00", "2024-02-30T00:00:00Z",
           "99999999999999999999999", "2024-01-01T00:03:00.000700Z"]


@st.composite
def broken_files(draw) -> bytes:
    lines = [HEADER, *good_lines(draw(st.integers(0, 40)), stamp=iso if draw(st.booleans()) else str)]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["value", "stamp", "duplicate", "swap", "gap", "high_low", "short", "long",
                                     "blank", "semicolons", "reversed", "header_only", "empty", "volume"]))
        if len(lines) < 2:
            break
        at = draw(st.integers(1, len(lines) - 1))
        fields = (lines[at].split(",") + ["1"] * 6)[:max(6, len(lines[at].split(",")))]
        if kind == "value":
            fields[draw(st.integers(1, 5))] = draw(st.sampled_from(_VALUES))
        elif kind == "stamp":
            fields[0] = draw(st.sampled_from(_STAMPS))
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(1, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "gap":
            del lines[at:at + draw(st.integers(1, 8))]
        elif kind == "high_low":
            fields[2], fields[3] = fields[3], fields[2]
        elif kind == "short":
            fields = fields[:draw(st.integers(0, 5))]
        elif kind == "long":
            fields += ["x"]
        elif kind == "blank":
            lines.insert(at, "")
        elif kind == "semicolons":
            lines[at] = lines[at].replace(",", ";")
        elif kind == "reversed":
            lines = lines[:1] + lines[:0:-1]
        elif kind == "header_only":
            lines = lines[:1]
        elif kind == "empty":
            lines = []
        elif kind == "volume":
            fields[5] = draw(st.sampled_from(["1e300", "1e20", "-0"]))
        if kind in ("value", "stamp", "high_low", "short", "long", "volume") and at < len(lines):
            lines[at] = ",".join(fields)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (end.join(lines) + (end if draw(st.booleans()) else "")).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=broken_files(), timeframe=st.sampled_from([None, "1m"]))
def test_a_broken_file_gives_trusted_candles_or_an_error_naming_it(tmp_path, content, timeframe):
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    try:
        candles = load_candles(path, timeframe=timeframe).candles
    except MarketDataError as exc:
        assert str(exc).startswith(str(path))
        return
    assert all(type(c.ts_ms) is int for c in candles)
    assert all(a.ts_ms < b.ts_ms for a, b in zip(candles, candles[1:])), "a time twice, or out of order"
    for c in candles:
        assert all(math.isfinite(v) for v in c[1:]) and c.volume >= 0
        assert 0 < c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
    plain = read_plain_csv(path, content, start_ms=None, end_ms=None, timeframe_ms=None)
    if plain is not None:          # where the plain reader takes a file, both readers agree on it
        columns = load_columns(path, content, ".csv", start_ms=None, end_ms=None, start=None, end=None,
                               timeframe_ms=None)
        assert plain.candles == columns.candles


@pytest.mark.parametrize("content", [b"", HEADER.encode(), (HEADER + "\n").encode(), b"\n\n\n"])
def test_an_empty_or_header_only_file_is_an_error_naming_it(write_file, content):
    path = write_file("empty.csv", content)

    with pytest.raises(MarketDataError, match="^" + str(path)):
        load_candles(path)


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_a_file_separated_by_something_else_than_commas_says_so(write_file, separator):
    lines = [HEADER, *good_lines(3)]
    path = write_file("other.csv", "\n".join(line.replace(",", separator) for line in lines) + "\n")

    with pytest.raises(MarketDataError) as caught:
        load_candles(path)
    assert str(caught.value).endswith(f"(the header is separated by {separator!r}: save the file with commas)")


def test_a_volume_too_large_for_the_sums_is_a_rejected_row(write_file, warnings_logged):
    # Before: kept, and a VWAP of the day (sum of price x volume) was infinite from that candle on.
    lines = good_lines(10)
    lines[4] = lines[4].rsplit(",", 1)[0] + ",1e308"

    result = load_candles(write_file("huge.csv", "\n".join([HEADER, *lines]) + "\n"))

    assert len(result.candles) == 9 and result.rejected == {"volume_out_of_range": 1}
    assert any("line 6: volume is 1e+308; it must be at most 1e+20" in w for w in warnings_logged())


def test_a_tick_with_a_volume_too_large_is_a_rejected_row(write_file):
    from market.ticks import load_tick_candles

    rows = [f"2024-01-01T00:00:{s:02d}Z,BTCUSDT,100.5,{'1e300' if s == 3 else '0.5'}" for s in range(10)]
    path = write_file("ticks.csv", "datetime,symbol,price,volume\n" + "\n".join(rows) + "\n")

    result = load_tick_candles(path, symbol="BTC/USDT", timeframe="1m")

    assert result.rejected == {"volume_out_of_range": 1} and result.candles[0].volume == 4.5


def test_a_header_of_many_columns_over_short_rows_is_read_in_the_memory_of_the_rows(write_file):
    # Before: each short row was padded to the header's width to be indexed: 200 rows under a
    # header of 10 million columns (a 20 MB file) took 16.6 GB and 92 s. Here 1,000 columns
    # (the most a candle file may have) over 20,000 short rows: 160 MB of padding before.
    import tracemalloc

    path = write_file("wide.csv", HEADER + ",x" * 994 + "\n" + "\n".join(good_lines(20_000)) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(MarketDataError, match="all 20000 rows were rejected"):
            load_candles(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 80_000_000, f"{peak / 1e6:.0f} MB"


def test_a_first_line_of_more_columns_than_a_candle_file_has_is_refused_unsplit(write_file):
    path = write_file("wide.csv", HEADER + ",x" * 10_000 + "\n" + "\n".join(good_lines(20)) + "\n")

    with pytest.raises(MarketDataError) as refused:
        load_candles(path)
    assert str(refused.value) == (f"{path}: the first line has 10,006 columns; a candle file has six (twelve for "
                                  "Binance's klines) and at most 1,000 are read: is this a candle file?")
