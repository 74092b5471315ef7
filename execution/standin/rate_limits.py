"""Binance's request-weight and unfilled-order limits, as the stand-in enforces them.

Copied behaviour (spot REST docs, "LIMITS"; WebSocket API docs, "Rate limits"; FAQ "Spot
Unfilled Order Count Rules"):

- Intervals are fixed, not rolling: "a 1 MINUTE interval starts every minute. Request submitted
  at 00:01:23.456 counts towards the 00:01:00 minute's limit. Once the 00:02:00 minute starts,
  the count will reset to zero again." The 10 SECOND interval starts at :00, :10, ...; the 1 DAY
  one at 00:00 UTC.
- Every reply carries `X-MBX-USED-WEIGHT-1M`: the weight used in the current minute, this
  request's included. A request that takes it over the REQUEST_WEIGHT limit (6000 per minute,
  as exchangeInfo says) is refused with HTTP 429, -1003 "Too much request weight used; current
  limit is 6000 request weight per 1 MINUTE. ...", and `Retry-After`: the seconds "required to
  wait ... to prevent a ban", here until the minute ends.
- "Repeatedly violating rate limits and/or failing to back off after receiving 429s will result
  in an automated IP ban (HTTP status 418)": a request sent before a 429's `Retry-After` has
  passed bans the IP. "IP bans are tracked and scale in duration for repeat offenders, from 2
  minutes to 3 days": here 2 minutes, doubled at each new ban, at most 3 days. Every request
  during a ban gets 418, -1003 "Way too much request weight used; IP banned until <ms>. ...",
  and `Retry-After` "until the ban is over".
- ORDERS counts unfilled orders: "Every successful request to place an order adds to the
  unfilled order count for the current time interval", and "orders which are partially or
  fully filled do not count against the rate limit" (an order's first fill takes it off). The
  reply of an order that fills at once still counts it, as Binance's does (its decrement comes
  after the reply). Successful order replies carry `X-MBX-ORDER-COUNT-10S` and
  `X-MBX-ORDER-COUNT-1D`. An order placed while a count is at its limit is refused: HTTP 429,
  -1015 "Too many new orders; current limit is 100 orders per 10 SECOND.", "without the
  Retry-After header"; a refused order does not count.

The clock is the exchange's (`clock_ms`, by default the host's wall clock plus the stand-in's
drift); a test that backs off on a clock of its own gives that clock here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import api_errors

MINUTE_MS, DAY_MS = 60_000, 86_400_000
FIRST_BAN_MS, LONGEST_BAN_MS = 120_000, 3 * DAY_MS


# -- request weights that depend on the parameters (the others are fixed, in `routes`) ---------

def depth_weight(params: dict[str, str]) -> int:
    # "Weight adjusted based on the limit": 1-100 5, 101-500 25, 501-1000 50, 1001-5000 250.
    limit = int(params["limit"]) if params.get("limit", "").isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def symbols_count(params: dict[str, str]) -> int | None:
    """How many symbols a ticker request names (1 for `symbol`), None for every symbol."""
    if "symbol" in params:
        return 1
    if "symbols" in params:
        try:
            asked = json.loads(params["symbols"])
        except ValueError:
            return 1                # refused anyway (-1100), at the weight of one
        return len(asked) if isinstance(asked, list) else 1
    return None


def ticker_24hr_weight(params: dict[str, str]) -> int:
    # symbol 2; symbols 1-20 2, 21-100 40, 101 or more 80; none (every symbol) 80.
    count = symbols_count(params)
    return 80 if count is None or count > 100 else 40 if count > 20 else 2


def one_symbol_or_more_weight(params: dict[str, str]) -> int:
    # ticker/price and ticker/bookTicker: `symbol` 2; `symbols` or none 4.
    return 2 if "symbol" in params else 4


class Placed(Protocol):
    """An accepted order, as far as the unfilled order count cares."""

    @property
    def executed_qty(self) -> object: ...


@dataclass(frozen=True)
class OrderLimit:
    """An ORDERS limit: at most `limit` unfilled orders per `interval_ms`."""

    limit: int
    interval_ms: int
    interval: str            # as Binance names it in messages: "10 SECOND", "1 DAY"
    header: str              # X-MBX-ORDER-COUNT-10S


@dataclass
class _Window:
    start_ms: int = -1
    used: int = 0
    orders: list[Placed] = field(default_factory=list)


class RateLimits:
    """The REQUEST_WEIGHT and ORDERS limits of one stand-in (one IP, one account)."""

    def __init__(self, clock_ms: Callable[[], int], *, request_weight_limit: int = 6000,
                 orders_per_10s: int = 100, orders_per_day: int = 200_000) -> None:
        self.clock_ms = clock_ms
        self.request_weight_limit = request_weight_limit
        self.order_limits = (OrderLimit(orders_per_10s, 10_000, "10 SECOND", "X-MBX-ORDER-COUNT-10S"),
                             OrderLimit(orders_per_day, DAY_MS, "1 DAY", "X-MBX-ORDER-COUNT-1D"))
        self._weight = _Window()
        self._orders = [_Window() for _ in self.order_limits]
        self._retry_after_until_ms = 0      # a 429's Retry-After: a request before it is banned
        self._banned_until_ms = 0
        self._bans = 0
        self.refusals: list[int] = []       # the HTTP status of each refusal (429, 418), oldest first

    def rate_limits(self) -> list[dict[str, object]]:
        """exchangeInfo's `rateLimits`."""
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.request_weight_limit},
            *({"rateLimitType": "ORDERS", "interval": o.interval.split()[1], "intervalNum": int(o.interval.split()[0]),
               "limit": o.limit} for o in self.order_limits),
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]

    def admit(self, weight: int) -> dict[str, str]:
        """Count a request of `weight`; the usage headers of its reply. Raises the 429 or 418
        `BinanceApiError` (its `retry_after_secs` set) when the request is refused."""
        now = self.clock_ms()
        if now < self._banned_until_ms:
            raise self._refused(api_errors.ip_banned(self._banned_until_ms), self._banned_until_ms - now)
        if now < self._retry_after_until_ms:          # did not back off after a 429
            self._bans += 1
            ban_ms = min(FIRST_BAN_MS * 2 ** (self._bans - 1), LONGEST_BAN_MS)
            self._banned_until_ms, self._retry_after_until_ms = now + ban_ms, 0
            raise self._refused(api_errors.ip_banned(self._banned_until_ms), ban_ms)
        window = self._current(self._weight, MINUTE_MS, now)
        window.used += weight
        headers = self.weight_headers()
        if window.used > self.request_weight_limit:
            self._retry_after_until_ms = window.start_ms + MINUTE_MS
            error = api_errors.too_many_requests(self.request_weight_limit)
            raise self._refused(error, self._retry_after_until_ms - now, headers)
        return headers

    def weight_headers(self) -> dict[str, str]:
        used = str(self._weight.used)
        return {"X-MBX-USED-WEIGHT": used, "X-MBX-USED-WEIGHT-1M": used}

    def order_counts(self) -> dict[str, str]:
        """The unfilled order counts as they stand, by header name."""
        now = self.clock_ms()
        return {limit.header: str(self._unfilled(self._current(window, limit.interval_ms, now)))
                for limit, window in zip(self.order_limits, self._orders, strict=True)}

    def check_order_room(self) -> None:
        """Before an order is placed: -1015 (HTTP 429, no `Retry-After`) when an unfilled order
        count is at its limit."""
        now = self.clock_ms()
        for limit, window in zip(self.order_limits, self._orders, strict=True):
            if self._unfilled(self._current(window, limit.interval_ms, now)) >= limit.limit:
                self.refusals.append(429)
                raise api_errors.too_many_orders(limit.limit, limit.interval)

    def count_order(self, order: Placed) -> dict[str, str]:
        """An order was accepted: count it; the order-count headers of its reply (it counts
        there even if it filled at once)."""
        now = self.clock_ms()
        headers = {}
        for limit, window in zip(self.order_limits, self._orders, strict=True):
            current = self._current(window, limit.interval_ms, now)
            current.orders.append(order)
            headers[limit.header] = str(self._unfilled(current, counting=order))
        return headers

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _current(window: _Window, interval_ms: int, now_ms: int) -> _Window:
        start = now_ms - now_ms % interval_ms
        if window.start_ms != start:
            window.start_ms, window.used, window.orders = start, 0, []
        return window

    @staticmethod
    def _unfilled(window: _Window, counting: Placed | None = None) -> int:
        # A fill is for good: filled orders leave the list, which so holds the resting ones only
        # (a day of market orders does not make each count walk them all). `counting`, the order
        # just placed, counts even when filled at once.
        window.orders = [o for o in window.orders if not o.executed_qty]
        return len(window.orders) + (1 if counting is not None and counting.executed_qty else 0)

    def _refused(self, error: api_errors.BinanceApiError, retry_after_ms: int,
                 headers: dict[str, str] | None = None) -> api_errors.BinanceApiError:
        self.refusals.append(error.http_status)
        error.retry_after_secs = max(1, -(-retry_after_ms // 1000))     # whole seconds, rounded up
        error.headers = headers or {}
        return error
