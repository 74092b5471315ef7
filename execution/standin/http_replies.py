"""How the stand-in answers over HTTP, besides an endpoint's own result: JSON bodies written as
Binance writes them, the reply an armed fault gives instead of the endpoint's (see `faults`),
and the used-weight and order-count headers Binance puts on every reply."""

from __future__ import annotations

import collections
import functools
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import api_errors, signing
from .faults import Fault

_compact_json = functools.partial(json.dumps, separators=(",", ":"))   # Binance sends no spaces
_GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
_REASONS = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
            504: "504 Gateway Time-out"}


def json_reply(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_compact_json)


def fault_reply(fault: Fault) -> web.Response:
    """What a `status`, `status_after`, `rate_limit` or `ban` fault answers: a 429/418 with
    `Retry-After` and Binance's body, Binance's JSON error given a code, else the CDN's HTML page."""
    if fault.kind == "rate_limit":
        error = api_errors.too_many_requests()
    elif fault.kind == "ban":
        error = api_errors.ip_banned(signing.wall_clock_ms() + fault.retry_after_secs * 1000)
    elif fault.code is not None:
        msg = fault.msg if fault.msg is not None else api_errors.server_error(fault.code).msg
        return json_reply({"code": fault.code, "msg": msg}, status=fault.status)
    else:
        reason = _REASONS.get(fault.status, f"{fault.status} Error")
        return web.Response(status=fault.status, text=_GATEWAY_PAGE.format(reason), content_type="text/html")
    return json_reply(error.body(), status=error.http_status, headers={"Retry-After": str(fault.retry_after_secs)})


class UsedWeight:
    """Binance's usage headers, by the wall clock: `X-MBX-USED-WEIGHT(-1M)`, the request weight
    used in the last minute, and on order replies `X-MBX-ORDER-COUNT-10S/-1D`, the orders placed
    in the last ten seconds and since the stand-in started. REST and the WebSocket API share one."""

    def __init__(self) -> None:
        self._weights: collections.deque[tuple[int, int]] = collections.deque()
        self._order_times_ms: list[int] = []

    def headers(self, weight: int, *, is_order: bool) -> dict[str, str]:
        """Count a request of `weight` (an order placed, with `is_order`); the headers of its reply."""
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
