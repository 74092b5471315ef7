"""Timeframe strings, as ccxt and the bot configs spell them."""

import pytest

from market.models import timeframe_ms


@pytest.mark.parametrize(("timeframe", "ms"), [("1s", 1_000), ("1m", 60_000), ("15m", 900_000), ("4h", 14_400_000),
                                               ("1d", 86_400_000), ("1w", 604_800_000)])
def test_timeframes_have_their_length_in_milliseconds(timeframe, ms):
    assert timeframe_ms(timeframe) == ms


@pytest.mark.parametrize("bad", ["", "m", "0m", "1y", "-1h", "1.5h"])
def test_a_bad_timeframe_names_what_is_expected(bad):
    with pytest.raises(ValueError, match=r"expected a count and a unit \(s, m, h, d, w\)"):
        timeframe_ms(bad)
