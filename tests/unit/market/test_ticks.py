"""Tick files: trades made into candles of the bot's timeframe, bad rows named, late trades dropped."""

from __future__ import annotations

import gzip
from datetime import datetime

import pytest

from market.config import SyntheticSource, TicksSource
from market.errors import MarketDataError
from market.factory import load_market
from market.models import Candle
from market.synthetic import generate_candles
from market.ticks import load_tick_candles
from tests.unit.market.tick_files import write_tick_file

T0 = 1_704_067_200_000          # 2024-01-01T00:00:00Z, a Monday
MINUTE = 60_000
CANDLES = generate_candles(count=120, seed=3, start_ms=T0, start_price=30_000)
HEADER = "datetime,symbol,price,volume\n"


@pytest.mark.parametrize("iso", [False, True], ids=["epoch-ms", "iso-8601"])
def test_trades_aggregate_to_the_candles_they_came_from(tmp_path, iso):
    path = write_tick_file(tmp_path / "ticks.csv", CANDLES, MINUTE, iso=iso)

    result = load_tick_candles(path, symbol="BTC/USDT", timeframe="1m")

    assert result.candles == CANDLES
    assert result.ticks == 4 * len(CANDLES) and result.rejected == {}


def test_coarser_candles_are_cut_on_utc_boundaries(tmp_path):
    path = write_tick_file(tmp_path / "ticks.csv", CANDLES, MINUTE)

    candles = load_tick_candles(path, symbol="BTC/USDT", timeframe="15m").candles

    first = CANDLES[:15]
    assert [c.ts_ms for c in candles] == [T0 + k * 15 * MINUTE for k in range(8)]
    assert candles[0] == Candle(T0, first[0].open, max(c.high for c in first), min(c.low for c in first),
                                first[-1].close, pytest.approx(sum(c.volume for c in first)))


def test_a_week_starts_on_monday_utc(tmp_path):
    thursday = T0 + 3 * 86_400_000
    (tmp_path / "t.csv").write_text(HEADER + f"{thursday},BTC/USDT,10,1\n{T0 + 8 * 86_400_000},BTC/USDT,11,1\n")

    candles = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1w").candles

    assert [c.ts_ms for c in candles] == [T0, T0 + 7 * 86_400_000]


def test_only_the_bots_symbol_is_read_however_the_file_spells_it(tmp_path):
    (tmp_path / "t.csv").write_text(HEADER + f"{T0},ETHUSDT,2000,1\n{T0 + 1},btcusdt,30000,2\n"
                                    f"{T0 + 2},BTC/USDT,30010,1\n{T0 + 3},ETH/USDT,2001,5\n")

    [candle] = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m").candles

    assert candle == Candle(T0, 30000.0, 30010.0, 30000.0, 30010.0, 3.0)


def test_a_trade_out_of_order_within_the_open_candle_takes_its_place_by_time(tmp_path):
    (tmp_path / "t.csv").write_text(HEADER + f"{T0 + 10_000},BTC/USDT,101,1\n{T0 + 5_000},BTC/USDT,100,1\n"
                                    f"{T0 + 50_000},BTC/USDT,99,1\n{T0 + MINUTE + 1},BTC/USDT,98,1\n")

    candles = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m").candles

    assert candles[0] == Candle(T0, 100.0, 101.0, 99.0, 99.0, 3.0)     # opened by the earlier trade


def test_a_trade_for_a_candle_a_later_trade_closed_is_late_and_dropped(tmp_path, warnings_logged):
    (tmp_path / "t.csv").write_text(HEADER + f"{T0 + 1_000},BTC/USDT,100,1\n{T0 + MINUTE + 1},BTC/USDT,101,1\n"
                                    f"{T0 + 59_000},BTC/USDT,500,7\n{T0 + MINUTE + 2},BTC/USDT,102,1\n")

    result = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")

    assert result.candles[0] == Candle(T0, 100.0, 100.0, 100.0, 100.0, 1.0)     # never rewritten
    assert result.rejected == {"late": 1}
    [warning] = [w for w in warnings_logged() if "late" in w]
    assert "t.csv line 4:" in warning and "2024-01-01T00:00:59.000Z" in warning and "(line 3)" in warning


