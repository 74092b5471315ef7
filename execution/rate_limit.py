"""ccxt's rate limiter, made to hold back every request of an account's client while the account
backs off, and, for a rolling window, to grant every queued request the budget allows at once.

Every request of the client waits out the account's back-off here, whoever makes it: the
account's own calls, and the candle feeds, which call the shared client directly. And every
429 or 418 any of them meets starts the back-off (`install` watches the client's replies):
Binance bans an address that sends during a 429's `Retry-After`, and the ban stops every bot
on it, orders included.

ccxt's own `Throttler.rolling_window_loop` yields to the event loop after each request it lets
through. When forty bots on one account decide at the same candle close, their forty orders
then leave one loop turn apart, and every reply, log line and snapshot that lands meanwhile
runs between them: the fortieth order leaves tens of milliseconds late although the budget had
room for all of them. This subclass keeps ccxt's algorithm, window, costs and queue, and differs
there: one pass lets through, in order, every queued request that fits, then yields once. A
request that does not fit still waits, first in line.

A request asked while nobody waits and the window has room is let through there and then (its
future is done when handed back), as ccxt's loop would let it through at its next turn: the
order goes on to be signed and sent in the same step of its bot, without a task started for the
loop and two loop turns on the way of every order (a candle's orders then leave one after
another as their bots resume, instead of all together a turn later).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from time import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from ccxt.async_support.base.throttler import Throttler

from execution.ccxt_errors import retry_after_secs_from

_TOLD_TO_WAIT = frozenset({418, 429})      # HTTP statuses that come with Binance's Retry-After


class BackOff(Protocol):
    """An account's back-off (`ExchangeAccount`), shared by every request of its client. The
    candle feeds find it on the client's throttler (`market.feed_retry`): a wait of minutes
    (a 418 ban) is theirs to wait out before a request, not inside its timeout."""

    until_ms: int
    """Clock time until which every request waits."""

    def holding(self) -> bool:
        """A back-off is under way."""

    def remaining_secs(self) -> float:
        """Seconds until it ends."""

    def wait(self) -> Awaitable[None]:
        """Until it ends."""

    def told_to_wait(self, status: int, what: str, retry_after_secs: float | None) -> None:
        """A reply to `what` ("GET /api/v3/klines") was `status` (429 or 418) with that `Retry-After`."""


class GatedThrottler(Throttler):
    """ccxt's leaky bucket whose requests first wait out `back_off` (set by `install`)."""

    def __init__(self, config: dict[str, Any], loop: Any = None) -> None:
        super().__init__(config, loop)
        self.back_off: BackOff | None = None

    def __call__(self, cost: float | None = None) -> Awaitable[None]:
        back_off = self.back_off
        if back_off is not None and back_off.holding():
            return self._after_back_off(back_off, cost)
        return self._admit(cost)

    def _admit(self, cost: float | None) -> Awaitable[None]:
        return super().__call__(cost)

    async def _after_back_off(self, back_off: BackOff, cost: float | None) -> None:
        await back_off.wait()
        await self._admit(cost)


class BurstThrottler(GatedThrottler):
    """Drop-in for `client.throttler` (see `install`) with a rolling window.

    The window is a deque of (granted at ms, cost) with a running total, so a pass costs what
    leaves and enters the window, not a walk over a minute of requests."""

    def __init__(self, config: dict[str, Any], loop: Any = None) -> None:
        super().__init__(config, loop)
        self._window: deque[tuple[float, float]] = deque()
        self._spent = 0.0

    @property
    def spent(self) -> float:
        """Cost let through within the window, as of the last pass."""
        return self._spent

    def _admit(self, cost: float | None = None) -> Awaitable[None]:
        if not self.queue and not self.running:     # nobody in line: the window decides now
            config, window = self.config, self._window
            cost = config["cost"] if cost is None else cost
            now = time() * 1000
            self._forget_before(now - config["windowSize"])
            if not window or self._spent + cost <= config["maxWeight"]:
                self._spent += cost
                window.append((now, cost))
                granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                granted.set_result(None)
                return granted
        return Throttler.__call__(self, cost)

    def _forget_before(self, cutoff_ms: float) -> None:
        window = self._window
        while window and window[0][0] <= cutoff_ms:
            self._spent -= window.popleft()[1]
        if not window:
            self._spent = 0.0              # no float drift left over from a busy minute

    async def rolling_window_loop(self) -> None:
        config, window = self.config, self._window
        size_ms, budget = config["windowSize"], config["maxWeight"]
        while self.running:
            now = time() * 1000
            self._forget_before(now - size_ms)
            while self.queue:
                future, cost = self.queue[0]
                cost = config["cost"] if cost is None else cost
                # An empty window lets any request through, even one above the whole budget
                # (ccxt's loop would wait for it forever).
                if window and self._spent + cost > budget:
                    break
                self._spent += cost
                window.append((now, cost))
                self.queue.popleft()
                if not future.done():
                    future.set_result(None)
            if not self.queue:
                self.running = False
                return
            # Full: wait until the oldest request in the window leaves it.
            await asyncio.sleep(max(1.0, window[0][0] + size_ms - now) / 1000)


def install(client: Any, back_off: BackOff | None = None) -> None:
    """Give `client` (a ccxt async exchange) a `BurstThrottler` when it uses the rolling window,
    else a `GatedThrottler`; with `back_off`, every request waits it out, and every 429 or 418
    reply is told to it (ccxt's `on_rest_response`, which sees every REST reply first)."""
    bucket = client.tokenBucket
    kind = BurstThrottler if bucket.get("algorithm") == "rollingWindow" else GatedThrottler
    client.throttler = throttler = kind(bucket, client.asyncio_loop)
    if back_off is None:
        return
    throttler.back_off = back_off
    exchanges_own = client.on_rest_response

    def on_rest_response(code: int, reason: str, url: str, method: str, response_headers: Any, *rest: Any) -> Any:
        if code in _TOLD_TO_WAIT:
            back_off.told_to_wait(code, f"{method} {_path(url)}", retry_after_secs_from(response_headers))
        return exchanges_own(code, reason, url, method, response_headers, *rest)

    client.on_rest_response = on_rest_response


def _path(url: str) -> str:
    return urlsplit(url).path        # not the query: a signed request's carries its signature
