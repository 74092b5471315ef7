"""`BinanceStandIn`: an aiohttp server on 127.0.0.1 that speaks Binance's spot REST API well enough
for the real `ccxt.async_support.binance` client, with a clock, fault injection and introspection
for tests.

Copied behaviour: request handling as Binance does it, in order: route lookup (404 for a path it
does not serve), API key, signature and timestamp for SIGNED endpoints (see `signing`), the
parameter check (-1104), then the endpoint (see `routes`). Errors are `{"code", "msg"}` bodies
with Binance's HTTP statuses; replies carry `X-MBX-USED-WEIGHT(-1M)` headers, and order replies
`X-MBX-ORDER-COUNT-10S/-1D`.

Usage::

    async with BinanceStandIn(candles, balances={"USDT": 10_000}) as standin:
        exchange = make_ccxt_client(standin)            # execution.standin.ccxt_client
        try:
            await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
            standin.advance(60_000)                     # the next candle opens; resting orders may fill
        finally:
            await exchange.close()
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import api_errors, signing
from .exchange_info import SpotSymbol, SymbolRules
from .faults import Fault, FaultPlan
from .market_data import CandleTape
from .matching import Balance, FeeAsset, MatchingEngine, Order, Trade
from .routes import SpotApi
from .streams import KlineStreams
from .ws_api import WsOrderApi

_compact_json = functools.partial(json.dumps, separators=(",", ":"))   # Binance sends no spaces
_REDACTED_HEADERS = frozenset({"x-mbx-apikey", "authorization", "cookie"})
_GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
_REASONS = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
            504: "504 Gateway Time-out"}


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the stand-in received it: decoded parameters without `signature`, headers with
    the API key redacted, and the stand-in clock at arrival."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    now_ms: int


class BinanceStandIn:
    """A fake Binance spot exchange replaying `candles` ((ts_ms, o, h, l, c, v) tuples) for one symbol.

    The clock starts at `start_ms` (default: the first candle's open time) and moves only when the
    test calls `advance_to`/`advance`. `fee_rate` is a fraction (0.001 = 0.1%), `spread_bps` the
    full bid-ask spread around the last close in basis points. Fees are charged as Binance
    does without BNB, in the asset received (a buy pays in the base asset), unless `fee_asset="quote"`.
    With `real_time=True` the clock follows the wall clock instead: each request first moves it
    to the current time, so a daemon in another process, on its own system clock, can trade
    against it (give candles around the current time, e.g. 1s ones).

    `clock_offset_ms` (or `drift_clock`) makes the server's clock run that far ahead of the host's
    (negative: behind). It is one clock, as on Binance: `GET /api/v3/time` tells it, and a SIGNED
    request's `timestamp` is checked against it with `recvWindow` (-1021 outside). With
    `real_time=True` both are the host clock plus the offset; with the stepped replay clock,
    `/api/v3/time` is the replay clock plus the offset while signatures are checked against the
    host clock plus the offset (ccxt signs with the host's clock, and the replay clock jumps), so
    a drift shows the same in both.
    """

    def __init__(self, candles: Iterable[Sequence[Any]], *, symbol: str = "BTC/USDT",
                 balances: Mapping[str, float | int | str] | None = None, api_key: str = "test-key",
                 secret: str = "test-secret", fee_rate: float | str = 0.001, fee_asset: FeeAsset = "received",
                 spread_bps: float | str = 2.0, book_level_qty: float | str = 5.0,
                 rules: SymbolRules = SymbolRules(), timeframe_ms: int | None = None,
                 start_ms: int | None = None, real_time: bool = False, clock_offset_ms: int = 0) -> None:
        tape = CandleTape(candles, timeframe_ms=timeframe_ms)
        engine = MatchingEngine(SpotSymbol.parse(symbol, rules),
                                {a: Decimal(str(v)) for a, v in (balances or {}).items()},
                                fee_rate=Decimal(str(fee_rate)), fee_asset=fee_asset)
        self.api = SpotApi(tape, engine, start_ms=tape.bars[0].ts_ms if start_ms is None else start_ms,
                           spread_bps=Decimal(str(spread_bps)), book_level_qty=Decimal(str(book_level_qty)),
                           clock_offset_ms=clock_offset_ms)
        self.api_key = api_key
        self.secret = secret
        self.requests: list[RecordedRequest] = []
        self.unserved: list[RecordedRequest] = []
        self.order_submissions: collections.Counter[str] = collections.Counter()
        self._keys = {api_key: secret}
        self._real_time = real_time
        self._ticker: asyncio.Task[None] | None = None
        self.streams = KlineStreams(tape, engine.symbol.id, self.api.market_trades)
        """The websocket market streams (`/ws`): kline and trade events as the clock moves."""
        self.ws_api = WsOrderApi(self.api, known_keys=self._keys, server_ms=self._signing_clock_ms,
                                 record=self._record_ws_request,
                                 used_weight=lambda weight, is_order: self._weight_headers(weight, is_order=is_order))
        """The WebSocket API (`/ws-api/v3`): `order.place`, on the same account as REST."""
        self._faults = FaultPlan()
        self._weights: collections.deque[tuple[int, int]] = collections.deque()
        self._order_times_ms: list[int] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> BinanceStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *, control_routes: bool = False) -> None:
        """Listen on 127.0.0.1 on a free port; `base_url` tells where. `control_routes` adds the
        test-only `/_standin/` routes another process uses (see `execution.standin.serve`)."""
        app = web.Application()
        if control_routes:
            app.router.add_post("/_standin/advance", self._control_advance)
            app.router.add_get("/_standin/stats", self._control_stats)
        app.router.add_get("/ws", self.streams.handle)
        app.router.add_get("/ws-api/v3", self.ws_api.handle)
        app.router.add_get("/ws/{tail:.*}", self.streams.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        if self._real_time:
            self._ticker = asyncio.create_task(self._follow_wall_clock(), name="standin-clock")

    async def aclose(self) -> None:
        """Stop listening. Delayed replies still pending are dropped."""
        self._closing.set()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.streams.drop_all()
        await self.ws_api.drop_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("BinanceStandIn is not started: use `async with BinanceStandIn(...)`")
        return f"http://127.0.0.1:{self._port}"

    # -- clock ---------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self.api.now_ms

    def advance_to(self, ts_ms: int) -> None:
        """Move the clock to `ts_ms`; every candle opening on the way may fill resting orders,
        and every candle closing on the way is pushed to the kline streams subscribed to it."""
        before = self.api.now_ms
        self.api.advance_to(ts_ms)
        if ts_ms > before:
            self.streams.clock_moved(before, ts_ms)

    def advance(self, ms: int) -> None:
        self.advance_to(self.api.now_ms + ms)

    @property
    def server_ms(self) -> int:
        """What `GET /api/v3/time` answers now."""
        return self.api.server_ms

    def drift_clock(self, offset_ms: int) -> None:
        """From now on the server's clock runs `offset_ms` ahead of the host's (negative: behind):
        `/api/v3/time` and the recvWindow check of SIGNED requests both move (see the class)."""
        self.api.clock_offset_ms = offset_ms

    def _signing_clock_ms(self) -> int:
        return signing.wall_clock_ms() + self.api.clock_offset_ms

    async def _follow_wall_clock(self, every_secs: float = 0.02) -> None:
        while True:
            if (wall_ms := signing.wall_clock_ms()) > self.now_ms:
                self.advance_to(wall_ms)
            await asyncio.sleep(every_secs)

    async def drop_websockets(self) -> None:
        """Close every websocket connection (clients see their stream end)."""
        await self.streams.drop_all()

    # -- test hooks ----------------------------------------------------------------------------

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

    def drop_next(self, pattern: str, times: int = 1) -> Fault:
        """Close the connection without a reply. aiohttp retries an idempotent request (GET, DELETE)
        once on a dropped connection, so use `times=2` to make such a request fail."""
        return self._faults.arm(Fault(pattern, "drop", times))

    def lose_response_next(self, pattern: str = "POST /api/v3/order", times: int = 1) -> Fault:
        """Process the request, then close the connection without a reply."""
        return self._faults.arm(Fault(pattern, "lose_response", times))

    def fail_after_processing_next(self, pattern: str = "POST /api/v3/order", *, status: int = 503,
                                   code: int = -1007, msg: str | None = None, times: int = 1) -> Fault:
        """Process the request (book the order, fill what it can), then answer `status` with
        Binance's `code`/`msg` instead of the result: by default the 503 -1007 "Send status
        unknown; execution status unknown." that Binance sends when its backend was too slow."""
        msg = api_errors.server_error(code).msg if msg is None else msg
        return self._faults.arm(Fault(pattern, "status_after", times, status=status, code=code, msg=msg))

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

    def list_symbol(self, symbol: str, candles: Iterable[Sequence[Any]], *, rules: SymbolRules = SymbolRules()) -> None:
        """List another spot symbol with its own `candles`: exchangeInfo and the 24hr tickers
        (`GET /api/v3/ticker/24hr` without a symbol gives every listed one, as Binance does)
        show it from its tape at the exchange's clock; orders and klines stay the replayed symbol's."""
        listed = SpotSymbol.parse(symbol, rules)
        self.api.listed[listed.id] = (listed, CandleTape(candles, timeframe_ms=self.api.tape.timeframe_ms))

    def set_balance(self, asset: str, free: float | int | str) -> None:
        self.api.engine.balances.setdefault(asset, Balance(Decimal(0))).free = Decimal(str(free))

    # -- introspection -------------------------------------------------------------------------

    @property
    def orders(self) -> list[Order]:
        """Every accepted order, oldest first, with its current state."""
        return list(self.api.engine.orders)

    @property
    def trades(self) -> list[Trade]:
        return list(self.api.engine.trades)

    @property
    def balances(self) -> dict[str, Balance]:
        """asset -> Balance(free, locked), as Decimals."""
        return dict(self.api.engine.balances)

    @property
    def pending_faults(self) -> list[Fault]:
        return self._faults.pending

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        return self.api.engine.find(client_order_id=client_order_id)

    # -- control routes (another process drives this one) -------------------------------------

    async def _control_advance(self, request: web.Request) -> web.Response:
        self.advance(int(request.query["ms"]))
        return web.json_response({"now_ms": self.now_ms})

    async def _control_stats(self, request: web.Request) -> web.Response:
        by_endpoint = collections.Counter(f"{r.method} {r.path}" for r in self.requests)
        return web.json_response({
            "now_ms": self.now_ms, "orders": len(self.api.engine.orders),
            "sent_twice": sum(1 for n in self.order_submissions.values() if n > 1),
            "requests_by_endpoint": dict(by_endpoint.most_common())})

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._real_time and (wall_ms := signing.wall_clock_ms()) > self.now_ms:
            self.advance_to(wall_ms)
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        method, path = request.method, request.path
        recorded = RecordedRequest(
            method, path, {k: v for k, v in params.items() if k != "signature"},
            {k: ("<redacted>" if k.lower() in _REDACTED_HEADERS else v) for k, v in request.headers.items()},
            self.now_ms)
        self.requests.append(recorded)
        if (method, path) == ("POST", "/api/v3/order"):
            self.order_submissions[params.get("newClientOrderId", "")] += 1

        fault = self._faults.take(method, path)
        if fault is not None and fault.kind not in ("lose_response", "status_after"):
            if fault.kind == "delay":
                if await self._closing_within(fault.delay_secs):
                    return self._drop(request)
            elif fault.kind == "drop":
                return self._drop(request)
            else:
                return self._fault_reply(fault)
        response = self._reply(method, path, params, raw_query, raw_body, request.headers.get("X-MBX-APIKEY"),
                               recorded)
        if fault is not None and fault.kind == "lose_response":
            return self._drop(request)
        if fault is not None and fault.kind == "status_after":
            return self._fault_reply(fault)
        return response

    def _record_ws_request(self, method: str, params: dict[str, str]) -> None:
        recorded = {k: ("<redacted>" if k == "apiKey" else v) for k, v in params.items()}
        self.requests.append(RecordedRequest("WS", method, recorded, {}, self.now_ms))
        if method == "order.place":
            self.order_submissions[params.get("newClientOrderId", "")] += 1

    def _reply(self, method: str, path: str, params: dict[str, str], raw_query: str, raw_body: str,
               api_key: str | None, recorded: RecordedRequest) -> web.Response:
        route = self.api.routes.get((method, path))
        if route is None:
            self.unserved.append(recorded)
            return web.Response(status=404, text=f"the stand-in does not serve {method} {path}")
        headers = self._weight_headers(route.weight, is_order=(method, path) == ("POST", "/api/v3/order"))
        try:
            if route.signed:
                signing.check_signed_request(api_key=api_key, params=params, raw_query=raw_query, raw_body=raw_body,
                                             known_keys=self._keys, server_ms=self._signing_clock_ms())
            route.check_params(params)
            return _json_reply(route.handler(params), headers=headers)
        except api_errors.BinanceApiError as exc:
            return _json_reply(exc.body(), status=exc.http_status, headers=headers)

    def _fault_reply(self, fault: Fault) -> web.Response:
        if fault.kind == "rate_limit":
            error = api_errors.too_many_requests()
        elif fault.kind == "ban":
            error = api_errors.ip_banned(signing.wall_clock_ms() + fault.retry_after_secs * 1000)
        elif fault.code is not None:
            msg = fault.msg if fault.msg is not None else api_errors.server_error(fault.code).msg
            return _json_reply({"code": fault.code, "msg": msg}, status=fault.status)
        else:
            reason = _REASONS.get(fault.status, f"{fault.status} Error")
            return web.Response(status=fault.status, text=_GATEWAY_PAGE.format(reason), content_type="text/html")
        return _json_reply(error.body(), status=error.http_status,
                                 headers={"Retry-After": str(fault.retry_after_secs)})

    def _weight_headers(self, weight: int, *, is_order: bool) -> dict[str, str]:
        now = signing.wall_clock_ms()
        self._weights.append((now, weight))
        while self._weights and self._weights[0][0] <= now - 60_000:
            self._weights.popleft()
        used = str(sum(w for _, w in self._weights))
        headers = {"X-MBX-USED-WEIGHT": used, "X-MBX-USED-WEIGHT-1M": used}
        if is_order:
            self._order_times_ms.append(now)
            recent = sum(1 for t in self._order_times_ms if t > now - 10_000)
            headers |= {"X-MBX-ORDER-COUNT-10S": str(recent), "X-MBX-ORDER-COUNT-1D": str(len(self._order_times_ms))}
        return headers

    async def _closing_within(self, secs: float) -> bool:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=secs)
        except TimeoutError:
            return False
        return True

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        # With the transport closed, aiohttp discards the reply quietly ("premature client
        # disconnection", logged at DEBUG); the client sees the connection end with no response.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)


def _json_reply(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_compact_json)
