"""`botrunner download-data` and `market.download` against the Binance stand-in: the file holds
exactly the exchange's closed candles in the range, resumes without repeating a row, and reads
back through `market.files.load_candles` as the same candles."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from market.download import HEADER, DownloadInputError, download_candles
from market.files import load_candles
from market.models import Candle, iso_utc
from execution.standin import BinanceStandIn, make_ccxt_client

PROJECT = Path(__file__).resolve().parents[2]
T0_MS = 1_704_067_200_000           # 2024-01-01T00:00:00Z
STEP_MS = 60_000
NOW_INDEX = 60                      # the stand-in's clock: candle 60 is forming, 0..59 have closed
KLINES = "/api/v3/klines"
ROWS = [(T0_MS + i * STEP_MS, 30_000.0 + 10 * i, 30_030.5 + 10 * i, 29_980.25 + 10 * i, 30_010.0 + 10 * i,
         0.125 + i) for i in range(90)]


def candles(first: int, last: int) -> list[Candle]:
    """Candles first..last, inclusive."""
    return [Candle(*ROWS[i]) for i in range(first, last + 1)]


def ms(i: int) -> int:
    return T0_MS + i * STEP_MS


class Interrupted(Exception):
    pass


@pytest.fixture
async def standin():
    async with BinanceStandIn(ROWS, start_ms=ms(NOW_INDEX) + 1_000) as running:
        yield running


@pytest.fixture
async def client(standin):
    exchange = make_ccxt_client(standin)
    yield exchange
    await exchange.close()


def klines_pages(standin: BinanceStandIn) -> list[str]:
    return [r.params["startTime"] for r in standin.requests if r.path == KLINES]


async def test_writes_exactly_the_candles_in_the_range_page_by_page(client, standin, tmp_path):
    out = tmp_path / "btc.csv"

    summary = await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(10), until_ms=ms(50), page_limit=25)

    assert load_candles(out, timeframe="1m").candles == candles(10, 49)
    assert out.read_text().splitlines()[:2] == [HEADER, f"{iso_utc(ms(10))},30100.0,30130.5,30080.25,30110.0,10.125"]
    assert klines_pages(standin) == [str(ms(10)), str(ms(35))]
    assert (summary.written, summary.first_ms, summary.last_ms) == (40, ms(10), ms(49))


async def test_without_until_it_stops_at_the_last_closed_candle(client, tmp_path):
    out = tmp_path / "btc.csv"

    await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), page_limit=1000)

    assert load_candles(out).candles == candles(0, NOW_INDEX - 1)   # 60 is still forming


async def test_an_interrupted_run_resumes_without_duplicates(client, standin, tmp_path, log_records):
    out = tmp_path / "btc.csv"

    def stop_after_first_page(done_ms: int, total_ms: int, written: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), page_limit=20,
                               progress=stop_after_first_page)
    assert load_candles(out).candles == candles(0, 19)

    summary = await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), page_limit=20)

    result = load_candles(out, timeframe="1m")
    assert result.candles == candles(0, 59) and result.rejected == {}
    assert summary.resumed_after_ms == ms(19) and summary.written == 40
    assert klines_pages(standin)[1] == str(ms(20))


async def test_a_half_written_last_line_is_cut_and_written_again(client, tmp_path):
    out = tmp_path / "btc.csv"
    await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), until_ms=ms(10))
    with out.open("a") as file:
        file.write(f"{iso_utc(ms(10))},30100.0,301")            # killed mid-write

    await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), until_ms=ms(20))

    result = load_candles(out, timeframe="1m")
    assert result.candles == candles(0, 19) and result.rejected == {}


async def test_a_later_run_appends_only_candles_closed_since(client, standin, tmp_path):
    out = tmp_path / "btc.csv"
    await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0))
    standin.advance(5 * STEP_MS)

    summary = await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0))

    assert load_candles(out).candles == candles(0, 64) and summary.written == 5


async def test_a_failing_request_is_retried(client, standin, tmp_path):
    out = tmp_path / "btc.csv"
    standin.fail_next(f"GET {KLINES}", status=500)

    await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0), until_ms=ms(30), retry_delays_secs=[0])

    assert load_candles(out).candles == candles(0, 29)


async def test_a_file_that_is_not_a_candle_csv_is_refused_and_left_alone(client, tmp_path):
    out = tmp_path / "notes.csv"
    out.write_text("date,price\n2024-01-01,1\n")

    with pytest.raises(DownloadInputError, match="not the header timestamp,open,high,low,close,volume"):
        await download_candles(client, "BTC/USDT", "1m", out, since_ms=ms(0))

    assert out.read_text() == "date,price\n2024-01-01,1\n"


# -- the command line ----------------------------------------------------------------------------


async def botrunner_async(*args: str) -> tuple[int, str, str]:
    """The CLI in a real process, while this test's event loop keeps serving the stand-in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROJECT / "main.py"), *args, cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_command_downloads_from_a_base_url_and_a_rerun_is_up_to_date(standin, tmp_path):
    out = tmp_path / "data" / "btc.csv"
    args = ("download-data", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1m",
            "--since", "2024-01-01T00:05", "--out", str(out), "--base-url", standin.base_url)

    code, stdout, stderr = await botrunner_async(*args)
    assert code == 0, stderr
    assert "wrote 55 candles" in stdout
    assert load_candles(out, timeframe="1m").candles == candles(5, 59)

    code, stdout, stderr = await botrunner_async(*args)
    assert code == 0, stderr
    assert "up to date" in stdout
    assert standin.unserved == []


