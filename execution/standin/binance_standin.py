"""`BinanceStandIn`: an aiohttp server on 127.0.0.1 that speaks Binance's spot REST API well enough
for the real `ccxt.async_support.binance` client, with a clock, fault injection and introspection
for tests.

Copied behaviour: request handling as Binance does it, in order: route lookup (404 for a path it
does not serve), API key, signature and timestamp for SIGNED endpoints (see `signing`), the
parameter check (-1104), then the endpoint (see `routes`). A parameter given twice in the query
string (or twice in the body) is -1101; one in both is the query string's. Errors are `{"code", "msg"}` bodies
with Binance's HTTP statuses; replies carry `X-MBX-USED-WEIGHT(-1M)` headers, and order replies
`X-MBX-ORDER-COUNT-10S/-1D`, and the request-weight and unfilled-order limits refuse with 429 and
418 as Binance does (see `rate_limits`; `http_replies` has the replies of armed faults). The hooks a
test arms faults and changes the market with are in `hooks`.

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
from .hooks import StandInHooks
from .http_replies import fault_reply, json_reply
from .market_data import CandleTape
from .matching import FeeAsset, MatchingEngine
from .orders import Balance, Order, Trade
from .rate_limits import RateLimits
from .routes import SpotApi
from .streams import KlineStreams
from .ws_api import WsOrderApi

_REDACTED_HEADERS = frozenset({"x-mbx-apikey", "authorization", "cookie"})


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the stand-in received it: decoded parameters without `signature`, headers with
    the API key redacted, and the stand-in clock at arrival."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    now_ms: int


@dataclass(frozen=True)
class _Landing:
    """An order a `land_late` fault answered for before the matching engine had it: placed at `due_ms`."""

    due_ms: int
    route: Any
    params: dict[str, str]


class BinanceStandIn(StandInHooks):
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
    a drift shows the same in both. Only with `real_time=True` is `/api/v3/time` the clock
    signatures are checked against, as on Binance: an `ExchangeAccount` refused with -1021
    measures the difference there and signs by it (`execution.exchange.ExchangeAccount._sync_clock`),
    which the stepped clock would send years off.

    `request_weight_limit`, `orders_per_10s` and `orders_per_day` are the limits exchangeInfo
    advertises and the stand-in enforces (Binance's by default), by the server's clock
    (`rate_limits.clock_ms`, which a test may replace with a clock of its own).
    """

    def __init__(self, candles: Iterable[Sequence[Any]], *, symbol: str = "BTC/USDT",
                 balances: Mapping[str, float | int | str] | None = None, api_key: str = "test-key",
                 secret: str = "test-secret", fee_rate: float | str = 0.001, fee_asset: FeeAsset = "received",
                 spread_bps: float | str = 2.0, book_level_qty: float | str = 5.0,
                 rules: SymbolRules = SymbolRules(), timeframe_ms: int | None = None,
                 start_ms: int | None = None, real_time: bool = False, clock_offset_ms: int = 0,
                 request_weight_limit: int = 6000, orders_per_10s: int = 100, orders_per_day: int = 200_000) -> None:
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
        self.rate_limits = RateLimits(self._signing_clock_ms, request_weight_limit=request_weight_limit,
                                      orders_per_10s=orders_per_10s, orders_per_day=orders_per_day)
        """The request-weight and unfilled-order limits (see `rate_limits`)."""
        self.api.rate_limit_rules = self.rate_limits.rate_limits()
        self.ws_api = WsOrderApi(self.api, known_keys=self._keys, server_ms=self._signing_clock_ms,
                                 record=self._record_ws_request, limits=self.rate_limits)
        """The WebSocket API (`/ws-api/v3`): `order.place`, on the same account as REST."""
        self._faults = FaultPlan()
        self._landings: list[_Landing] = []        # orders a `land_late` fault holds, soonest first
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
        every order held by a `land_late` fault lands at its time, and every candle closing on
        the way is pushed to the kline streams subscribed to it."""
        before = self.api.now_ms
        while self._landings and self._landings[0].due_ms <= ts_ms:
            landing = self._landings.pop(0)
            self.api.advance_to(max(landing.due_ms, self.api.now_ms))     # what traded before it comes first
            self._land(landing)
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
            "rate_limit_refusals": len(self.rate_limits.refusals),
            "requests_by_endpoint": dict(by_endpoint.most_common())})

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._real_time and (wall_ms := signing.wall_clock_ms()) > self.now_ms:
            self.advance_to(wall_ms)
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        # "If a parameter sent in both the query string and request body, the query string
        # parameter will be used."
        query_pairs, body_pairs = (parse_qsl(raw, keep_blank_values=True) for raw in (raw_query, raw_body))
        params = dict(body_pairs) | dict(query_pairs)
        repeated = any(len(dict(pairs)) < len(pairs) for pairs in (query_pairs, body_pairs))
        method, path = request.method, request.path
        recorded = RecordedRequest(
            method, path, {k: v for k, v in params.items() if k != "signature"},
            {k: ("<redacted>" if k.lower() in _REDACTED_HEADERS else v) for k, v in request.headers.items()},
            self.now_ms)
        self.requests.append(recorded)
        if (method, path) == ("POST", "/api/v3/order"):
            self.order_submissions[params.get("newClientOrderId", "")] += 1

        fault = self._faults.take(method, path)
        if fault is not None and fault.kind not in ("lose_response", "status_after", "land_late"):
            if fault.kind == "delay":
                if await self._closing_within(fault.delay_secs):
                    return self._drop(request)
            elif fault.kind == "hold":
                if await self._closing_before(fault.release):
                    return self._drop(request)
            elif fault.kind == "drop":
                return self._drop(request)
            else:
                return fault_reply(fault)
        response = self._reply(method, path, params, raw_query, raw_body, request.headers.get("X-MBX-APIKEY"),
                               recorded, repeated=repeated,
                               late=fault if fault is not None and fault.kind == "land_late" else None)
        if fault is not None and fault.kind == "lose_response":
            return self._drop(request)
        if fault is not None and fault.kind == "status_after":
            return fault_reply(fault)
        return response

    def _record_ws_request(self, method: str, params: dict[str, str]) -> None:
        recorded = {k: ("<redacted>" if k == "apiKey" else v) for k, v in params.items()}
        self.requests.append(RecordedRequest("WS", method, recorded, {}, self.now_ms))
        if method == "order.place":
            self.order_submissions[params.get("newClientOrderId", "")] += 1

    def _reply(self, method: str, path: str, params: dict[str, str], raw_query: str, raw_body: str,
               api_key: str | None, recorded: RecordedRequest, *, repeated: bool = False,
               late: Fault | None = None) -> web.Response:
        route = self.api.routes.get((method, path))
        if route is None:
            self.unserved.append(recorded)
            return web.Response(status=404, text=f"the stand-in does not serve {method} {path}")
        try:
            headers = self.rate_limits.admit(route.weight_of(params))
        except api_errors.BinanceApiError as exc:              # 429 or 418: nothing else is looked at
            return json_reply(exc.body(), status=exc.http_status,
                              headers={**exc.headers, "Retry-After": str(exc.retry_after_secs)})
        try:
            if repeated:                                   # a name twice in the query string, or in the body
                raise api_errors.duplicate_values()
            if route.signed:
                signing.check_signed_request(api_key=api_key, params=params, raw_query=raw_query, raw_body=raw_body,
                                             known_keys=self._keys, server_ms=self._signing_clock_ms())
            route.check_params(params)
            if late is not None:        # checked by the API; the engine has not got it when it answers
                if route.places_order:
                    self._land_later(route, params, late.land_after_ms)
                else:
                    route.handler(params)
                return fault_reply(late)
            if route.places_order:
                result, headers = self._placed(route, params, headers)
                return json_reply(result, headers=headers)
            return json_reply(route.handler(params), headers=headers)
        except api_errors.BinanceApiError as exc:
            return json_reply(exc.body(), status=exc.http_status, headers=headers)

    def _placed(self, route: Any, params: dict[str, str], headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
        """An order placed through `route` under the unfilled order count: (its reply, the headers)."""
        self.rate_limits.check_order_room()
        before = len(self.api.engine.orders)
        result = route.handler(params)
        if len(self.api.engine.orders) > before:
            headers = headers | self.rate_limits.count_order(self.api.engine.orders[-1])
        return result, headers

    def _land_later(self, route: Any, params: dict[str, str], after_ms: int) -> None:
        # "Timing security": the API forwards a request only while serverTime - timestamp <=
        # recvWindow; one that would reach the engine later is refused there, and never lands.
        if after_ms <= Decimal(params.get("recvWindow", str(signing.DEFAULT_RECV_WINDOW_MS))):
            self._landings.append(_Landing(self.api.now_ms + after_ms, route, params))
            self._landings.sort(key=lambda landing: landing.due_ms)

    def _land(self, landing: _Landing) -> None:
        try:
            self._placed(landing.route, landing.params, {})
        except api_errors.BinanceApiError:
            pass        # refused by the engine (funds, filters): nothing placed, and nobody is told

    async def _closing_within(self, secs: float) -> bool:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=secs)
        except TimeoutError:
            return False
        return True

    async def _closing_before(self, release: asyncio.Event) -> bool:
        """Wait for `release` (a `hold` fault's); True when the stand-in closes first."""
        closing, released = asyncio.ensure_future(self._closing.wait()), asyncio.ensure_future(release.wait())
        try:
            await asyncio.wait({closing, released}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (closing, released):
                waiter.cancel()
        return self._closing.is_set() and not release.is_set()

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        # With the transport closed, aiohttp discards the reply quietly ("premature client
        # disconnection", logged at DEBUG); the client sees the connection end with no response.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)
