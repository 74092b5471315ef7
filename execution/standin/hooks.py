"""The hooks a test calls on the stand-in to arm a fault or change the market: mixed into
`BinanceStandIn`, whose `_faults` (a `FaultPlan`, answered in `BinanceStandIn._handle`) and
`api` (the endpoints, its matching engine and tape) they act on. What each fault copies from
Binance is in `faults`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from . import api_errors
from .exchange_info import SpotSymbol, SymbolRules
from .faults import Fault, FaultPlan
from .market_data import CandleTape
from .orders import Balance
from .routes import SpotApi


class StandInHooks:
    """Fault injection and market changes of `BinanceStandIn`; see the module's docstring."""

    api: SpotApi
    _faults: FaultPlan

    def fail_next(self, pattern: str, status: int = 500, times: int = 1, *, code: int | None = None,
                  msg: str | None = None) -> Fault:
        """Answer `status` without processing: an HTML gateway page, or Binance JSON with `code`/`msg`
        (`msg` defaults to Binance's for a 10xx server error, see `api_errors.server_error`). The
        code must be one `api_errors.catalogue()` lists, so the guard test has checked it."""
        if code is not None and code not in {e.code for e in api_errors.catalogue()}:
            raise ValueError(f"fail_next: code {code} is not in execution.standin.api_errors.catalogue(); add it "
                             "there with Binance's message so the guard test covers it")
        return self._faults.arm(Fault(pattern, "status", times, status=status, code=code, msg=msg))

    def rate_limit_next(self, pattern: str, retry_after_secs: int = 1, times: int = 1) -> Fault:
        return self._faults.arm(Fault(pattern, "rate_limit", times, retry_after_secs=retry_after_secs))

    def ban_next(self, pattern: str, retry_after_secs: int = 120, times: int = 1) -> Fault:
        return self._faults.arm(Fault(pattern, "ban", times, retry_after_secs=retry_after_secs))

    def delay_next(self, pattern: str, secs: float, times: int = 1) -> Fault:
        return self._faults.arm(Fault(pattern, "delay", times, delay_secs=secs))

    def hold_next(self, pattern: str) -> Fault:
        """Hold the reply to the next request matching `pattern` until `fault.release` is set,
        then process it as usual; the request is in flight once `fault` has left
        `pending_faults`. (A stand-in closing meanwhile drops the held connection.)"""
        return self._faults.arm(Fault(pattern, "hold", release=asyncio.Event()))

    def drop_next(self, pattern: str, times: int = 1) -> Fault:
        """Close the connection without a reply. aiohttp retries an idempotent request (GET, DELETE)
        once on a dropped connection, so use `times=2` to make such a request fail."""
        return self._faults.arm(Fault(pattern, "drop", times))

    def lose_response_next(self, pattern: str = "POST /api/v3/order", times: int = 1) -> Fault:
        """Process the request, then close the connection without a reply."""
        return self._faults.arm(Fault(pattern, "lose_response", times))

    def fail_after_processing_next(self, pattern: str = "POST /api/v3/order", *, status: int = 503,
                                   code: int | None = -1007, msg: str | None = None, times: int = 1) -> Fault:
        """Process the request (book the order, fill what it can), then answer `status` with
        Binance's `code`/`msg` instead of the result: by default the 503 -1007 "Send status
        unknown; execution status unknown." that Binance sends when its backend was too slow.
        `code=None`: the gateway's HTML page instead (a CDN edge that gave up on the API)."""
        if code is not None and msg is None:
            msg = api_errors.server_error(code).msg
        return self._faults.arm(Fault(pattern, "status_after", times, status=status, code=code, msg=msg))

    def land_late_next(self, pattern: str = "POST /api/v3/order", *, after_ms: int, status: int = 503,
                       code: int = -1007, msg: str | None = None, times: int = 1) -> Fault:
        """Answer `status` with Binance's `code`/`msg` at once (by default the 503 -1007 "Send
        status unknown; execution status unknown."), and book the order `after_ms` later by the
        exchange's clock, once the test moves it there: an order that appears after its 5xx. One
        that would arrive past its recvWindow (default 5000 ms) never lands, as on Binance."""
        if after_ms < 1:
            raise ValueError(f"land_late_next: after_ms must be >= 1, got {after_ms}")
        msg = api_errors.server_error(code).msg if msg is None else msg
        return self._faults.arm(Fault(pattern, "land_late", times, status=status, code=code, msg=msg,
                                      land_after_ms=after_ms))

    def fill_during_cancel_next(self, times: int = 1) -> None:
        """The next `times` cancels of a resting order arrive after a trade filled it: the order
        fills (whole, at its price, as a maker) and the cancel answers -2011 "Unknown order sent.",
        as Binance answers a cancel of an order that is no longer open."""
        self.api.fills_during_cancel += times

    def lag_trades_next(self, requests: int) -> None:
        """The trades of the next order placed are missing from `GET /api/v3/myTrades` for the
        next `requests` requests that would list them, while `GET /api/v3/order` already counts
        them (Binance's trade list is written after the order's state)."""
        if requests < 1:
            raise ValueError(f"lag_trades_next: requests must be >= 1, got {requests}")
        self.api.lagging_trades_requests = requests

    def split_next_fill(self, parts: int) -> None:
        """The next fill (of any order) is booked as `parts` trades, as when a taker order meets
        `parts` resting orders: one order, many trades."""
        self.api.engine.split_next_fill(parts)

    def partial_fill_next(self, fraction: float | str) -> None:
        """The next fill (of any order) takes only `fraction` of what remains, at least one step."""
        self.api.engine.partial_fill_next(Decimal(str(fraction)))

    def thin_book_at_next_stop(self, fraction: float | str) -> None:
        """The next stop-limit to trigger with a trade it can take finds only `fraction` of its
        quantity on the book at or better than its limit (at least one step): it fills that part
        and stays PARTIALLY_FILLED, the rest resting at its limit until a later trade reaches it,
        as a Binance STOP_LOSS_LIMIT does when a fast move empties the book down to its limit."""
        self.api.engine.thin_book_at_next_stop(Decimal(str(fraction)))

    def list_symbol(self, symbol: str, candles: Iterable[Sequence[Any]], *, rules: SymbolRules = SymbolRules()) -> None:
        """List another spot symbol with its own `candles`: exchangeInfo and the 24hr tickers
        (`GET /api/v3/ticker/24hr` without a symbol gives every listed one, as Binance does)
        show it from its tape at the exchange's clock; orders and klines stay the replayed symbol's."""
        listed = SpotSymbol.parse(symbol, rules)
        self.api.listed[listed.id] = (listed, CandleTape(candles, timeframe_ms=self.api.tape.timeframe_ms))

    def set_balance(self, asset: str, free: float | int | str) -> None:
        self.api.engine.balances.setdefault(asset, Balance(Decimal(0))).free = Decimal(str(free))