async def test_a_symbol_the_exchange_does_not_list_exits_2(standin, tmp_path):
    code, _, stderr = await botrunner_async(
        "download-data", "--exchange", "binance", "--symbol", "BTC/USDX", "--timeframe", "1m",
        "--since", "2024-01-01", "--out", str(tmp_path / "x.csv"), "--base-url", standin.base_url)

    assert code == 2
    assert stderr.strip() == "binance does not list 'BTC/USDX'; did you mean BTC/USDT?"


@pytest.mark.parametrize(("change", "message"), [
    ({"--exchange": "binanse"}, "unknown exchange 'binanse'; did you mean binance"),
    ({"--timeframe": "7x"}, "--timeframe: bad timeframe '7x'"),
    ({"--timeframe": "7m"}, "--timeframe: binance has no 7m candles"),
    ({"--until": "2023-12-31"}, "--until 2023-12-31T00:00:00Z is not after --since 2024-01-01T00:00:00Z"),
], ids=["unknown-exchange", "bad-timeframe", "timeframe-not-offered", "until-before-since"])
def test_bad_arguments_exit_2_before_any_request(tmp_path, change, message):
    options = {"--exchange": "binance", "--symbol": "BTC/USDT", "--timeframe": "1m", "--since": "2024-01-01",
               "--out": str(tmp_path / "x.csv"), "--base-url": "http://127.0.0.1:9", **change}
    result = subprocess.run([sys.executable, str(PROJECT / "main.py"), "download-data",
                             *[part for pair in options.items() for part in pair]],
                            cwd=PROJECT, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "x.csv").exists()


async def test_an_exchange_that_cannot_be_reached_is_said_at_the_first_failure(client, standin, tmp_path, log_records):
    standin.drop_next("GET /api/v3/exchangeInfo", times=4)       # aiohttp retries a dropped GET once by itself

    with pytest.raises(Exception, match="failed 2 times"):
        await download_candles(client, "BTC/USDT", "1m", tmp_path / "btc.csv", since_ms=ms(0), until_ms=ms(30),
                               retry_delays_secs=[0])

    [first, *_] = [r["message"] for r in log_records if r["level"].name == "WARNING"]
    assert "cannot reach the exchange while loading markets" in first and "trying 1 more times" in first
