"""load_market: candles for each kind of source; overrides win over the config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from market.config import CsvSource, JsonSource, SyntheticSource
from market.errors import MarketDataError
from market.factory import load_market
from market.synthetic import generate_candles

T0 = 1_640_995_200_000  # 2022-01-01T00:00:00Z
CANDLES = generate_candles(count=20, start_ms=T0)


def write_csv(path: Path, candles=CANDLES) -> Path:
    rows = [f"{c.ts_ms},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}" for c in candles]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_synthetic_candles_follow_the_bot_timeframe_and_the_config():
    config = SyntheticSource(source="synthetic", seed=7, bars=300, start_price=30_000, start=datetime(2022, 1, 1))

    candles = load_market(config, symbol="BTC/USDT", timeframe="5m")

    assert candles == generate_candles(count=300, seed=7, timeframe="5m", start_ms=T0, start_price=30_000)


def test_a_synthetic_end_caps_the_bars():
    config = SyntheticSource(source="synthetic", bars=300, start=datetime(2022, 1, 1, tzinfo=UTC))

    candles = load_market(config, symbol="BTC/USDT", timeframe="1m", end=datetime(2022, 1, 1, 1, 0))

    assert len(candles) == 60 and candles[-1].ts_ms == T0 + 59 * 60_000


def test_a_relative_path_is_read_from_the_working_directory(tmp_path, monkeypatch):
    write_csv(tmp_path / "btc.csv")
    monkeypatch.chdir(tmp_path)

    assert load_market(CsvSource(source="csv", path="btc.csv"), symbol="BTC/USD", timeframe="1m") == CANDLES


def test_the_date_range_and_path_overrides_win_over_the_config(tmp_path):
    config = CsvSource(source="csv", path=tmp_path / "missing.csv",
                       start=datetime(2022, 1, 1), end=datetime(2022, 1, 2))
    other = write_csv(tmp_path / "other.csv")

    candles = load_market(config, symbol="BTC/USD", timeframe="1m", path_override=other,
                          start=datetime(2022, 1, 1, 0, 5), end=datetime(2022, 1, 1, 0, 8))

    assert candles == CANDLES[5:8]


def test_the_config_range_applies_without_overrides(tmp_path):
    config = CsvSource(source="csv", path=write_csv(tmp_path / "btc.csv"), start=datetime(2022, 1, 1, 0, 15))

    assert load_market(config, symbol="BTC/USD", timeframe="1m") == CANDLES[15:]


def test_a_file_that_does_not_match_the_source_is_an_error(tmp_path):
    config = JsonSource(source="json", path=write_csv(tmp_path / "btc.csv"))

    with pytest.raises(MarketDataError, match=r"btc\.csv: the market source is 'json', so expected a \.json file"):
        load_market(config, symbol="BTC/USD", timeframe="1m")


def test_a_path_override_may_be_of_the_other_format(tmp_path):
    config = CsvSource(source="csv", path=write_csv(tmp_path / "btc.csv"))
    other = tmp_path / "btc.json"
    other.write_text(json.dumps([list(c) for c in CANDLES]))

    assert load_market(config, symbol="BTC/USD", timeframe="1m", path_override=other) == CANDLES


def test_unusable_data_raises_market_data_error(tmp_path):
    with pytest.raises(MarketDataError, match=r"nope\.csv: no such file"):
        load_market(CsvSource(source="csv", path=tmp_path / "nope.csv"), symbol="BTC/USD", timeframe="1m")
