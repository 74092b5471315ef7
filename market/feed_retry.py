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

A rate limit (429) or a ban (418; `RATE_LIMIT_ERRORS`) is retried no sooner than the reply's
`Retry-After` says: Binance turns requests sent during its wait into an IP ban, which stops
every bot of the address, orders included.

While the client's exchange account backs off (`execution.back_off`, set on the client's
throttler by `execution.rate_limit.install`: another request's 429, or a 418 ban of minutes),
a request would wait in the throttler, inside its timeout: a ban of ten minutes became a
"TimeoutError" warning every 30 s. The feed waits the back-off out first, saying until when,
and does not count the wait as a failure.

`market.download` retries a bounded number of times instead, over the same two lists.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Awaitable, Callable, TypeVar

import ccxt
from loguru import logger

from market.feed_clock import FeedClock
from market.models import iso_utc

# BadRequest covers BadSymbol; ExchangeClosedByUser means the shared client was closed under us.
FATAL_ERRORS = (ccxt.AuthenticationError, ccxt.BadRequest, ccxt.NotSupported, ccxt.ExchangeClosedByUser)
# OperationFailed covers NetworkError (timeouts, 5xx, rate limits); TimeoutError is our own deadline.
TEMPORARY_ERRORS = (ccxt.OperationFailed, ccxt.ExchangeError, TimeoutError)
# A 429 or a 418: the exchange was reached and asks for a wait (in ccxt 4 neither class is the other's).
RATE_LIMIT_ERRORS = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
_MAX_ERROR_CHARS = 200   # ccxt puts whole HTML error pages in its messages

T = TypeVar("T")


class FeedRetry:
    """Runs a feed's requests until they work, waiting on the feed's `clock` between tries.

    `what` names what is fetched in the log lines ("candles", "trades"); `on_failure` is called
    after each failed try, and at most every `max_secs` while an account back-off is waited out
    (the feed checks whether its candles are overdue).
    """

    def __init__(self, source: str, what: str, clock: FeedClock, *, initial_secs: float, max_secs: float,
                 timeout_secs: float, on_failure: Callable[[], None], client: Any = None) -> None:
        self._source, self._what, self._clock = source, what, clock
        self._initial_secs, self._max_secs, self._timeout_secs = initial_secs, max_secs, timeout_secs
        self._on_failure = on_failure
        self._client = client      # the ccxt client asked: its last reply's headers hold Retry-After
        self._failures = 0    # failed requests in a row
        self._said_until_ms = 0   # the end of the account back-off last logged: one line per back-off

    async def __call__(self, request: Callable[[], Awaitable[T]]) -> T | None:
        """`await request()` within the timeout, retried until it works; None when the feed is
        closed meanwhile. Raises the `FATAL_ERRORS`."""
        while not self._clock.closed:
            if (back_off := self._account_back_off()) is not None:
                if not await self._wait_out(back_off):
                    return None
                continue
            try:
                async with asyncio.timeout(self._timeout_secs):
                    result = await request()
            except FATAL_ERRORS:
                raise
            except TEMPORARY_ERRORS as exc:
                if isinstance(exc, TimeoutError) and self._account_back_off() is not None:
                    continue           # it waited in a back-off begun meanwhile: waited out above, not a failure
                # Read now, before another task's request replaces the client's last headers.
                told = retry_after_secs(self._client) if isinstance(exc, RATE_LIMIT_ERRORS) else None
                delay_secs = self._failed(exc, told)
                self._on_failure()
                if not await self._clock.sleep(delay_secs):
                    return None
                continue
            if self._failures:
                logger.info("{}: {} fetched again after {} failed attempts", self._source, self._what, self._failures)
                self._failures = 0
            return result
        return None

    def _account_back_off(self) -> Any:
        """The client's account back-off while one is under way, else None. Read off the
        client's throttler (`execution.rate_limit.BackOff`), where every request of the client
        waits it out; `market` does not import `execution`."""
        back_off = getattr(getattr(self._client, "throttler", None), "back_off", None)
        return back_off if back_off is not None and back_off.holding() else None

    async def _wait_out(self, back_off: Any) -> bool:
        """Sleep until `back_off` ends, saying once until when; False when the feed is closed meanwhile."""
        if back_off.until_ms != self._said_until_ms:
            self._said_until_ms = back_off.until_ms
            logger.info("{}: waiting out the exchange's ban/back-off until {} (every request of this account "
                        "waits; not a failure), then fetching {} again", self._source,
                        iso_utc(back_off.until_ms), self._what)
        while back_off.holding():
            if not await self._clock.sleep(min(back_off.remaining_secs(), self._max_secs)):
                return False
            self._on_failure()
        return True

    def _failed(self, exc: BaseException, told_secs: float | None = None) -> float:
        """Count a failed request; log the first of a streak. Returns the seconds to wait: the
        backoff, or the exchange's `Retry-After` (`told_secs`) when that is longer."""
        self._failures += 1
        delay_secs = min(self._initial_secs * 2 ** (self._failures - 1), self._max_secs)
        if told_secs is not None and told_secs > delay_secs:
            delay_secs = told_secs
            logger.warning("{}: fetching {} failed ({}); the exchange asks to wait {:g}s, so the next try is "
                           "then", self._source, self._what, describe_error(exc), told_secs)
        elif self._failures == 1:
            logger.warning("{}: fetching {} failed ({}); retrying with backoff up to every {:g}s until it "
                           "works (one line when it does)", self._source, self._what, describe_error(exc),
                           self._max_secs)
        else:
            logger.debug("{}: attempt {} failed ({}); next in {:g}s", self._source, self._failures,
                         describe_error(exc), delay_secs)
        return delay_secs


def retry_after_secs(client: Any) -> float | None:
    """The `Retry-After` of `client`'s last reply in seconds (ccxt keeps the last reply's headers
    on the client, `last_response_headers`), or None: no client, no header, or not a number of
    seconds (the HTTP-date form is not read; Binance sends seconds). Capped at an hour: a
    header of a year must not park a feed for good."""
    headers = getattr(client, "last_response_headers", None) or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        secs = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return None
    return min(secs, 3600.0) if math.isfinite(secs) and secs >= 0 else None


def describe_error(exc: BaseException) -> str:
    """`exc`'s class and message on one line, cut to a readable length."""
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + "..."
    return f"{type(exc).__name__}: {text}"
