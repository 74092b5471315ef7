"""`ModelClient`: asks one prediction model for forecasts over HTTP (`runner.forecast.contract`),
and never lets a broken model reach an order or hold up its bot.

```python
async with ModelClient(config.model, clock=clock) as model:
    forecast = await model.forecast(symbol="BTC/USDT", timeframe="1m", candles=window,
                                    features=view.features, ts_ms=close_ms, trigger="interval")
    # None: no forecast this time; the bot decides on its technical votes alone
```

What a call does:

- at most `timeout_secs` of real time in all (attempts, backoff and reading the answer): the bot
  never waits longer. Each attempt gets what is left, and its connect phase at most an equal
  share of the budget, so a connect that hangs leaves time for a retry;
- a 5xx, a refused or dropped connection and a connect time-out are retried `retries` times
  after `backoff_secs`, doubled each time (slept on the injected clock), while time is left. A
  4xx, a redirect and a malformed answer are not retried: asking again gets the same answer;
- any failed call counts towards the circuit breaker (`runner.forecast.breaker`), which opens
  after `breaker_failures` in a row; while open, calls return None at once without a request;
- `available` turns False at the first failed call and True at the next success, each change
  logged once ("model X unavailable: ...; deciding on technical votes alone", "model X
  available again"); single failures are logged at DEBUG, except a malformed answer, which gets
  a WARNING saying what was wrong (a model that talks nonsense is a bug someone must fix).

Header values are read from the environment when the client is built and go into requests
only: not into logs, errors, `repr` or `last_error` (any text that would carry one, such as a
server echoing it back, has it replaced by `***`).

With `config.replay` set the client asks nothing: it answers from the recorded file
(`runner.forecast.replay.ReplayModel`) and needs no header variables.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from types import TracebackType

import aiohttp
from loguru import logger

from market.clock import SYSTEM_CLOCK, Clock
from market.forecast import Forecast
from market.models import Candle
from runner.forecast.breaker import BreakerState, CircuitBreaker
from runner.forecast.config import ModelConfig
from runner.forecast.contract import ForecastAnswer, MalformedAnswer, parse_answer, read_bounded, request_body
from runner.forecast.replay import ReplayModel

__all__ = ["MissingModelHeader", "ModelClient"]

_MAX_CONNECTIONS = 4
"""Per client: a bot asks one thing at a time; a few spare for a client shared by bots."""


class MissingModelHeader(ValueError):
    """A header the model config names has its environment variable unset, empty, or holding
    something that cannot be a header value. The message names the variable, never the value."""


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not: 5xx, connection, connect time-out."""


class _CallFailed(Exception):
    """The call is over without an answer; the message is the reason, for logs and status."""


