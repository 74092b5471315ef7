"""load_candles: CSV (ISO or epoch ms) and ccxt JSON, bad rows by line, whole-file errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from market import file_columns
from market.errors import MarketDataError
from market.files import load_candles
from market.models import Candle
from market.synthetic import generate_candles

HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_640_995_200_000  # 2022-01-01T00:00:00Z
CANDLES = generate_candles(count=30, start_ms=T0)


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_text(candles: list[Candle], *, stamp=iso, header: str = HEADER) -> str:
    lines = [header]
    lines += [f"{stamp(c.ts_ms)},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}" for c in candles]
    return "\n".join(lines) + "\n"


def with_line(text: str, line: int, content: str) -> str:
    """`text` with file line `line` (1-based) replaced by `content`."""
    lines = text.splitlines()
    lines[line - 1] = content
    return "\n".join(lines) + "\n"


# -- formats -----------------------------------------------------------------------------------


def test_iso_and_epoch_ms_csv_and_ccxt_json_load_the_same_candles(write_file):
    iso_csv = write_file("iso.csv", csv_text(CANDLES))
    ms_csv = write_file("ms.csv", csv_text(CANDLES, stamp=str))
    ccxt_json = write_file("ccxt.json", json.dumps([list(c) for c in CANDLES]))

    loaded = [load_candles(path, timeframe="1m").candles for path in (iso_csv, ms_csv, ccxt_json)]

    assert loaded[0] == loaded[1] == loaded[2] == CANDLES


def test_timestamps_without_zone_or_with_an_offset_are_read_as_utc(write_file):
    text = csv_text(CANDLES[:2], stamp=lambda ts: iso(ts).replace("T", " ").replace("Z", ".000000"))
    text = with_line(text, 3, "2022-01-01T02:01:00+02:00" + text.splitlines()[2][26:])

    candles = load_candles(write_file("naive.csv", text)).candles

    assert [c.ts_ms for c in candles] == [T0, T0 + 60_000]


def test_a_lower_case_z_is_utc_and_read_without_a_warning(write_file, recwarn):
    lower = write_file("lower.csv", csv_text(CANDLES, stamp=lambda ts: iso(ts).lower()))

    assert load_candles(lower, timeframe="1m").candles == CANDLES
    assert file_columns._iso_ms("2022-01-01t00:00:00z") == T0       # the value-by-value path
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_header_order_case_and_extra_columns_do_not_matter(write_file):
    lines = ["Volume,Close,trades,Timestamp,High,Low,Open"]
    lines += [f"{c.volume},{c.close},7,{c.ts_ms},{c.high},{c.low},{c.open}" for c in CANDLES]

    assert load_candles(write_file("cols.csv", "\n".join(lines))).candles == CANDLES


def test_a_headerless_binance_kline_file_is_read_by_position(write_file):
    lines = [f"{c.ts_ms},{c.open},{c.high},{c.low},{c.close},{c.volume},{c.ts_ms + 59_999},1.0,5,0.5,0.1,0"
             for c in CANDLES]

    assert load_candles(write_file("klines.csv", "\n".join(lines))).candles == CANDLES


def test_a_headerless_file_of_another_layout_is_an_error(write_file):
    path = write_file("odd.csv", "1640995200000,1,2,0.5,1.5\n")

    with pytest.raises(MarketDataError, match=r"odd\.csv: no header line and 5 columns; expected a header"):
        load_candles(path)


# -- date range --------------------------------------------------------------------------------


def test_start_is_inclusive_and_end_exclusive_and_naive_means_utc(write_file):
    path = write_file("range.csv", csv_text(CANDLES))
    start = datetime(2022, 1, 1, 0, 5)
    end = datetime(2022, 1, 1, 0, 10, tzinfo=UTC)

    candles = load_candles(path, start=start, end=end).candles

    assert candles == CANDLES[5:10]


def test_an_aware_start_in_another_zone_is_converted(write_file):
    path = write_file("range.csv", csv_text(CANDLES))
    start = datetime(2022, 1, 1, 2, 20, tzinfo=timezone(timedelta(hours=2)))

    assert load_candles(path, start=start).candles == CANDLES[20:]


def test_a_range_with_no_candles_says_what_the_file_covers(write_file):
    path = write_file("range.csv", csv_text(CANDLES))

    with pytest.raises(MarketDataError) as caught:
        load_candles(path, start=datetime(2023, 1, 1))

    assert str(caught.value).startswith(f"{path}: no candles from 2023-01-01 00:00:00 to the end; "
                                        "the file covers 2022-01-01T00:00:00Z .. 2022-01-01T00:29:00Z")


def test_a_range_with_no_candles_in_a_file_dated_before_year_one_is_still_a_clear_error(write_file):
    text = csv_text(CANDLES).replace("2022-01-01T00:00:00Z", "-1", 1)   # numpy reads it as year -1
    path = write_file("range.csv", text)

    with pytest.raises(MarketDataError) as caught:
        load_candles(path, start=datetime(2023, 1, 1))

    assert str(caught.value).startswith(f"{path}: no candles from 2023-01-01 00:00:00 to the end; "
                                        "the file covers -62198755200000 ms since 1970 .. ")


def test_end_before_start_is_an_error(write_file):
    path = write_file("range.csv", csv_text(CANDLES))

    with pytest.raises(MarketDataError, match="is not after start"):
        load_candles(path, start=datetime(2022, 1, 2), end=datetime(2022, 1, 1))


# -- bad rows ----------------------------------------------------------------------------------


def test_unparsable_timestamp_and_number_are_rejected_rows_named_by_line(write_file, warnings_logged):
    text = csv_text(CANDLES[:5])
    text = with_line(text, 3, "yesterday,1,2,0.5,1.5,10")
    text = with_line(text, 5, f"{iso(CANDLES[3].ts_ms)},1,2,0.5,n/a,10")

    result = load_candles(write_file("bad.csv", text))

    assert result.candles == [CANDLES[0], CANDLES[2], CANDLES[4]]
    assert result.rejected == {"bad_timestamp": 1, "not_finite": 1}
    path = str(write_file("bad.csv", text))
    assert warnings_logged()[:2] == [
        f"{path} line 3: timestamp is missing, not a date or outside 1970..2200; row skipped",
        f"{path} line 5: close is missing, not a number or infinite; row skipped",
    ]


def test_blank_lines_are_skipped_without_shifting_line_numbers(write_file, warnings_logged):
    text = csv_text(CANDLES[:3]).replace("\n", "\n\n", 1)  # a blank line 2
    text = with_line(text, 5, f"{iso(CANDLES[2].ts_ms)},1,2,0.5,1.5,-3")

    result = load_candles(write_file("blank.csv", text))

    assert result.candles == CANDLES[:2]
    assert warnings_logged()[0].endswith("blank.csv line 5: volume is -3.0; it must be >= 0; row skipped")


def test_a_row_with_the_wrong_number_of_fields_is_rejected(write_file, warnings_logged):
    text = csv_text(CANDLES[:4])
    text = with_line(text, 3, text.splitlines()[2] + ",99")
    text = with_line(text, 4, ",".join(text.splitlines()[3].split(",")[:4]))

    result = load_candles(write_file("fields.csv", text))

    assert result.candles == [CANDLES[0], CANDLES[3]]
    assert result.rejected == {"malformed": 2}
    assert "fields.csv line 3: malformed: not the six fields timestamp, open" in warnings_logged()[0]


def test_crlf_line_ends_a_byte_order_mark_and_quoted_fields_load_the_same_candles(write_file):
    plain = csv_text(CANDLES[:5])
    quoted = "\n".join(",".join(f'"{field}"' for field in line.split(",")) for line in plain.splitlines()) + "\n"
    variants = {"crlf.csv": plain.replace("\n", "\r\n"), "bom.csv": "\ufeff" + plain, "quoted.csv": quoted}

    for name, text in variants.items():
        assert load_candles(write_file(name, text)).candles == CANDLES[:5], name


def test_a_line_of_spaces_is_a_rejected_row_not_a_blank_line(write_file, warnings_logged):
    text = with_line(csv_text(CANDLES[:4]), 3, "   ")

    result = load_candles(write_file("spaces.csv", text))

    assert result.candles == [CANDLES[0], CANDLES[2], CANDLES[3]]
    assert result.rejected == {"malformed": 1}
    assert "spaces.csv line 3: malformed" in warnings_logged()[0]


def test_a_file_read_in_chunks_gives_the_candles_rejects_and_line_numbers_of_one_read_whole(
        write_file, warnings_logged, monkeypatch):
    text = csv_text(CANDLES[:12]).replace("\n", "\r\n")
    text = with_line(text, 4, "")                                        # a blank line
    text = with_line(text, 6, f"{iso(CANDLES[4].ts_ms)},1,2,0.5")        # too few fields
    text = with_line(text, 9, f"{iso(CANDLES[7].ts_ms)},1,2,0.5,n/a,10")  # not a number
    path = write_file("chunks.csv", text)
    whole = load_candles(path)
    whole_warnings = warnings_logged()

    monkeypatch.setattr(file_columns, "_CHUNK_ROWS", 4)
    chunked = load_candles(path)

    assert (chunked.candles, chunked.rejected) == (whole.candles, whole.rejected)
    assert len(whole.candles) == 9 and whole.rejected == {"malformed": 1, "not_finite": 1}
    assert warnings_logged()[len(whole_warnings):] == whole_warnings


def test_bad_json_items_are_rejected_by_index(write_file, warnings_logged):
    items = [list(c) for c in CANDLES[:4]]
    items[1] = items[1][:4]
    items[2][4] = "oops"

    result = load_candles(write_file("bad.json", json.dumps(items)))

    assert result.candles == [CANDLES[0], CANDLES[3]]
    assert result.rejected == {"malformed": 1, "not_finite": 1}
    assert [w.split(": ", 1)[0][-6:] for w in warnings_logged()] == ["item 1", "item 2"]


def test_a_file_with_every_row_bad_is_an_error(write_file):
    path = write_file("allbad.csv", f"{HEADER}\nx,1,2,3,4,5\ny,1,2,3,4,5\n")

    with pytest.raises(MarketDataError, match=r"allbad\.csv: all 2 rows were rejected \(bad_timestamp 2\)"):
        load_candles(path)


# -- whole-file errors -------------------------------------------------------------------------


def test_missing_columns_are_named(write_file):
    path = write_file("x.csv", "timestamp,open,high,low,close\n2022-01-01T00:00:00Z,1,2,0.5,1.5\n")

    with pytest.raises(MarketDataError) as caught:
        load_candles(path)

    expected = f"{path}: missing columns ['volume']; expected timestamp,open,high,low,close,volume"
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.csv", "", "the first line is empty"),
        ("header.csv", HEADER + "\n", "no candles; expected a header line"),
        ("binary.csv", HEADER.encode() + b"\n\xff\xfe\x00,1,2,3,4,5\n", "cannot read as CSV"),
        ("empty.json", "", "not valid JSON"),
        ("list.json", "[]", "no candles; expected ccxt OHLCV"),
        ("dict.json", '{"BTC/USDT": [[1, 2, 3, 4, 5, 6]]}', "got an object with keys ['BTC/USDT']; expected ccxt"),
        ("dicts.json", '[{"ts": 1}]', "got a list of dict; expected ccxt OHLCV"),
        ("seconds.csv", f"{HEADER}\n1640995200,1,2,0.5,1.5,10\n", "look like epoch seconds"),
        ("micros.json", "[[1640995200000000, 1, 2, 0.5, 1.5, 10]]", "look like epoch microseconds"),
        ("candles.parquet", "PAR1", "unknown file type '.parquet'; expected .csv or .json"),
    ],
)
def test_unusable_files_raise_an_error_that_starts_with_the_path(write_file, name, content, says):
    path = write_file(name, content)

    with pytest.raises(MarketDataError) as caught:
        load_candles(path)

    assert str(caught.value).startswith(f"{path}: ") and says in str(caught.value)


def test_a_missing_file_or_a_directory_is_an_error(tmp_path):
    with pytest.raises(MarketDataError, match=r"nope\.csv: no such file"):
        load_candles(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(MarketDataError, match=r"dir\.csv: is a directory"):
        load_candles(tmp_path / "dir.csv")


def test_a_file_of_another_timeframe_is_an_error(write_file):
    path = write_file("five.csv", csv_text(generate_candles(count=20, timeframe="5m")))

    with pytest.raises(MarketDataError, match="candles are 5m apart, not 1m"):
        load_candles(path, timeframe="1m")


# -- the real files ----------------------------------------------------------------------------


def test_real_files_load_without_rejects_and_ada_gaps_are_reported(shared_data, warnings_logged):
    result = load_candles(shared_data / "ADA_BTC-5m.csv", timeframe="5m")

    assert len(result.candles) == 5720 and result.rejected == {}
    assert len(result.gaps) == 5
    assert warnings_logged() == [
        f"{shared_data / 'ADA_BTC-5m.csv'}: 5 gaps in the 5m candles, 40 candles missing in all; "
        "the largest is 33 candles from 2018-01-15T12:00:00Z"]


@pytest.mark.parametrize("name", ["BTC_USD-1m-2022-01.csv", "BTC_X-1m-2017-11.csv", "ETH_BTC-5m.csv",
                                  "LTC_BTC-5m.csv", "XRP_ETH-1m.csv"])
def test_real_files_have_no_bad_rows_and_at_most_one_warning(shared_data, name, warnings_logged):
    result = load_candles(shared_data / name)

    assert result.rejected == {} and len(warnings_logged()) <= 1


def test_the_example_formats_load_the_same_candles_as_the_csv_files(shared_data):
    raw = load_candles(shared_data / "formats" / "btc-perp-raw-1m.csv").candles
    ccxt = load_candles(shared_data / "formats" / "UNITTEST_BTC-1m-ccxt.json").candles
    klines = load_candles(shared_data / "formats" / "ADABTC-binance-klines-1m.csv", timeframe="1m").candles

    assert raw == load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles
    # The JSON holds 0.00162 where the CSV holds 0.0016200000000000001: equal but for float noise.
    from_csv = load_candles(shared_data / "BTC_X-1m-2017-11.csv").candles
    assert [c.ts_ms for c in ccxt] == [c.ts_ms for c in from_csv]
    assert all(a == pytest.approx(b, rel=1e-12) for a, b in zip(ccxt, from_csv))
    assert len(klines) == 10
    assert klines[0] == Candle(1637971200000, 2.853e-05, 2.854e-05, 2.851e-05, 2.854e-05, 36304.2)
