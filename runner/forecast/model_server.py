"""The reference model server: `runner.forecast.reference_model` behind the forecast contract,
so a hybrid bot runs end to end with no outside service (`botrunner model serve`).

- `POST /forecast`: a request as `runner.forecast.contract` describes; the answer JSON, or 400
  with `{"error": "..."}` for a request that breaks the contract;
- `GET /health`: `{"ok": true, "model": "reference-ar", "version": "ar5-ls/1"}`.

It listens on loopback only: it has no authentication, and a model server is not something to
offer the network. The fit takes well under a millisecond for a few hundred candles, so it runs
on the event loop rather than in an executor.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json

import numpy as np
from aiohttp import web
from loguru import logger
from pydantic import ValidationError

from market.models import timeframe_ms
from runner.forecast.contract import DIRECTION_NAMES, ForecastRequest, describe
from runner.forecast.reference_model import DEFAULT_ORDER, ar_forecast, horizon_steps

__all__ = ["DEFAULT_MODEL_PORT", "build_model_app", "serve_model"]

DEFAULT_MODEL_PORT = 8780
_MAX_REQUEST_BYTES = 4 * 1024 * 1024
_ORDER_KEY = web.AppKey("order", int)


def build_model_app(*, order: int = DEFAULT_ORDER) -> web.Application:
    """The server's aiohttp application, fitting AR(`order`); tests serve it on a free port."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
    app[_ORDER_KEY] = order
    app.router.add_post("/forecast", _forecast)
    app.router.add_get("/health", _health)
    return app


async def serve_model(host: str = "127.0.0.1", port: int = DEFAULT_MODEL_PORT, *, order: int = DEFAULT_ORDER) -> None:
    """Serve the reference model on `host`:`port` until cancelled. Raises ValueError for a host
    that is not loopback (before binding) and OSError naming the address when it cannot listen."""
    if not _is_loopback(host):
        raise ValueError("the reference model server listens on loopback only (127.0.0.1, ::1, localhost); "
                         f"got {host!r}")
    runner = web.AppRunner(build_model_app(order=order), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(exc.errno,
                          f"reference model server: cannot listen on {host}:{port}: {exc.strerror}") from None
        logger.info("reference model AR({}) serving on http://{}:{}/forecast", order, host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "model": "reference-ar", "version": _version(request.app[_ORDER_KEY])})


async def _forecast(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read())
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return _bad_request("the request body is not a JSON object")
    try:
        asked = ForecastRequest.model_validate(data)
    except ValidationError as exc:
        return _bad_request(describe(exc))
    order = request.app[_ORDER_KEY]
    closes = np.fromiter((row[4] for row in asked.candles), dtype=np.float64, count=len(asked.candles))
    result = ar_forecast(closes, steps=horizon_steps(asked.horizon_secs, timeframe_ms(asked.timeframe)), order=order)
    return web.json_response({
        "predicted_return": result.predicted_return,
        "direction": DIRECTION_NAMES[result.direction],
        "confidence": result.confidence,
        "model_version": _version(order),
    })


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _version(order: int) -> str:
    return f"ar{order}-ls/1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