class ModelClient:
    """One model, asked over HTTP (or replayed), with retries, a deadline and a circuit breaker.

    Counters for status and metrics: `calls` (requests that went out), `failures` (of those,
    the ones that gave no forecast, malformed answers included), `malformed`, `refused` (calls
    the open breaker answered with None at once), `available`, `last_error`, `breaker_state`.

    Raises `MissingModelHeader` when built without a header's variable, and
    `runner.forecast.replay.ReplayFileError` when the replay file cannot be used."""

    def __init__(self, config: ModelConfig, *, clock: Clock = SYSTEM_CLOCK,
                 environ: Mapping[str, str] | None = None, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._clock = clock
        self._replay = ReplayModel.load(config.replay, model=config.name) if config.replay is not None else None
        self.name: str = config.name or (self._replay.model if self._replay is not None else "model")
        self._headers: dict[str, str] = {}
        if self._replay is None:
            self._headers = _headers_from_env(self.name, config.headers_env, os.environ if environ is None else environ)
        self._secrets = tuple(value for value in self._headers.values() if value)
        self._session = session
        self._owns_session = session is None
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_secs, clock=clock)
        self.calls = 0
        self.failures = 0
        self.malformed = 0
        self.refused = 0
        self.available = True
        self.last_error = ""

    def __repr__(self) -> str:
        where = f"replay={str(self.config.replay)!r}" if self._replay is not None else f"url={self.config.url!r}"
        return f"ModelClient(name={self.name!r}, {where}, headers={sorted(self._headers)})"

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session, if this client made it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def forecast(self, *, symbol: str, timeframe: str, candles: Sequence[Candle],
                       features: Mapping[str, float | None], ts_ms: int, trigger: str) -> Forecast | None:
        """The model's forecast for `symbol` at the candle closing at `ts_ms`, from the last
        `config.candles` of `candles` (oldest first; the last one's close is the forecast's
        price), or None when the model gives none. Raises ValueError only for a call without
        candles (a bug in the caller); a failing model never raises."""
        if self._replay is not None:
            self.calls += 1
            return self._replay.lookup(symbol, ts_ms)
        if not candles:
            raise ValueError(f"model {self.name}: a forecast needs at least one candle")
        if not self.breaker.allow():
            self.refused += 1
            self._set_unavailable(f"circuit breaker open, next trial in {self.breaker.retry_in_secs:.0f}s")
            return None
        window = candles[-self.config.candles:]
        body = request_body(model=self.name, symbol=symbol, timeframe=timeframe, horizon_secs=self.config.horizon_secs,
                            ts_ms=ts_ms, trigger=trigger, candles=window, features=features)
        self.calls += 1
        try:
            answer = await self._ask(body)
        except MalformedAnswer as exc:
            self.malformed += 1
            what = self._redact(str(exc))
            logger.warning("model {} gave a malformed answer for {} at {}: {}", self.name, symbol, ts_ms, what)
            self._fail(f"malformed answer: {what}")
            return None
        except _CallFailed as exc:
            reason = self._redact(str(exc))
            logger.debug("model {}: no forecast for {} at {}: {}", self.name, symbol, ts_ms, reason)
            self._fail(reason)
            return None
        self.breaker.record_success()
        if not self.available:
            self.available = True
            logger.info("model {} available again", self.name)
        return Forecast(model=self.name, symbol=symbol, ts_ms=ts_ms, horizon_ms=self.config.horizon_ms,
                        price=float(window[-1][4]), predicted_return=answer.predicted_return,
                        direction=answer.direction_sign, confidence=answer.confidence, trigger=trigger)

    async def _ask(self, body: bytes) -> ForecastAnswer:
        """The answer within the deadline, retrying what may pass. Raises `_CallFailed` or
        `MalformedAnswer`."""
        config = self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.timeout_secs
        attempts = 0
        while True:
            attempts += 1
            try:
                async with asyncio.timeout_at(deadline):
                    return await self._attempt(body)
            except TimeoutError:
                raise _CallFailed(f"no answer within {config.timeout_secs:g}s") from None
            except _Retryable as exc:
                if attempts > config.retries:
                    raise _CallFailed(f"{exc} ({_attempts(attempts)})") from None
                pause_secs = config.backoff_secs * 2 ** (attempts - 1)
                if loop.time() + pause_secs >= deadline:
                    raise _CallFailed(f"{exc} ({_attempts(attempts)}; no time left in "
                                      f"{config.timeout_secs:g}s for another)") from None
                await self._clock.sleep(pause_secs)

    async def _attempt(self, body: bytes) -> ForecastAnswer:
        assert self.config.url is not None  # replay-only configs never get here
        session = self._session_for_calls()
        try:
            async with session.post(self.config.url, data=body, headers=self._headers,
                                    allow_redirects=False) as response:
                status = response.status
                if status >= 500:
                    raise _Retryable(f"HTTP {status} {response.reason or ''}".rstrip())
                if status != 200:
                    # Not retried: a 4xx says the request (or its credentials) is wrong, and a
                    # redirect is not followed, so that headers never go to another host.
                    raise _CallFailed(f"HTTP {status} {response.reason or ''}".rstrip())
                try:
                    raw = await read_bounded(response)
                except MalformedAnswer:
                    response.close()  # drop the connection rather than drain megabytes from it
                    raise
                return parse_answer(raw, response.content_type)
        except aiohttp.ClientError as exc:
            raise _Retryable(_describe_client_error(exc)) from None

    def _session_for_calls(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Made at the first call, inside the running loop, as aiohttp wants.
            connect_secs = self.config.timeout_secs / (self.config.retries + 1)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_secs),
                connector=aiohttp.TCPConnector(limit=_MAX_CONNECTIONS),
                headers={"Content-Type": "application/json", "Accept": "application/json"})
            self._owns_session = True
        return self._session

    def _fail(self, reason: str) -> None:
        self.failures += 1
        was_closed = self.breaker.state is BreakerState.CLOSED
        if self.breaker.record_failure():
            log = logger.warning if was_closed else logger.debug
            log("model {}: circuit breaker open after {} failed calls in a row; next trial in {:g}s",
                self.name, self.breaker.consecutive_failures, self.config.breaker_reset_secs)
        self._set_unavailable(reason)

    def _set_unavailable(self, reason: str) -> None:
        self.last_error = reason
        if self.available:
            self.available = False
            logger.warning("model {} unavailable: {}; deciding on technical votes alone", self.name, reason)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _headers_from_env(model: str, headers_env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    headers = {}
    for header, variable in headers_env.items():
        value = environ.get(variable)
        if not value:
            raise MissingModelHeader(
                f"model {model}: header {header} needs the environment variable {variable}, which is not set or "
                "empty; set it in the daemon's environment (e.g. its systemd EnvironmentFile)")
        if any(ch in value for ch in "\r\n\0") or not value.isascii():
            raise MissingModelHeader(f"model {model}: the environment variable {variable} (header {header}) holds "
                                     "a line break or non-ASCII characters, which a header value cannot")
        headers[header] = value
    return headers


def _describe_client_error(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "connect time-out"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
