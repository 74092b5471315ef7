"""Download past candles from an exchange into the CSV file the sim reads (`market.files`).

    botrunner download-data --exchange binance --symbol BTC/USDT --timeframe 1m \\
        --since 2024-01-01 --out data/btcusdt-1m.csv

Public market data only: no API keys. Candles come page by page from `fetch_ohlcv` (as many per
page as the exchange allows, `since` moving past the last candle of each page), are checked by
`market.validation`, and are appended to the file a page at a time, flushed, so an interrupted
run loses at most the page in flight. Running the same command again goes on after the file's
last candle, so no row is ever written twice. Only closed candles are written: open time +
timeframe <= the exchange's clock.

Errors, by what the command line does with them:

    DownloadInputError   the arguments cannot work (unknown exchange, symbol or timeframe, bad
                         dates, an --out file that is not a candle CSV): exit 2
    DownloadFailed       the exchange kept failing, or refused: exit 1; what was written stays,
                         and the same command resumes
"""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async
from loguru import logger

from market.feed_retry import FATAL_ERRORS, RATE_LIMIT_ERRORS, TEMPORARY_ERRORS, describe_error, retry_after_secs
from market.files import COLUMNS
from market.models import Candle, iso_utc, timeframe_ms
from market.validation import clean_candles

HEADER = ",".join(COLUMNS)
DEFAULT_PAGE_LIMIT = 500                  # when ccxt does not know the exchange's maximum
RETRY_DELAYS_SECS = (1.0, 2.0, 4.0, 8.0, 16.0)
REQUEST_TIMEOUT_SECS = 60.0               # beyond ccxt's own `timeout`, which covers one HTTP request

# (done_ms, total_ms, written): how much of this run's time range is done, and candles written so far.
Progress = Callable[[int, int, int], None]


class DownloadInputError(ValueError):
    """The arguments cannot work: unknown exchange, symbol or timeframe, bad dates, or an --out
    file that is not a candle CSV. The message says which and what was expected."""


class DownloadFailed(RuntimeError):
    """The exchange kept failing (or refused the request); the file keeps every page written."""


@dataclass(frozen=True, slots=True)
class DownloadSummary:
    """What one run did. `resumed_after_ms` is the last candle the file already held."""

    path: Path
    written: int
    resumed_after_ms: int | None
    first_ms: int | None
    last_ms: int | None

    def describe(self) -> str:
        if not self.written:
            return f"{self.path}: up to date, no new closed candles"
        resumed = f", after {iso_utc(self.resumed_after_ms)} already there" if self.resumed_after_ms else ""
        candles = "candle" if self.written == 1 else "candles"
        return (f"{self.path}: wrote {self.written} {candles}, {iso_utc(self.first_ms)} .. {iso_utc(self.last_ms)}"
                f"{resumed}")


def make_public_client(exchange_id: str, *, base_url: str | None = None, timeout_ms: int = 30_000) -> Any:
    """A ccxt async client for `exchange_id`'s public endpoints; the caller must `await client.close()`.

    `base_url` (say a testnet, or a local stand-in) replaces the origin of every URL in
    `client.urls["api"]`, keeping its path. Binance loads spot markets only and no currencies,
    which keeps the start to one request and needs no keys. Raises DownloadInputError for an
    exchange ccxt does not know, or a base_url that is not a URL.
    """
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id.lower(), ccxt.exchanges, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `python -c 'import ccxt; print(ccxt.exchanges)'`"
        raise DownloadInputError(f"unknown exchange {exchange_id!r}; {hint}")
    options: dict[str, Any] = {}
    if exchange_id == "binance":
        options = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}
    client = getattr(ccxt_async, exchange_id)({"enableRateLimit": True, "timeout": timeout_ms, "options": options})
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise DownloadInputError(f"--base-url {base_url!r} is not a URL; "
                                     "expected e.g. https://testnet.binance.vision")
        client.urls["api"] = _rebase(client.urls["api"], base_url.rstrip("/"))
    return client


async def run_download(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    out: Path,
    *,
    since_ms: int,
    until_ms: int | None = None,
    base_url: str | None = None,
    progress: Progress | None = None,
) -> DownloadSummary:
    """`download_candles` with a client of its own (`make_public_client`), closed at the end."""
    _check_timeframe_format(timeframe)
    client = make_public_client(exchange_id, base_url=base_url)
    try:
        return await download_candles(client, symbol, timeframe, out, since_ms=since_ms, until_ms=until_ms,
                                      progress=progress)
    finally:
        await client.close()


