"""How the stand-in answers over HTTP, besides an endpoint's own result: JSON bodies written as
Binance writes them, and the reply an armed fault gives instead of the endpoint's (see `faults`).
The usage headers and the limits' own refusals are `rate_limits`'."""

from __future__ import annotations

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
