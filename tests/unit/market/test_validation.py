"""clean_candles: bad rows out with a warning naming source and row, gaps reported once."""

from __future__ import annotations

import math

import pytest

from market.errors import MarketDataError
from market.models import Candle
from market.validation import MAX_ROW_WARNINGS, clean_candles

T0 = 1_640_995_200_000  # 2022-01-01T00:00:00Z
MINUTE = 60_000


def row(line: int | str, minute: int, o=100.0, h=101.0, low=99.0, c=100.5, v=10.0):
    return (line, T0 + minute * MINUTE, o, h, low, c, v)


def good_rows(count: int, first_line: int = 2) -> list[tuple]:
    return [row(first_line + i, i) for i in range(count)]


def test_good_rows_become_candles_with_int_timestamps():
    result = clean_candles(good_rows(3), source="data/x.csv", timeframe_ms=MINUTE)

    assert result.candles == [Candle(T0 + i * MINUTE, 100.0, 101.0, 99.0, 100.5, 10.0) for i in range(3)]
    assert all(type(c.ts_ms) is int for c in result.candles)
    assert result.rejected == {} and result.gaps == []


@pytest.mark.parametrize(
    ("bad", "reason", "says"),
    [
        (dict(o=math.nan), "not_finite", "open is missing, not a number or infinite"),
        (dict(v=math.inf), "not_finite", "volume is missing"),
        (dict(c=None), "not_finite", "close is missing"),
        (dict(c="abc"), "not_finite", "close is missing"),
        (dict(low=0.0), "non_positive_price", "low is 0.0; prices must be > 0"),
        (dict(o=-1.0), "non_positive_price", "open is -1.0"),
        (dict(v=-0.5), "negative_volume", "volume is -0.5"),
        (dict(h=98.0), "high_below_low", "high 98.0 is below low 99.0"),
        (dict(o=101.5), "open_outside_range", "open 101.5 is outside [low, high] = [99.0, 101.0]"),
        (dict(c=98.5), "close_outside_range", "close 98.5 is outside"),
    ],
)
def test_bad_values_are_rejected_with_a_warning_naming_source_and_line(bad, reason, says, warnings_logged):
    rows = [row(2, 0), row(3, 1, **bad), row(4, 2)]

    result = clean_candles(rows, source="data/x.csv", timeframe_ms=MINUTE)

    assert [c.ts_ms for c in result.candles] == [T0, T0 + 2 * MINUTE]
    assert result.rejected == {reason: 1}
    (warning,) = [w for w in warnings_logged() if "line 3" in w]
    assert warning.startswith("data/x.csv line 3: ") and says in warning


def test_a_missing_timestamp_is_rejected():
    rows = [row(2, 0), ("line 3", None, 1, 1, 1, 1, 1), row(4, 1)]

    assert clean_candles(rows, source="s").rejected == {"bad_timestamp": 1}


def test_string_labels_are_used_as_they_are(warnings_logged):
    clean_candles([row("item 0", 0), row("item 1", 1, v=-1)], source="x.json")

    assert warnings_logged() == ["x.json item 1: volume is -1.0; it must be >= 0; row skipped"]


def test_duplicates_keep_the_first(warnings_logged):
    rows = [row(2, 0, c=100.1), row(3, 0, c=100.9), row(4, 1)]

    result = clean_candles(rows, source="d.csv", timeframe_ms=MINUTE)

    assert [c.close for c in result.candles] == [100.1, 100.5]
    assert result.rejected == {"duplicate": 1}
    assert warnings_logged() == [
        "d.csv line 3: duplicate timestamp 2022-01-01T00:00:00Z; kept the first, line 2; row skipped"]


