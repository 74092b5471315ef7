"""How Binance authenticates a SIGNED (TRADE and USER_DATA) request, done the same way here.

Copied behaviour (Binance spot REST docs, "SIGNED endpoint security"):

- The key travels in the `X-MBX-APIKEY` header: missing or malformed -> -2014, unknown -> -2015
  (both HTTP 401).
- `signature` is the hex HMAC-SHA256, keyed by the secret, of *totalParams*: the raw query
  string concatenated with the raw request body, with no `&` between them, and without the
  `signature` parameter itself. "The signature is not case sensitive." A mismatch -> -1022.
- `timestamp` is required; the request is refused with -1021 unless
  `timestamp < server_ms + 1000` and `server_ms - timestamp <= recvWindow` (default 5000,
  at most 60000, else -1131; it "supports up to three decimal places of precision (e.g.,
  6000.346) so that microseconds may be specified"); "timestamp parameters ... can be passed in
  milliseconds or microseconds" (16 digits and more read as microseconds).

The WebSocket API (`execution.standin.ws_api`) signs the same way with another payload (its
"Request security" docs): the key is the request's `apiKey` parameter, and the signature covers
every other parameter sorted by name, as `name=value` pairs joined by `&` (see `ws_payload`).

The server clock used here is the host's wall clock plus the stand-in's drift
(`BinanceStandIn.drift_clock`), not the replay clock: ccxt's `nonce()` is wall-clock time (with
`adjustForTimeDifference` off, or that minus the difference it measured from `/api/v3/time`),
and the replay clock jumps.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from decimal import Decimal

from . import api_errors

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
_MICROSECONDS_FROM = 10**15          # a timestamp this large is in microseconds (ms reach it in 33,658)
_RECV_WINDOW = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,3})?$")


def sign(payload: str, secret: str) -> str:
    """Binance's HMAC-SHA256 signature of `payload` (what a client appends as `signature=`)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def without_signature(raw: str) -> str:
    """`raw` (an url-encoded query string or form body) minus its `signature=` parameter."""
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def check_signed_request(*, api_key: str | None, params: dict[str, str], raw_query: str, raw_body: str,
                         known_keys: dict[str, str], server_ms: int) -> None:
    """Raise the `BinanceApiError` Binance would send for this SIGNED request, or return if it is fine.

    `known_keys` maps API key -> secret. `params` are the decoded query and body parameters.
    """
    if not api_key:
        raise api_errors.api_key_format_invalid()
    secret = known_keys.get(api_key)
    if secret is None:
        raise api_errors.invalid_api_key()
    if "signature" not in params:
        raise api_errors.mandatory_param("signature")
    total_params = without_signature(raw_query) + without_signature(raw_body)
    if not hmac.compare_digest(sign(total_params, secret), params["signature"].lower()):
        raise api_errors.bad_signature()
    _check_timing(params, server_ms)


def ws_payload(params: dict[str, str]) -> str:
    """What a WebSocket API request's `signature` signs: its other parameters sorted by name."""
    return "&".join(f"{name}={value}" for name, value in sorted(params.items()) if name != "signature")


def check_ws_signed_request(params: dict[str, str], *, known_keys: dict[str, str], server_ms: int) -> None:
    """`check_signed_request` for a WebSocket API request, whose `params` (values as text, booleans
    as `true`/`false`) carry the key as `apiKey`."""
    api_key = params.get("apiKey")
    if not api_key:
        raise api_errors.mandatory_param("apiKey")
    secret = known_keys.get(api_key)
    if secret is None:
        raise api_errors.invalid_api_key()
    if "signature" not in params:
        raise api_errors.mandatory_param("signature")
    if not hmac.compare_digest(sign(ws_payload(params), secret), params["signature"].lower()):
        raise api_errors.bad_signature()
    _check_timing(params, server_ms)


def _check_timing(params: dict[str, str], server_ms: int) -> None:
    timestamp = params.get("timestamp", "")
    if not timestamp.isdigit():
        raise api_errors.mandatory_param("timestamp")
    recv_window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    if not _RECV_WINDOW.match(recv_window):
        raise api_errors.illegal_number("recvWindow")
    if Decimal(recv_window) > MAX_RECV_WINDOW_MS:
        raise api_errors.bad_recv_window()
    timestamp_ms = Decimal(timestamp) / 1000 if int(timestamp) >= _MICROSECONDS_FROM else Decimal(timestamp)
    if timestamp_ms >= server_ms + 1000:
        raise api_errors.timestamp_ahead()
    if server_ms - timestamp_ms > Decimal(recv_window):
        raise api_errors.timestamp_outside_recv_window()
