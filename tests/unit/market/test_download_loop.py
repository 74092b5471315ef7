"""`download_candles`' loop against a fake candle source handed in as the client: which pages it
asks for, where it resumes, how it steps over empty windows and stops at the closed candles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from market.download import HEADER, DownloadFailed, download_candles
from market.files import load_candles
from market.models import Candle

T0, TF = 1_704_067_200_000, 60_000


def row(i: int) -> list[float]:
    return [T0 + i * TF, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0 + i]


class FakeCandleSource:
    """The part of a ccxt client the download uses, over candles at the given indexes.

    `fetch_ohlcv` answers up to `limit` candles opening at or after `since`, from the candles
    that exist; with `per_window`, only those within `limit` candles of `since` (an exchange that
    answers per time window, so a gap gives an empty page). `errors` are raised first, in order."""

    id = "fake"
    has = {"fetchOHLCV": True, "fetchTime": True}
    timeframes = {"1m": "1m"}
    features: dict = {}

    def __init__(self, indexes, *, now_index: int, per_window: bool = False, rewind_after: int | None = None):
        self.rows = [row(i) for i in indexes]
        self.now_ms = T0 + now_index * TF + 1_000
        self.per_window = per_window
        self.rewind_after = rewind_after
        self.asked: list[int] = []
        self.errors: list[Exception] = []

    async def load_markets(self):
        return {"BTC/USDT": {"type": "spot"}}

    async def fetch_time(self):
        return self.now_ms

    def milliseconds(self):
        return self.now_ms

    async def fetch_ohlcv(self, symbol, timeframe, since, limit):
        assert (symbol, timeframe) == ("BTC/USDT", "1m")
        if self.errors:
            raise self.errors.pop(0)
        self.asked.append((since - T0) // TF)
        assert len(self.asked) < 100, f"the loop keeps asking: {self.asked[-5:]}"
        if self.rewind_after is not None and len(self.asked) > self.rewind_after:
            return [row(0)]                              # older than asked for
        window_end = since + limit * TF if self.per_window else float("inf")
        rows = [r for r in self.rows if since <= r[0] < window_end and r[0] <= self.now_ms]
        return [list(r) for r in rows[:limit]]


async def download(source: FakeCandleSource, out: Path, *, since: int = 0, until: int | None = None,
                   limit: int = 10, progress=None):
    async with asyncio.timeout(5):
        return await download_candles(source, "BTC/USDT", "1m", out, since_ms=T0 + since * TF,
                                      until_ms=None if until is None else T0 + until * TF, page_limit=limit,
                                      progress=progress, retry_delays_secs=(0.0, 0.0))


def written(out: Path) -> list[int]:
    return [(c.ts_ms - T0) // TF for c in load_candles(out).candles]


async def test_pages_follow_the_last_candle_and_stop_before_the_candle_still_open(tmp_path):
    source = FakeCandleSource(range(100), now_index=25)   # 0..24 closed, 25 forming
    reports = []

    summary = await download(source, tmp_path / "c.csv", progress=lambda *a: reports.append(a))

    assert source.asked == [0, 10, 20]
    assert written(tmp_path / "c.csv") == list(range(25))
    assert (summary.written, summary.first_ms, summary.last_ms) == (25, T0, T0 + 24 * TF)
    assert [r[2] for r in reports] == [10, 20, 25] and reports[-1][0] == reports[-1][1]
    assert load_candles(tmp_path / "c.csv").candles[3] == Candle(*row(3))


async def test_until_bounds_the_range_at_open_times_before_it(tmp_path):
    source = FakeCandleSource(range(100), now_index=90)

    await download(source, tmp_path / "c.csv", since=5, until=17)

    assert source.asked == [5, 15]
    assert written(tmp_path / "c.csv") == list(range(5, 17))


async def test_a_rerun_resumes_after_the_files_last_candle_and_writes_no_row_twice(tmp_path):
    out = tmp_path / "c.csv"
    await download(FakeCandleSource(range(100), now_index=13), out)
    assert written(out) == list(range(13))

    later = FakeCandleSource(range(100), now_index=31)
    summary = await download(later, out)

    assert later.asked == [13, 23]
    assert written(out) == list(range(31))
    assert summary.resumed_after_ms == T0 + 12 * TF and summary.written == 18
    assert out.read_text().count(HEADER) == 1


async def test_an_empty_window_is_stepped_over_and_the_candles_after_the_gap_are_written(tmp_path):
    source = FakeCandleSource([*range(0, 5), *range(37, 60)], now_index=45, per_window=True)

    await download(source, tmp_path / "c.csv")

    assert source.asked == [0, 5, 15, 25, 35]              # 5..34 empty: one window at a time
    assert written(tmp_path / "c.csv") == [*range(0, 5), *range(37, 45)]


async def test_candles_older_than_asked_for_stop_the_loop(tmp_path, log_records):
    source = FakeCandleSource(range(100), now_index=50, rewind_after=2)

    summary = await download(source, tmp_path / "c.csv")

    assert source.asked == [0, 10, 20]
    assert written(tmp_path / "c.csv") == list(range(20)) and summary.written == 20
    assert any("older than asked for" in r["message"] for r in log_records)


async def test_a_temporary_error_is_retried_and_a_refusal_fails_saying_what_the_file_holds(tmp_path):
    source = FakeCandleSource(range(100), now_index=15)
    source.errors = [ccxt.NetworkError("connection reset")]
    await download(source, tmp_path / "c.csv")
    assert written(tmp_path / "c.csv") == list(range(15))

    refusing = FakeCandleSource(range(100), now_index=40)
    refusing.errors = [ccxt.BadRequest("binance {\"code\":-1100}")]
    with pytest.raises(DownloadFailed, match="refused .* the file holds everything up to 2024-01-01T00:14:00Z"):
        await download(refusing, tmp_path / "c.csv")
    assert written(tmp_path / "c.csv") == list(range(15))


async def test_an_error_the_live_feeds_never_retry_is_not_retried_by_the_download_either(tmp_path, log_records):
    # A real ccxt client closed under the download raises ExchangeClosedByUser at its first
    # request: market.feed_retry's list says no retry can fix that, and the download uses that list.
    client = ccxt_async.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
    await client.close()

    with pytest.raises(DownloadFailed, match="loading markets was refused .*ExchangeClosedByUser"):
        await download_candles(client, "BTC/USDT", "1m", tmp_path / "c.csv", since_ms=T0, retry_delays_secs=(0.0, 0.0))
    assert not [r for r in log_records if r["level"].name == "WARNING"]     # no "retry 1 of 2"


async def test_a_rate_limit_waits_its_retry_after_and_is_not_called_a_network_failure(tmp_path, log_records):
    # Before: retried after the first delay however long the exchange asked to wait, and the
    # 429 was reported as "cannot reach the exchange ... no network here".
    source = FakeCandleSource(range(100), now_index=15)
    source.errors = [ccxt.RateLimitExceeded('binance 429 {"code":-1003,"msg":"Too many requests"}')]
    source.last_response_headers = {"Retry-After": "0.2"}

    await download(source, tmp_path / "c.csv")

    assert written(tmp_path / "c.csv") == list(range(15))
    [warning] = [r["message"] for r in log_records if r["level"].name == "WARNING"]
    assert "was rate-limited (RateLimitExceeded" in warning and warning.endswith("retry 1 of 2 in 0.2s")