def test_a_minute_without_trades_gives_no_candle_and_is_reported_as_a_gap(tmp_path, warnings_logged):
    (tmp_path / "t.csv").write_text(HEADER + f"{T0},BTC/USDT,100,1\n{T0 + 3 * MINUTE},BTC/USDT,101,1\n")

    result = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")

    assert [c.ts_ms for c in result.candles] == [T0, T0 + 3 * MINUTE]
    assert result.gaps == [(T0, T0 + 3 * MINUTE)]
    assert any("1 gaps" in w and "2 candles missing" in w for w in warnings_logged())


@pytest.mark.parametrize(("row", "says"), [
    (f"{T0 + 5},BTC/USDT,nan,1", "price is missing, not a number or infinite"),
    (f"{T0 + 5},BTC/USDT,,1", "price is missing, not a number or infinite"),
    (f"{T0 + 5},BTC/USDT,-3,1", "price is -3.0; prices must be > 0"),
    (f"{T0 + 5},BTC/USDT,100,-2", "volume is -2.0; it must be >= 0"),
    (f"{T0 + 5},BTC/USDT,100,lots", "volume is missing, not a number or infinite"),
    ("yesterday,BTC/USDT,100,1", "datetime is missing, not a date"),
    (f"{T0 + 5},BTC/USDT,100", "malformed: not the fields datetime, symbol, price, volume"),
])
def test_a_bad_row_is_skipped_with_a_warning_naming_file_line_and_field(tmp_path, warnings_logged, row, says):
    good = "".join(f"{T0 + k},BTC/USDT,100,1\n" for k in range(1, 4))
    (tmp_path / "t.csv").write_text(HEADER + good + row + "\n" + f"{T0 + 9},BTC/USDT,100,1\n")

    result = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")

    assert result.ticks == 4 and sum(result.rejected.values()) == 1
    [warning] = [w for w in warnings_logged() if "row skipped" in w]
    assert f"{tmp_path / 't.csv'} line 5: {says}" in warning


def test_an_iso_datetime_with_an_offset_is_converted_to_utc(tmp_path):
    (tmp_path / "t.csv").write_text(HEADER + "2024-01-01T01:00:30+01:00,BTC/USDT,100,1\n"
                                    "2024-01-01T00:01:00Z,BTC/USDT,101,1\n")

    candles = load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m").candles

    assert [c.ts_ms for c in candles] == [T0, T0 + MINUTE]


@pytest.mark.parametrize(("text", "says"), [
    ("time,symbol,price,volume\n1,BTC/USDT,1,1\n", "missing columns ['datetime']"),
    ("datetime,symbol,price\n1,BTC/USDT,1\n", "missing columns ['volume']"),
    ("", "the first line is empty"),
    (HEADER + f"{T0},ETH/USDT,1,1\n{T0},SOLUSDT,1,1\n", "no trades of BTC/USDT; symbols in the file: ETH/USDT, SOLUSDT"),
    (HEADER + f"{T0 // 1000},BTC/USDT,1,1\n", "look like epoch seconds"),
    (HEADER + "".join(f"{T0 + k},BTC/USDT,-1,1\n" for k in range(3)) + f"{T0 + 5},BTC/USDT,1,1\n",
     "3 of 4 rows of BTC/USDT were rejected (non_positive_price 3); more than half"),
])
def test_an_unusable_tick_file_is_refused_saying_why(tmp_path, text, says):
    (tmp_path / "t.csv").write_text(text)

    with pytest.raises(MarketDataError) as raised:
        load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")

    assert str(raised.value).startswith(str(tmp_path / "t.csv")) and says in str(raised.value)


