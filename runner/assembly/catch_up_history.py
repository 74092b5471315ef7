"""The candles a restarted paper or live bot's protective exits catch up on (see
`runner.state.exits_past_snapshot`): every candle since its snapshot, or since the fill of an
entry the journal holds past it, up to `MAX_CATCH_UP_CANDLES`.

Up to `SHARED_CATCH_UP_CANDLES` of them come as the warm-up of the bot's cursor on its shared
live stream, as its indicators' candles do. More than that (a daemon down for days on 1m) come
from a feed of the bot's own, paged from the exchange (`CcxtCandleFeed.history`: `fetch_ohlcv`
from a `since`, 500 candles a request), put through the exits and dropped. Taken through the
shared stream instead, they would stay in memory for as long as the stream runs: a stream
keeps the largest warm-up any bot asked of it (`LiveCandleStream.keep_history`), for every
bot on it, long after this one catch-up.

The count is made when the restore starts, by the clock; candles that close before the bot's
cursor is on its stream (the stream's own history paged, slowed by rate limits) or before the
catch-up (reconciliation reads) move the stream's live edge on. Those before the edge are in the
warm-up, at its end, so as many more are needed before them, else the oldest candles past the
snapshot were never put through the exits (5 closing while a new stream paged its history left
3 out); the one-off feed, asked later still, is asked for the candles closed since the edge too.
Those after the edge the cursor gives out live, each once.

What it costs, once, at the start of such a bot only: a request per 500 candles (a week of 1m,
10,080 candles, is 21 requests; the cap, 200) and the candles in memory until the catch-up is
done (about 28 MB at the cap). `python bench/exit_catch_up.py` prints the time on the stand-in.
"""

from __future__ import annotations

from typing import Callable

from loguru import logger

from market.clock import Clock
from market.models import Candle, iso_utc, timeframe_ms
from market.ports import MarketDataProvider
from market.stream import StreamCursor
from runner.state.exits_past_snapshot import MAX_CATCH_UP_CANDLES

__all__ = ["SHARED_CATCH_UP_CANDLES", "candles_to_catch_up", "shared_catch_up"]

# The most candles a catch-up asks of the shared stream's warm-up (3.5 days of 1m).
SHARED_CATCH_UP_CANDLES = 5_000


def shared_catch_up(count: int) -> int:
    """How many of `count` candles to catch up on come through the shared stream's warm-up."""
    return min(count, SHARED_CATCH_UP_CANDLES)


async def candles_to_catch_up(cursor: StreamCursor, make_feed: Callable[[], MarketDataProvider], count: int, *,
                              counted_at_ms: int, clock: Clock) -> list[Candle]:
    """The closed candles before `cursor`'s first live one, oldest first: the last `count` that
    had closed at `counted_at_ms` and every one closed since (see the module docstring), at
    most `MAX_CATCH_UP_CANDLES`. The cursor's warm-up (subscribed with at least
    `shared_catch_up(count)`), and, when it holds fewer, the older ones from a one-off
    `make_feed()`, read in pages and closed after. A candle at or after the warm-up's first is
    taken from the cursor only: the one-off feed, asked a moment later, may hold a candle the
    cursor gives out live, which the exits must see once."""
    recent = await cursor.history(shared_catch_up(count))
    if not recent:
        return recent
    bar_ms = timeframe_ms(cursor.timeframe)
    closed_since = sum(1 for c in recent if c.ts_ms + bar_ms > counted_at_ms)
    needed = min(count + closed_since, MAX_CATCH_UP_CANDLES)
    if closed_since:
        recent = await cursor.history(shared_catch_up(needed))
    if len(recent) >= needed:
        return recent
    feed = make_feed()
    try:
        # Its history ends at its own now: the candles closed after the cursor's edge come too
        # (dropped below), and one more per request of 500 for a candle closing while it pages.
        closed_after_edge = max(0, (clock.now_ms() - recent[-1].ts_ms) // bar_ms)
        fetched = await feed.history(needed + closed_after_edge + needed // 500 + 1)
    finally:
        await feed.aclose()
    older = [c for c in fetched if c.ts_ms < recent[0].ts_ms]
    logger.info("Catch-up: {} candles before {} paged from the exchange for the protective exits ({} from {})",
                len(older), iso_utc(recent[0].ts_ms), needed, iso_utc(older[0].ts_ms) if older else "-")
    return (older + recent)[-needed:]
