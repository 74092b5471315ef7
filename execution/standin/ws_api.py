"""Binance's spot WebSocket API on the stand-in (`/ws-api/v3`): orders placed over one connection.

Copied behaviour (Binance spot WebSocket API docs: "Request format", "Request security",
"Response format", "Place new order (TRADE)"):

- a request is a JSON text frame `{"id", "method", "params"}`, and each gets one JSON text frame
  back with the same `id`: `{"id", "status": 200, "result": ...}` or `{"id", "status": 4xx,
  "error": {"code", "msg"}}` with Binance's codes and messages (`api_errors`), plus `rateLimits`
  (request weight in the minute, orders in 10 s and in the day) unless the request sent
  `returnRateLimits: false`; the limits are REST's, counted together (`rate_limits`), and a
  request they refuse gets status 429 or 418 with `"data": {"serverTime", "retryAfter"}`, the
  time (ms) it may be sent again;
- `order.place` is TRADE, so SIGNED: `apiKey`, `timestamp`, optional `recvWindow` and
  `signature` among its parameters, checked as `signing.check_ws_signed_request` says. The other
  parameters are REST's `POST /api/v3/order`'s, answered through the same route and matching
  engine with the same result (FULL by default): an order placed here is the one REST queries,
  cancels and lists, and an unknown parameter is refused with -1104 as there;
- parameters come as JSON strings (`quantity`) or numbers (`timestamp`); booleans are read as
  `true`/`false`, which is also how they are signed.

Only `order.place` is served: another method is answered with status 404 and the stand-in's own
code 0 (Binance has none for it), so a client reaching for one fails loudly, as REST's 404 does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from . import api_errors, signing
from .rate_limits import RateLimits
from .routes import SpotApi

__all__ = ["WsOrderApi"]

_compact_json = functools.partial(json.dumps, separators=(",", ":"))
_ORDER_ROUTE = ("POST", "/api/v3/order")
_SESSION_PARAMS = frozenset({"apiKey", "returnRateLimits"})   # the WebSocket API's own, not the route's


class WsOrderApi:
    """The `/ws-api/v3` endpoint of a `BinanceStandIn`; see the module docstring.

    `known_keys` maps API key -> secret; `server_ms` is the clock SIGNED requests are checked
    against; `record(method, params)` is told of each request (its `signature` left out) before
    it is answered, and `limits` counts it with REST's requests.
    """

    def __init__(self, api: SpotApi, *, known_keys: Mapping[str, str], server_ms: Callable[[], int],
                 record: Callable[[str, dict[str, str]], None], limits: RateLimits) -> None:
        self._api = api
        self._keys = dict(known_keys)
        self._server_ms = server_ms
        self._record = record
        self._limits = limits
        self._connections: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._connections.add(ws)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await ws.send_str(_compact_json(self.answer(message.data)))
        finally:
            self._connections.discard(ws)
        return ws

    async def drop_all(self) -> None:
        """Close every connection: the clients' requests in flight get no answer."""
        for ws in list(self._connections):
            await ws.close()

    def answer(self, text: str) -> dict[str, Any]:
        """The response frame to one request frame."""
        try:
            request = json.loads(text)
            request_id, method, raw = request.get("id"), request.get("method"), request.get("params") or {}
            params = {name: _text(value) for name, value in raw.items()}
        except (ValueError, AttributeError):
            return {"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
        self._record(str(method), {k: v for k, v in params.items() if k != "signature"})
        if method != "order.place":
            return {"id": request_id, "status": 404,
                    "error": {"code": 0, "msg": f"the stand-in does not serve method {method!r}"}}
        route, limits = self._api.routes[_ORDER_ROUTE], self._limits
        reply: dict[str, Any] = {"id": request_id}
        order_counts: Mapping[str, str] = {}
        try:
            limits.admit(route.weight_of(params))
            signing.check_ws_signed_request(params, known_keys=self._keys, server_ms=self._server_ms())
            order_params = {k: v for k, v in params.items() if k not in _SESSION_PARAMS}
            route.check_params(order_params)
            limits.check_order_room()
            before = len(self._api.engine.orders)
            reply |= {"status": 200, "result": route.handler(order_params)}
            if len(self._api.engine.orders) > before:
                order_counts = limits.count_order(self._api.engine.orders[-1])
        except api_errors.BinanceApiError as exc:
            reply |= {"status": exc.http_status, "error": exc.body()}
            if exc.retry_after_secs is not None:
                now = self._server_ms()
                reply["error"]["data"] = {"serverTime": now, "retryAfter": now + exc.retry_after_secs * 1000}
        if params.get("returnRateLimits") != "false":
            reply["rateLimits"] = _rate_limits(limits, order_counts)
        return reply


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rate_limits(limits: RateLimits, order_counts: Mapping[str, str]) -> list[dict[str, Any]]:
    # The limits `exchange_info` advertises, with the counts REST sends as headers (an order
    # refused has no order counts: they are read as they stand).
    counts = {**limits.weight_headers(), **limits.order_counts(), **order_counts}
    weight, *orders = limits.rate_limits()[:3]
    return [{**weight, "count": int(counts["X-MBX-USED-WEIGHT-1M"])},
            *({**rule, "count": int(counts[limit.header])} for rule, limit in zip(orders, limits.order_limits,
                                                                                  strict=True))]
