"""Higher-timeframe candles folded from base candles: UTC alignment, when each comes out, gaps."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.aggregate import Aggregator, Period, higher_timeframes, period_open_ms, timeframe_ratio
from market.models import Candle, timeframe_ms
from market.synthetic import generate_candles
from tests.higher_timeframes import resampled, same_candles

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def minutes(start: str, count: int, *, skip: set[int] = frozenset()) -> list[Candle]:
    """`count` 1m candles from `start`, the i-th with open 100+i, high +2, low -1, close +1 and
    volume i+1 (so each aggregate's fields say which candles went in), leaving out `skip`."""
    t0 = ms(start)
    return [Candle(t0 + i * MIN, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, float(i + 1))
            for i in range(count) if i not in skip]


def fold(aggregator: Aggregator, candles: list[Candle]) -> list[tuple[int, Period]]:
    """(index of the base candle that closed it, period) for every period handed out."""
    return [(i, period) for i, candle in enumerate(candles) for period in aggregator.update(candle)]


def test_an_hour_is_its_minutes_folded_and_comes_out_on_its_last_minute():
    candles = minutes("2024-03-05T10:00", 120)
    out = fold(Aggregator("1m", "1h"), candles)
    assert [i for i, _ in out] == [59, 119]              # on the 10:59 and 11:59 candles, not before
    first, parts = out[0][1]
    assert first == Candle(ms("2024-03-05T10:00"), 100.0, 102.0 + 59, 99.0, 101.0 + 59, sum(range(1, 61)))
    assert parts == 60


@pytest.mark.parametrize(("text", "timeframe", "opens"), [
    ("2024-03-05T10:37:00", "1h", "2024-03-05T10:00:00"),
    ("2024-03-05T10:37:00", "15m", "2024-03-05T10:30:00"),
    ("2024-03-05T10:37:00", "4h", "2024-03-05T08:00:00"),
    ("2024-03-05T23:59:00", "1d", "2024-03-05T00:00:00"),
    ("2024-03-05T10:37:00", "1w", "2024-03-04T00:00:00"),      # a Tuesday: the week opened on Monday
    ("2024-03-04T00:00:00", "1w", "2024-03-04T00:00:00"),
    ("2024-03-10T23:59:00", "1w", "2024-03-04T00:00:00"),      # Sunday night is still that week
    ("1970-01-01T00:00:00", "1w", "1969-12-29T00:00:00"),      # the epoch was a Thursday
])
def test_periods_open_on_utc_boundaries_and_weeks_on_monday(text, timeframe, opens):
    assert period_open_ms(ms(text), timeframe_ms(timeframe)) == ms(opens)


def test_a_week_opens_where_binance_opens_its_weekly_klines():
    # The 1w kline in Binance's GET /api/v3/klines documentation: 1499040000000 .. 1499644799999.
    assert period_open_ms(1_499_040_000_000 + 3 * DAY, timeframe_ms("1w")) == 1_499_040_000_000


def test_daily_candles_fold_into_weeks_from_monday_and_the_first_partial_week_is_dropped():
    t0 = ms("2024-01-04T00:00")                          # a Thursday
    days = [Candle(t0 + i * DAY, 10.0 + i, 20.0 + i, 5.0 + i, 11.0 + i, 1.0) for i in range(18)]
    out = fold(Aggregator("1d", "1w"), days)
    # Thu..Sun is the tail of a week whose Monday was never seen; then two whole weeks.
    assert [(i, period.candle.ts_ms, period.parts) for i, period in out] == [
        (10, ms("2024-01-08T00:00"), 7), (17, ms("2024-01-15T00:00"), 7)]
    week = out[0][1].candle
    assert (week.open, week.high, week.low, week.close, week.volume) == (14.0, 30.0, 9.0, 21.0, 7.0)


def test_a_day_opens_at_midnight_utc():
    out = fold(Aggregator("1h", "1d"), [Candle(ms("2024-03-05T00:00") + i * HOUR, 1.0, 1.0, 1.0, 1.0, 1.0)
                                        for i in range(48)])
    assert [(i, period.candle.ts_ms) for i, period in out] == [(23, ms("2024-03-05T00:00")),
                                                               (47, ms("2024-03-06T00:00"))]


def test_a_period_with_missing_minutes_is_built_from_those_that_came_and_says_how_many():
    candles = minutes("2024-03-05T09:00", 120, skip={60, 70, 71})      # 10:00, 10:10 and 10:11 missing
    aggregator = Aggregator("1m", "1h")
    [_, (i, (candle, parts))] = fold(aggregator, candles)
    assert i == len(candles) - 1                         # still on its last minute
    assert candle.ts_ms == ms("2024-03-05T10:00")        # the period's start, not its first minute's
    assert candle.open == 161.0 and parts == 57
    assert candle.volume == sum(range(61, 121)) - 61 - 71 - 72
    assert aggregator.incomplete == 1 and aggregator.closed == 2


def test_a_period_whose_last_minutes_are_missing_closes_on_the_next_periods_first_candle():
    candles = minutes("2024-03-05T10:00", 90, skip={57, 58, 59})
    out = fold(Aggregator("1m", "1h"), candles)
    [(i, (candle, parts))] = out
    assert candles[i].ts_ms == ms("2024-03-05T11:00")    # the first candle of 11:00 shows 10:00 has ended
    assert candle.close == 101.0 + 56 and parts == 57


def test_an_hour_with_no_candle_at_all_gives_no_candle():
    candles = minutes("2024-03-05T10:00", 180, skip=set(range(60, 120)))
    out = fold(Aggregator("1m", "1h"), candles)
    assert [period.candle.ts_ms for _, period in out] == [ms("2024-03-05T10:00"), ms("2024-03-05T12:00")]


def test_a_gap_ending_on_a_periods_last_candle_closes_two_periods_at_once():
    # 15m periods: 10:00-10:49, then nothing until 11:14, the last minute of the 11:00 quarter.
    candles = minutes("2024-03-05T10:00", 75, skip=set(range(50, 74)))
    out = fold(Aggregator("1m", "15m"), candles)
    last = len(candles) - 1
    assert [(i, period.candle.ts_ms, period.parts) for i, period in out][-2:] == [
        (last, ms("2024-03-05T10:45"), 5), (last, ms("2024-03-05T11:00"), 1)]


def test_a_stream_that_begins_mid_period_drops_that_period_and_keeps_the_next():
    out = fold(Aggregator("1m", "1h"), minutes("2024-03-05T10:30", 90))
    assert [(period.candle.ts_ms, period.parts) for _, period in out] == [(ms("2024-03-05T11:00"), 60)]


@pytest.mark.parametrize(("base", "higher", "skip"), [
    ("1m", "1h", {5, 59, 60, 61, 300, 301, 302, 1000}),
    ("1m", "15m", set(range(200, 260))),
    ("5m", "4h", {0, 1, 47, 48, 200}),
    ("1h", "1d", set(range(30, 60))),
    ("1h", "1w", {3, 170}),
    ("4h", "1w", set()),
])
def test_every_period_equals_pandas_resample_of_the_same_candles(base, higher, skip):
    candles = [c for i, c in enumerate(generate_candles(count=1500, seed=7, timeframe=base,
                                                        start_ms=ms("2024-01-03T07:00"))) if i not in skip]
    aggregator = Aggregator(base, higher)
    built = [period for candle in candles for period in aggregator.update(candle)]
    expected = resampled(candles, higher)
    if expected and expected[-1][0].ts_ms + timeframe_ms(higher) > candles[-1].ts_ms + timeframe_ms(base):
        expected = expected[:-1]                         # still open when the candles end
    assert len(built) == len(expected) > 0
    for (candle, parts), (reference, reference_parts) in zip(built, expected):
        assert candle.ts_ms == reference.ts_ms and parts == reference_parts
        assert candle[1:] == pytest.approx(reference[1:], rel=1e-12)


def test_a_higher_timeframe_must_be_a_whole_multiple_above_the_bots():
    assert timeframe_ratio("5m", "1h") == 12
    assert timeframe_ratio("1d", "1w") == 7
    for base, higher in [("1h", "45m"), ("1h", "1h"), ("3m", "5m"), ("1d", "4h")]:
        with pytest.raises(ValueError, match=f"{higher} is not a whole multiple of the bot's timeframe {base}"):
            timeframe_ratio(base, higher)
    assert higher_timeframes("3m", ["1m", "3m", "5m", "15m", "1h", "1w"]) == ["15m", "1h", "1w"]


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from([("1m", "5m"), ("1m", "1h"), ("5m", "1h"), ("15m", "4h"), ("1h", "1d"), ("4h", "1w"),
                             ("1d", "1w")]),
       count=st.integers(1, 300), offset=st.integers(0, 500), gaps=st.lists(st.integers(0, 299), max_size=40))
def test_any_stream_with_any_gaps_folds_as_pandas_resamples_its_closed_periods(pair, count, offset, gaps):
    base, higher = pair
    base_ms = timeframe_ms(base)
    candles = [c for i, c in enumerate(generate_candles(count=count, seed=count, timeframe=base,
                                                        start_ms=ms("2024-01-01T00:00") + offset * base_ms))
               if i not in set(gaps)]
    if not candles:
        return
    aggregator = Aggregator(base, higher)
    built = [period for candle in candles for period in aggregator.update(candle)]
    end_ms = candles[-1].ts_ms + base_ms
    expected = [(c, parts) for c, parts in resampled(candles, higher) if c.ts_ms + timeframe_ms(higher) <= end_ms]
    assert [(c.ts_ms, parts) for c, parts in built] == [(c.ts_ms, parts) for c, parts in expected]
    assert same_candles([c for c, _ in built], [c for c, _ in expected])
