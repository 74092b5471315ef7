"""A date range cuts a synthetic series as it cuts a file: the same candles, whichever window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from market.config import SyntheticSource
from market.errors import MarketDataError
from market.factory import load_market

CONFIG = SyntheticSource(source="synthetic", seed=9, bars=600, start=datetime(2022, 1, 1, tzinfo=UTC))
T0 = 1_640_995_200_000  # 2022-01-01T00:00:00Z


def window(start=None, end=None):
    return load_market(CONFIG, symbol="BTC/USDT", timeframe="1m", start=start, end=end)


def test_a_window_holds_the_series_candles_of_that_window():
    # Before, the series was generated from --from: these held the series' first 60 candles, re-dated.
    whole = window()

    assert window(datetime(2022, 1, 1, 2, 0), datetime(2022, 1, 1, 3, 0)) == whole[120:180]
    assert window(datetime(2022, 1, 1, 9, 0)) == whole[540:]
    assert window(datetime(2022, 1, 1, 2, 0, 30)) == whole[121:]        # from the first candle opening at or after it


def test_a_window_starting_before_the_series_is_the_series_from_its_start():
    assert window(datetime(2021, 6, 1), datetime(2022, 1, 1, 1, 0)) == window()[:60]


def test_a_window_past_the_series_says_what_it_covers():
    # Before: 600 candles of the same series dated 2030.
    with pytest.raises(MarketDataError) as caught:
        window(datetime(2030, 1, 1, tzinfo=UTC))

    assert str(caught.value) == ("synthetic market: no candles from 2030-01-01 00:00:00+00:00 to its end; the series "
                                 "covers 2022-01-01T00:00:00Z .. 2022-01-01T09:59:00Z (market.start, market.bars)")


def test_an_end_not_after_the_start_is_refused():
    with pytest.raises(MarketDataError, match="end 2022-01-01 01:00:00 is not after start 2022-01-01 02:00:00"):
        window(datetime(2022, 1, 1, 2, 0), datetime(2022, 1, 1, 1, 0))