def test_a_file_naming_the_symbol_otherwise_says_how_to_name_it_not_what_a_header_is(tmp_path):
    # Before: "...; symbols in the file: XBTUSD; expected a header line datetime,symbol,price,volume
    # and one trade per line": the header was right, and nothing said that market.symbol maps it.
    (tmp_path / "t.csv").write_text(HEADER + f"{T0},XBTUSD,1,1\n")

    with pytest.raises(MarketDataError) as raised:
        load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")

    assert str(raised.value) == (f"{tmp_path / 't.csv'}: no trades of BTC/USDT; symbols in the file: XBTUSD; "
                                 "where the file names the bot's symbol otherwise, say so in its config: "
                                 "market: {source: ticks, path: ..., symbol: XBTUSD}")


def test_a_missing_tick_file_is_named(tmp_path):
    with pytest.raises(MarketDataError, match="no such file"):
        load_tick_candles(tmp_path / "absent.csv", symbol="BTC/USDT", timeframe="1m")


def test_the_market_config_reads_ticks_within_its_dates_and_names_the_files_symbol(tmp_path):
    path = write_tick_file(tmp_path / "ticks.csv.gz", CANDLES, MINUTE, symbol="XBTUSD")
    path.write_bytes(gzip.compress(path.read_bytes()))
    config = TicksSource(source="ticks", path=path, symbol="XBTUSD", start=datetime(2024, 1, 1, 0, 10),
                         end=datetime(2024, 1, 1, 0, 20))

    candles = load_market(config, symbol="BTC/USDT", timeframe="1m")

    assert candles == CANDLES[10:20]


def test_a_tick_file_given_as_the_data_override_is_read_as_ticks(tmp_path):
    path = write_tick_file(tmp_path / "ticks.csv", CANDLES, MINUTE)

    candles = load_market(SyntheticSource(source="synthetic"), symbol="BTC/USDT", timeframe="5m",
                          path_override=path)

    assert [c.ts_ms for c in candles] == [T0 + k * 5 * MINUTE for k in range(24)]


def test_a_tick_file_that_is_not_csv_is_refused_by_name(tmp_path):
    (tmp_path / "t.csv").write_bytes(b'datetime,symbol,price,volume\n1704067200000,"BTC/USDT,1,1\n\x00,\n')

    with pytest.raises(MarketDataError, match=r"t.csv: cannot read as CSV in lines 2..3 \(a quoted field runs past the end of its line\)"):
        load_tick_candles(tmp_path / "t.csv", symbol="BTC/USDT", timeframe="1m")


def test_a_candle_file_with_cr_only_line_ends_is_not_taken_for_ticks(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"timestamp,open,high,low,close,volume\r1704067200000,1,2,0.5,1.5,3\r")

    assert load_market(SyntheticSource(source="synthetic"), symbol="BTC/USDT", timeframe="1m",
                       path_override=path) == [Candle(1704067200000, 1.0, 2.0, 0.5, 1.5, 3.0)]


def test_a_tick_file_under_a_header_of_many_columns_is_read_in_the_memory_of_its_rows(tmp_path):
    # Before: each short row was padded to the header's width: 200 trades under a header of ten
    # million columns (a 20 MB file) took 16.6 GB and 86 s. Here 1,000 columns, 20,000 trades.
    import tracemalloc

    path = tmp_path / "wide.csv"
    path.write_text("datetime,symbol,price,volume" + ",x" * 996 + "\n" + "".join(
        f"{1_704_067_200_000 + i * 1000},BTCUSDT,100,1\n" for i in range(20_000)))
    tracemalloc.start()
    try:
        with pytest.raises(MarketDataError):
            load_tick_candles(path, symbol="BTC/USDT", timeframe="1m")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80_000_000, f"{peak / 1e6:.0f} MB"


def test_a_tick_header_of_more_columns_than_are_read_is_refused_unsplit(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("datetime,symbol,price,volume" + ",x" * 10_000 + "\n2024-01-01T00:00:00Z,BTCUSDT,100,1\n")
    with pytest.raises(MarketDataError) as refused:
        load_tick_candles(path, symbol="BTC/USDT", timeframe="1m")
    assert str(refused.value) == (f"{path}: the first line has 10,004 columns; a tick file has four "
                                  "(datetime,symbol,price,volume) and at most 1,000 are read: is this a tick file?")
