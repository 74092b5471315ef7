"""Candle files that lie about themselves: the timeframe from the usual step, a far-future row
dropped alone, newest-first files sorted, compressed and UTF-16 files named for what they are."""

from __future__ import annotations

import gzip

import pytest

from market.errors import MarketDataError
from market.files import load_candles

T0 = 1_640_995_200_000
MINUTE = 60_000
HEADER = "timestamp,open,high,low,close,volume"


def csv_text(timestamps: list[int]) -> str:
    return "\n".join([HEADER, *(f"{ts},100,101,99,100,1" for ts in timestamps)]) + "\n"


def minutes(count: int) -> list[int]:
    return [T0 + i * MINUTE for i in range(count)]


def test_1m_data_with_one_5m_gap_is_not_5m_data(tmp_path):
    stamps = minutes(100)
    stamps = stamps[:50] + [ts + 4 * MINUTE for ts in stamps[50:]]     # one 5-minute step
    path = tmp_path / "one-gap.csv"
    path.write_text(csv_text(stamps))
    with pytest.raises(MarketDataError, match="candles are 1m apart, not 5m"):
        load_candles(path, timeframe="5m")
    assert len(load_candles(path, timeframe="1m").candles) == 100


def test_one_far_future_row_is_dropped_alone(tmp_path):
    stamps = minutes(3000)
    stamps.insert(5, T0 + 10**9 * MINUTE // 1000)
    path = tmp_path / "outlier.csv"
    path.write_text(csv_text(stamps))
    result = load_candles(path, timeframe="1m")
    assert len(result.candles) == 3000 and result.rejected == {"out_of_order": 1}


def test_a_file_that_loses_most_of_its_rows_is_an_error(tmp_path):
    path = tmp_path / "mostly-bad.csv"
    path.write_text(csv_text(minutes(10)) + "".join(f"{ts},100,101,99,-1,1\n" for ts in minutes(40)[10:]))
    with pytest.raises(MarketDataError, match=r"30 of 40 rows were rejected"):
        load_candles(path)


def test_a_newest_first_file_is_sorted(tmp_path, log_records):
    path = tmp_path / "reversed.csv"
    path.write_text(csv_text(minutes(500)[::-1]))
    result = load_candles(path, timeframe="1m")
    assert [c.ts_ms for c in result.candles] == minutes(500)
    assert any("newest first" in r["message"] for r in log_records)


def test_a_csv_gz_file_is_read(tmp_path):
    path = tmp_path / "candles.csv.gz"
    path.write_bytes(gzip.compress(csv_text(minutes(50)).encode()))
    assert len(load_candles(path, timeframe="1m").candles) == 50


def test_a_gzip_file_named_csv_says_it_is_compressed(tmp_path):
    path = tmp_path / "candles.csv"
    path.write_bytes(gzip.compress(csv_text(minutes(50)).encode()))
    with pytest.raises(MarketDataError, match="gzip-compressed, not text"):
        load_candles(path)


def test_a_utf16_file_says_it_is_utf16(tmp_path):
    path = tmp_path / "candles.csv"
    path.write_bytes(csv_text(minutes(50)).encode("utf-16"))
    with pytest.raises(MarketDataError, match="UTF-16 text; save it as UTF-8"):
        load_candles(path)
