"""`AccountBackOff`: how long every request of an exchange account waits after a rate limit.

Every bot on an account shares the exchange's limits, and Binance bans the address that sends
during a 429's `Retry-After` ("failing to back off after receiving 429s will result in an
automated IP ban (HTTP status 418)"); the ban stops every bot on it, orders included. So one
back-off holds every request of the account's client: `ExchangeAccount.call` waits it out before
each call, and the client's throttler (`execution.rate_limit`) before every request made on the
client directly (the candle feeds'). Any 429 or 418 reply starts it: the account's own (a
`RateLimited`, `after_rate_limit`) and those the client's replies show (`told_to_wait`).

The wait is the exchange's `Retry-After` when it gives one; else (Binance's -1015 order count
says none) 1 s, 2 s, 4 s ... up to 60 s for as long as requests sent after a wait keep being
refused. Refusals that arrive while a wait is under way (the orders of many bots sent together
at a candle close, refused together) belong to it and do not double it.
"""

from __future__ import annotations

from loguru import logger

from execution.errors import RateLimited
from market.clock import Clock

__all__ = ["AccountBackOff"]

_BASE_SECS = 1.0        # first back-off after a rate limit without Retry-After
_CAP_SECS = 60.0


class AccountBackOff:
    """The back-off of the account `name`, on `clock` (the account's)."""

    __slots__ = ("until_ms", "_streak", "_clock", "_name")

    def __init__(self, name: str, clock: Clock) -> None:
        self.until_ms = 0
        """Clock time until which every request waits (in the past when not backing off)."""
        self._streak = 0
        self._clock = clock
        self._name = name

    def holding(self) -> bool:
        """A back-off is under way."""
        return self.until_ms > self._clock.now_ms()

    def remaining_secs(self) -> float:
        """Seconds until the back-off ends (0 when none is under way)."""
        return max(0, self.until_ms - self._clock.now_ms()) / 1000

    async def wait(self) -> None:
        """Until the back-off ends (at once when none is under way)."""
        while (remaining_ms := self.until_ms - self._clock.now_ms()) > 0:
            await self._clock.sleep(remaining_ms / 1000)

    def after_rate_limit(self, exc: RateLimited) -> None:
        """The account's call `exc` was refused for going too fast: wait as it says, or, when it
        does not say, longer each time a request sent after the last wait is refused again."""
        if exc.retry_after_secs is not None:
            secs = exc.retry_after_secs
        elif self.holding():
            return                  # refused with the others sent before this wait began: no longer
        else:
            secs = min(_CAP_SECS, _BASE_SECS * 2 ** min(self._streak, 16))
        self._streak += 1
        self._hold_for(secs, f"{exc.action} {exc.symbol or ''}".rstrip())

    def told_to_wait(self, status: int, what: str, retry_after_secs: float | None) -> None:
        """A reply to `what` ("GET /api/v3/klines") on the account's client was `status` (429 or
        418) with this `Retry-After` (None: the caller's own back-off decides)."""
        if retry_after_secs is not None:
            self._hold_for(retry_after_secs, f"HTTP {status} to {what}")

    def succeeded(self) -> None:
        """A call went through: the next rate limit without Retry-After starts from 1 s again."""
        self._streak = 0

    def _hold_for(self, secs: float, what: str) -> None:
        until_ms = self._clock.now_ms() + int(secs * 1000)
        if until_ms > self.until_ms:
            self.until_ms = until_ms
            logger.warning("{} rate limited ({}); every bot on this account waits {:.1f}s", self._name, what, secs)
