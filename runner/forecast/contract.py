"""The HTTP contract between a bot and a prediction model: the request a bot sends, the answer
it accepts, and the bounded read of that answer. Pydantic lives here, at the boundary only;
inside the process a forecast is a `market.forecast.Forecast`.

Request (`POST <url>`, `Content-Type: application/json`):

```json
{"model": "127.0.0.1:8780", "symbol": "BTC/USDT", "timeframe": "1m", "horizon_secs": 3600,
 "ts_ms": 1700000060000, "trigger": "interval",
 "candles": [[1700000000000, 37000.0, 37010.5, 36990.0, 37005.2, 12.5]],
 "features": {"ema:12": 37001.3, "rsi:14": null}}
```

`candles` are `[open time ms, open, high, low, close, volume]`, oldest first, at most the
configured count; `ts_ms` is the close time of the last one; a feature that has no value yet
(still warming up) is `null`.

Answer (status 200, a JSON object of at most `MAX_ANSWER_BYTES`):

```json
{"predicted_return": 0.0042, "direction": "up", "confidence": 0.61, "model_version": "ar5-ls/1"}
```

- `predicted_return`: the relative change expected over the horizon (0.0042 = +0.42%), finite,
  at most 1 (100%) either way: a bigger move is refused as implausible, not clipped;
- `direction`: "up", "down" or "flat" (+1, -1 and 0 are taken too). One that contradicts the sign
  of the return ("up" with a negative return, "down" with a positive one) is refused: it means
  the model mixes up its sign conventions, and no one can tell which half to believe. "flat" is
  taken with any return (a model may call a small move flat), and "up"/"down" with a zero one;
- `confidence`: in [0, 1];
- `model_version`: optional, a string of at most 64 characters;
- other keys are ignored, so a model can add fields without breaking bots.

Whatever else arrives (a missing field, NaN or infinity, a number written as a string, an HTML
error page, a body over the limit) is a `MalformedAnswer` naming what was wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from aiohttp import ClientResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from market.models import Candle

__all__ = ["DIRECTION_NAMES", "MAX_ANSWER_BYTES", "MAX_PREDICTED_RETURN", "ForecastAnswer", "ForecastRequest",
           "MalformedAnswer", "describe", "parse_answer", "read_bounded", "request_body"]

MAX_ANSWER_BYTES = 64 * 1024
"""The largest answer body read; a longer one is refused after reading this much, at most."""
MAX_PREDICTED_RETURN = 1.0
"""|predicted_return| above this (100% over the horizon) is refused as implausible."""
_SNIPPET_CHARS = 120

_Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
_DIRECTIONS: dict[Any, int] = {"up": 1, "down": -1, "flat": 0, 1: 1, -1: -1, 0: 0}
DIRECTION_NAMES = {1: "up", -1: "down", 0: "flat"}


class MalformedAnswer(ValueError):
    """A model's answer that breaks the contract; the message says what was wrong, truncated."""


class ForecastAnswer(BaseModel):
    """A model's answer, validated; `direction` is normalised to +1, -1 or 0."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    predicted_return: Annotated[_Finite, Field(ge=-MAX_PREDICTED_RETURN, le=MAX_PREDICTED_RETURN)]
    direction: Literal["up", "down", "flat", 1, -1, 0]
    confidence: Annotated[_Finite, Field(ge=0.0, le=1.0)]
    model_version: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("direction", mode="before")
    @classmethod
    def _no_bool_direction(cls, value: Any) -> Any:
        if isinstance(value, bool):  # JSON true is not +1: a model that sends it means something else
            raise ValueError(f"direction must be 'up', 'down', 'flat', 1, -1 or 0, got {value!r}")
        return value

    @model_validator(mode="after")
    def _direction_agrees_with_return(self) -> ForecastAnswer:
        sign = _DIRECTIONS[self.direction]
        if sign * self.predicted_return < 0:
            raise ValueError(f"direction {self.direction!r} contradicts predicted_return {self.predicted_return!r}")
        return self

    @property
    def direction_sign(self) -> int:
        return _DIRECTIONS[self.direction]


_Row = tuple[Annotated[int, Strict(), Field(ge=0)], _Finite, _Finite, _Finite,
             Annotated[_Finite, Field(gt=0)], Annotated[_Finite, Field(ge=0)]]


class ForecastRequest(BaseModel):
    """A bot's request, as a model server validates it (the reference server does)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    timeframe: Annotated[str, Field(pattern=r"^[1-9][0-9]*[smhdw]$")]
    horizon_secs: Annotated[int, Strict(), Field(gt=0, le=366 * 86_400)]
    ts_ms: Annotated[int, Strict(), Field(ge=0)]
    trigger: str
    candles: Annotated[list[_Row], Field(min_length=1, max_length=10_000)]
    features: dict[str, _Finite | None] = {}

    @model_validator(mode="after")
    def _oldest_first(self) -> ForecastRequest:
        times = [row[0] for row in self.candles]
        if any(later <= earlier for earlier, later in zip(times, times[1:])):
            raise ValueError("candles must be oldest first, one per open time")
        return self


def request_body(*, model: str, symbol: str, timeframe: str, horizon_secs: int, ts_ms: int, trigger: str,
                 candles: Sequence[Candle], features: Mapping[str, float | None]) -> bytes:
    """The request JSON as bytes. Built by hand rather than through `ForecastRequest`: the
    values come from inside the process, already checked. A feature that is None, NaN or
    infinite goes out as null (JSON has no NaN)."""
    body = {
        "model": model, "symbol": symbol, "timeframe": timeframe, "horizon_secs": int(horizon_secs),
        "ts_ms": int(ts_ms), "trigger": trigger,
        "candles": [[int(c[0]), float(c[1]), float(c[2]), float(c[3]), float(c[4]), float(c[5])] for c in candles],
        "features": {str(name): (float(v) if v is not None and math.isfinite(v) else None)
                     for name, v in features.items()},
    }
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


async def read_bounded(response: ClientResponse, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The response body, or `MalformedAnswer` if it is longer than `limit` bytes. A declared
    Content-Length over the limit is refused before reading; otherwise at most `limit + 1`
    bytes are read (decompressed), so a 10 MB answer never sits in memory."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise MalformedAnswer(f"answer body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise MalformedAnswer(f"answer body is over the {limit}-byte limit")


def parse_answer(body: bytes, content_type: str = "") -> ForecastAnswer:
    """The validated answer in `body`, or `MalformedAnswer` saying what was wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        kind = f" ({content_type})" if content_type else ""
        raise MalformedAnswer(f"answer is not JSON{kind}: {snippet(body)}") from None
    if not isinstance(data, dict):
        raise MalformedAnswer(f"answer is not a JSON object: {snippet(body)}")
    try:
        return ForecastAnswer.model_validate(data)
    except ValidationError as exc:
        raise MalformedAnswer(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """pydantic's errors as one line: `confidence: Input should be ... (got 1.5); ...`."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(step) for step in error["loc"]) or "answer"
        shown = error["type"] != "missing" and error["loc"] and not error["msg"].startswith("Value error")
        got = f" (got {_short(repr(error.get('input')))})" if shown else ""
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}{got}")
    return _short("; ".join(parts), 400)


def snippet(body: bytes) -> str:
    """The start of a body, for a log line: one line, at most a hundred-odd characters."""
    text = body[:_SNIPPET_CHARS * 4].decode("utf-8", errors="replace")
    return repr(_short(" ".join(text.split())))


def _short(text: str, limit: int = _SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