def test_a_candle_older_than_the_last_accepted_is_rejected(warnings_logged):
    rows = [row(2, 0), row(3, 2), row(4, 1), row(5, 3)]

    result = clean_candles(rows, source="o.csv", timeframe_ms=MINUTE)

    assert [c.ts_ms for c in result.candles] == [T0, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert result.rejected == {"out_of_order": 1}
    assert warnings_logged()[0] == ("o.csv line 4: timestamp 2022-01-01T00:01:00Z is older than the candle "
                                    "before it, 2022-01-01T00:02:00Z; row skipped")


@pytest.mark.parametrize("first_line", [2, 3])
def test_a_row_newer_than_the_two_after_it_is_rejected_as_such_first_row_or_not(first_line, warnings_logged):
    # A far-future row: the row out of order, not the rows after it. Before, a first row like
    # this crashed the warning (it has no candle before it) and any other was called older.
    rows = [row(2, 0)][:first_line - 2] + [row(first_line, 600), row(first_line + 1, 1), row(first_line + 2, 2)]

    result = clean_candles(rows, source="f.csv", timeframe_ms=MINUTE)

    assert result.rejected == {"out_of_order": 1} and [c.ts_ms for c in result.candles][-2:] == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert warnings_logged()[0] == (f"f.csv line {first_line}: timestamp 2022-01-01T10:00:00Z is newer than the "
                                    "candles after it, from 2022-01-01T00:01:00Z; row skipped")


def test_a_row_rejected_for_its_values_does_not_count_for_the_order():
    # Line 3 has a timestamp far ahead but a broken price: dropping it must not drop the rest.
    rows = [row(2, 0), row(3, 500, h=1.0), row(4, 1), row(5, 2)]

    result = clean_candles(rows, source="s", timeframe_ms=MINUTE)

    assert len(result.candles) == 3 and result.rejected == {"high_below_low": 1}


def test_warnings_stop_at_ten_then_one_summary_counts_each_reason(warnings_logged):
    rows = good_rows(5)
    rows += [row(100 + i, 4) for i in range(8)]              # duplicates of the last good row
    rows += [row(200 + i, 10 + i, v=-1) for i in range(6)]   # negative volume
    rows += [row(300, 30, h=50.0)]                           # high below low

    result = clean_candles(rows, source="big.csv")

    assert result.rejected == {"negative_volume": 6, "high_below_low": 1, "duplicate": 8}
    warnings = warnings_logged()
    assert len(warnings) == MAX_ROW_WARNINGS + 1
    assert all(w.startswith("big.csv line ") for w in warnings[:MAX_ROW_WARNINGS])
    assert warnings[-1] == ("big.csv: skipped 15 bad rows in all (negative_volume 6, high_below_low 1, "
                            "duplicate 8); only the first 10 are listed above")


def test_gaps_are_reported_in_one_warning_with_the_largest(warnings_logged):
    minutes = [0, 1, 3, 4, 10, 11]  # one missing at 00:02, five missing from 00:05
    rows = [row(i + 2, m) for i, m in enumerate(minutes)]

    result = clean_candles(rows, source="g.csv", timeframe_ms=MINUTE)

    assert result.gaps == [(T0 + MINUTE, T0 + 3 * MINUTE), (T0 + 4 * MINUTE, T0 + 10 * MINUTE)]
    assert warnings_logged() == [
        "g.csv: 2 gaps in the 1m candles, 6 candles missing in all; "
        "the largest is 5 candles from 2022-01-01T00:05:00Z"]


def test_the_timeframe_is_inferred_when_not_given():
    minutes = [0, 5, 10, 15, 25, 30]
    rows = [row(i + 2, m) for i, m in enumerate(minutes)]

    result = clean_candles(rows, source="s")

    assert result.gaps == [(T0 + 15 * MINUTE, T0 + 25 * MINUTE)]


def test_no_gaps_no_warning(warnings_logged):
    clean_candles(good_rows(50), source="s", timeframe_ms=MINUTE)

    assert warnings_logged() == []


def test_candles_of_another_timeframe_are_an_error_not_a_gap_on_every_candle():
    rows = [row(i + 2, 5 * i) for i in range(10)]

    with pytest.raises(MarketDataError, match=r"^e\.csv: candles are 5m apart, not 1m"):
        clean_candles(rows, source="e.csv", timeframe_ms=MINUTE)


def test_no_rows_give_an_empty_result():
    assert clean_candles([], source="s", timeframe_ms=MINUTE).candles == []