async def download_candles(
    client: Any,
    symbol: str,
    timeframe: str,
    out: Path,
    *,
    since_ms: int,
    until_ms: int | None = None,
    page_limit: int | None = None,
    progress: Progress | None = None,
    retry_delays_secs: Sequence[float] = RETRY_DELAYS_SECS,
) -> DownloadSummary:
    """Append `symbol`'s closed `timeframe` candles opening in [since_ms, until_ms) to the CSV `out`.

    `until_ms=None` means up to the exchange's clock. An existing `out` must start with the
    header `timestamp,open,high,low,close,volume`; the download goes on after its last row (a
    half-written last line, from a run killed mid-write, is cut first). `page_limit` defaults to
    the exchange's maximum as ccxt knows it. A failing request is retried after each of
    `retry_delays_secs`. The client is not closed.

    Raises DownloadInputError and DownloadFailed (see the module docstring).
    """
    tf = _check_timeframe(client, timeframe)
    if until_ms is not None and until_ms <= since_ms:
        raise DownloadInputError(f"--until {iso_utc(until_ms)} is not after --since {iso_utc(since_ms)}")
    out = Path(out)
    has_header, last_ms = _read_existing(out)
    source = f"{client.id} {symbol} {timeframe}"

    markets = await _retrying(source, "loading markets", client.load_markets, retry_delays_secs, client=client)
    if symbol not in markets:
        close = difflib.get_close_matches(symbol.upper(), list(markets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DownloadInputError(f"{client.id} does not list {symbol!r}{hint}")
    limit = page_limit or _page_limit(client, markets[symbol])
    now_ms = await _exchange_ms(client, source, retry_delays_secs)
    if since_ms > now_ms - tf:
        raise DownloadInputError(f"--since {iso_utc(since_ms)}: no {timeframe} candle has closed since then "
                                 f"(the exchange's clock says {iso_utc(now_ms)})")
    end_ms = now_ms - tf + 1 if until_ms is None else min(until_ms, now_ms - tf + 1)  # open times before this
    start_ms = since_ms if last_ms is None else max(since_ms, last_ms + tf)
    resumed_after = last_ms
    if last_ms is not None:
        logger.info("{}: resuming after {}, its last candle", out, iso_utc(last_ms))

    since, written, first_ms = start_ms, 0, None
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8", newline="") as file:
        if not has_header:
            file.write(HEADER + "\n")
            file.flush()
        while since < end_ms:
            rows = await _retrying(source, f"fetching candles from {iso_utc(since)}", lambda: client.fetch_ohlcv(
                symbol, timeframe, since=since, limit=limit), retry_delays_secs, written_up_to=last_ms, client=client)
            page = [c for c in _checked(rows, source)
                    if since <= c.ts_ms < end_ms and (last_ms is None or c.ts_ms > last_ms)]
            if page:
                file.write("".join(map(_csv_line, page)))
                file.flush()
                written += len(page)
                first_ms = first_ms if first_ms is not None else page[0].ts_ms
                last_ms = page[-1].ts_ms
            if not rows:
                since += limit * tf       # some exchanges answer per window: step over an empty one
            elif rows[-1][0] >= since:
                since = rows[-1][0] + tf
            else:
                logger.warning("{}: the exchange sent candles older than asked for ({} < {}); stopping here",
                               source, iso_utc(rows[-1][0]), iso_utc(since))
                break
            if progress is not None:
                progress(min(since, end_ms) - start_ms, max(end_ms - start_ms, 1), written)
    return DownloadSummary(out, written, resumed_after, first_ms, last_ms if written else None)


def _read_existing(path: Path) -> tuple[bool, int | None]:
    """(has the header, last candle's open time) of the file an earlier run left; a half-written
    last line is cut off. Raises DownloadInputError for a file that is not ours."""
    if not path.exists():
        return False, None
    if path.is_dir():
        raise DownloadInputError(f"--out {path} is a folder; expected a .csv file name")
    if path.stat().st_size == 0:
        return False, None
    with path.open("rb+") as file:
        first = file.readline().decode("utf-8-sig", errors="replace").strip()
        if [name.strip().lower() for name in first.split(",")] != list(COLUMNS):
            raise DownloadInputError(f"{path}: the first line is {first[:80]!r}, not the header {HEADER}; "
                                     "choose another --out, or delete the file to start over")
        size = file.seek(0, 2)
        tail_at = max(0, size - 65_536)
        file.seek(tail_at)
        tail = file.read()
        if not tail.endswith(b"\n"):
            keep = tail.rfind(b"\n") + 1
            logger.warning("{}: cut a half-written last line {!r}, left by an interrupted run", path,
                           tail[keep:][:80].decode("utf-8", errors="replace"))
            file.truncate(tail_at + keep)
            tail = tail[:keep]
    last = tail.decode("utf-8", errors="replace").strip().rsplit("\n", 1)[-1].strip()
    if not last or last.lower() == HEADER:
        return True, None
    return True, _parse_ts(path, last.split(",", 1)[0])


def _parse_ts(path: Path, text: str) -> int:
    try:
        if text.isdigit():
            return int(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DownloadInputError(f"{path}: cannot read the last line's timestamp {text!r}; expected ISO 8601 "
                                 "like 2024-01-01T00:00:00Z; delete the file to start over") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # as market.files reads it
    return round(moment.timestamp() * 1000)


def _csv_line(candle: Candle) -> str:
    # repr() writes a float's shortest exact form: the file reads back as the very same candles.
    ts, *values = candle
    return ",".join([iso_utc(ts), *map(repr, values)]) + "\n"


def _checked(rows: list[list[Any]], source: str) -> list[Candle]:
    if not rows:
        return []
    return clean_candles(((f"item {i}", *row[:6]) for i, row in enumerate(rows)), source=source).candles


def _check_timeframe_format(timeframe: str) -> int:
    try:
        return timeframe_ms(timeframe)
    except ValueError as exc:
        raise DownloadInputError(f"--timeframe: {exc}") from None


def _check_timeframe(client: Any, timeframe: str) -> int:
    tf = _check_timeframe_format(timeframe)
    if not client.has.get("fetchOHLCV"):
        raise DownloadInputError(f"{client.id} serves no candles (fetchOHLCV) through ccxt")
    if client.timeframes and timeframe not in client.timeframes:
        raise DownloadInputError(f"--timeframe: {client.id} has no {timeframe} candles; it has "
                                 f"{', '.join(client.timeframes)}")
    return tf


def _page_limit(client: Any, market: dict[str, Any]) -> int:
    """The most candles per request, from ccxt's `features` (binance 1000, kraken 720)."""
    features = client.features or {}
    section = features.get(market.get("type")) or features.get("spot") or {}
    if "fetchOHLCV" not in section:  # derivatives are split by linear/inverse
        section = next((v for v in section.values() if isinstance(v, dict) and "fetchOHLCV" in v), {})
    limit = (section.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else DEFAULT_PAGE_LIMIT


async def _exchange_ms(client: Any, source: str, delays: Sequence[float]) -> int:
    """The exchange's clock, which decides which candles have closed; ours if it has none."""
    if client.has.get("fetchTime"):
        return int(await _retrying(source, "reading the exchange's clock", client.fetch_time, delays, client=client))
    return client.milliseconds()


async def _retrying(source: str, action: str, call: Callable[[], Awaitable[Any]], delays: Sequence[float], *,
                    written_up_to: int | None = None, client: Any = None) -> Any:
    """`await call()`, again after each of `delays` while it fails with a temporary error; after a
    rate limit, no sooner than the `Retry-After` of `client`'s reply (`market.feed_retry`)."""
    saved = f"; the file holds everything up to {iso_utc(written_up_to)}" if written_up_to is not None else ""
    for attempt in range(len(delays) + 1):
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECS):
                return await call()
        except FATAL_ERRORS as exc:           # the live feeds' list: the same errors no retry can fix
            raise DownloadFailed(f"{source}: {action} was refused ({describe_error(exc)}){saved}") from exc
        except TEMPORARY_ERRORS as exc:
            if attempt == len(delays):
                raise DownloadFailed(f"{source}: {action} failed {attempt + 1} times, last with {describe_error(exc)}"
                                     f"{saved}; run the same command again to resume") from exc
            wait_secs = delays[attempt]
            if isinstance(exc, RATE_LIMIT_ERRORS):      # a 429 or 418: the exchange was reached
                wait_secs = max(wait_secs, retry_after_secs(client) or 0.0)
                logger.warning("{}: {} was rate-limited ({}); retry {} of {} in {:g}s", source, action,
                               describe_error(exc), attempt + 1, len(delays), wait_secs)
            elif attempt == 0 and isinstance(exc, ccxt.NetworkError | TimeoutError):
                # Said at once, not after the last retry half a minute later.
                logger.warning("{}: cannot reach the exchange while {} ({}): no network here, a wrong "
                               "--base-url, or the exchange is down; trying {} more times over {:g}s (Ctrl-C stops)",
                               source, action, describe_error(exc), len(delays), sum(delays))
            else:
                logger.warning("{}: {} failed ({}); retry {} of {} in {:g}s", source, action, describe_error(exc),
                               attempt + 1, len(delays), delays[attempt])
            await asyncio.sleep(wait_secs)
    raise AssertionError("unreachable")


def _rebase(urls: Any, base_url: str) -> Any:
    """`urls` (ccxt's nested dict of API URLs) with every URL's origin replaced by `base_url`."""
    if isinstance(urls, dict):
        return {name: _rebase(url, base_url) for name, url in urls.items()}
    if isinstance(urls, str):
        return base_url + urlsplit(urls).path
    return urls
