"""A live feed's requests, retried with backoff until they work (`FeedRetry`), and which ccxt
errors no retry can fix.

Both live feeds (`market.ccxt_feed`'s klines, `market.trade_feed`'s trades) ask the exchange
again and again for as long as a bot runs, so a failure is retried forever, 1 s, 2 s, 4 s ...
apart up to a maximum, with one WARNING per failure streak and one INFO when it ends:

    ccxt.AuthenticationError, BadRequest (BadSymbol),   raised: a person has to fix the config
      NotSupported, ExchangeClosedByUser
    any other ccxt.ExchangeError, ccxt.OperationFailed  retried
      (NetworkError, RateLimitExceeded, a 5xx ...)
      and a request that outlives the timeout

`market.download` retries a bounded number of times instead, over the same two lists.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

import ccxt
from loguru import logger

from market.feed_clock import FeedClock

# BadRequest covers BadSymbol; ExchangeClosedByUser means the shared client was closed under us.
FATAL_ERRORS = (ccxt.AuthenticationError, ccxt.BadRequest, ccxt.NotSupported, ccxt.ExchangeClosedByUser)
# OperationFailed covers NetworkError (timeouts, 5xx, rate limits); TimeoutError is our own deadline.
TEMPORARY_ERRORS = (ccxt.OperationFailed, ccxt.ExchangeError, TimeoutError)
_MAX_ERROR_CHARS = 200   # ccxt puts whole HTML error pages in its messages

T = TypeVar("T")


class FeedRetry:
    """Runs a feed's requests until they work, waiting on the feed's `clock` between tries.

    `what` names what is fetched in the log lines ("candles", "trades"); `on_failure` is called
    after each failed try (the feed checks whether its candles are overdue).
    """

    def __init__(self, source: str, what: str, clock: FeedClock, *, initial_secs: float, max_secs: float,
                 timeout_secs: float, on_failure: Callable[[], None]) -> None:
        self._source, self._what, self._clock = source, what, clock
        self._initial_secs, self._max_secs, self._timeout_secs = initial_secs, max_secs, timeout_secs
        self._on_failure = on_failure
        self._failures = 0    # failed requests in a row

    async def __call__(self, request: Callable[[], Awaitable[T]]) -> T | None:
        """`await request()` within the timeout, retried until it works; None when the feed is
        closed meanwhile. Raises the `FATAL_ERRORS`."""
        while not self._clock.closed:
            try:
                async with asyncio.timeout(self._timeout_secs):
                    result = await request()
            except FATAL_ERRORS:
                raise
            except TEMPORARY_ERRORS as exc:
                delay_secs = self._failed(exc)
                self._on_failure()
                if not await self._clock.sleep(delay_secs):
                    return None
                continue
            if self._failures:
                logger.info("{}: {} fetched again after {} failed attempts", self._source, self._what, self._failures)
                self._failures = 0
            return result
        return None

    def _failed(self, exc: BaseException) -> float:
        """Count a failed request; log the first of a streak. Returns the seconds to wait."""
        self._failures += 1
        delay_secs = min(self._initial_secs * 2 ** (self._failures - 1), self._max_secs)
        if self._failures == 1:
            logger.warning("{}: fetching {} failed ({}); retrying with backoff up to every {:g}s until it "
                           "works (one line when it does)", self._source, self._what, describe_error(exc),
                           self._max_secs)
        else:
            logger.debug("{}: attempt {} failed ({}); next in {:g}s", self._source, self._failures,
                         describe_error(exc), delay_secs)
        return delay_secs


def describe_error(exc: BaseException) -> str:
    """`exc`'s class and message on one line, cut to a readable length."""
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + "..."
    return f"{type(exc).__name__}: {text}"
