"""ModelClient against real HTTP servers on 127.0.0.1: the reference model, and hostile ones
(slow, 5xx, hanging, garbage, huge, recovering). Whatever they do, a call returns a valid
Forecast or None, and header values from the environment never reach a log line."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from market.forecast import Forecast
from market.models import Candle
from runner.bot.clock import ManualClock
from runner.forecast.breaker import BreakerState
from runner.forecast.config import ModelConfig
from runner.forecast.model_client import MissingModelHeader, ModelClient
from runner.forecast.model_server import build_model_app, serve_model
from runner.forecast.replay import write_forecasts

GOOD = {"predicted_return": 0.0042, "direction": "up", "confidence": 0.61, "model_version": "test/1"}
SECRET = "Bearer s3cr3t-token-value"
TEN_MB = 10 * 1024 * 1024


def candles(n: int = 120, *, start_ms: int = 1_700_000_000_000) -> list[Candle]:
    closes = [100.0 * math.exp(0.001 * i + 0.004 * math.sin(i / 3)) for i in range(n)]
    return [Candle(start_ms + 60_000 * i, c, c * 1.001, c * 0.999, c, 5.0) for i, c in enumerate(closes)]


async def ask(client: ModelClient, window: list[Candle] | None = None, *, trigger: str = "interval") -> Forecast | None:
    window = window or candles()
    return await client.forecast(symbol="BTC/USDT", timeframe="1m", candles=window, features={"ema:12": 101.0},
                                 ts_ms=window[-1].ts_ms + 60_000, trigger=trigger)


class Hostile:
    """A model server that does what `modes` says, one mode per request (the last one repeats)."""

    def __init__(self, *modes: str) -> None:
        self.modes = list(modes) or ["ok"]
        self.hits = 0
        self.headers: list[dict[str, str]] = []
        self.bodies: list[dict] = []
        self.release = asyncio.Event()  # set at teardown: hanging handlers return

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/forecast", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        self.headers.append(dict(request.headers))
        self.bodies.append(json.loads(await request.read()))
        mode = self.modes.pop(0) if len(self.modes) > 1 else self.modes[0]
        if mode == "ok":
            return web.json_response(GOOD)
        if mode in ("500", "503"):
            return web.Response(status=int(mode), text="<html>overloaded</html>", content_type="text/html")
        if mode == "401":
            return web.Response(status=401, text="bad token")
        if mode == "slow":
            await self.release.wait()
            return web.json_response(GOOD)
        if mode == "html":
            return web.Response(text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        if mode == "echo":  # an error page that repeats the request's Authorization header
            return web.Response(text=f"<html>invalid {request.headers.get('Authorization')}</html>",
                                content_type="text/html")
        if mode == "missing":
            return web.json_response({"predicted_return": 0.01, "direction": "up"})
        if mode == "nan":
            return web.Response(body=b'{"predicted_return": NaN, "direction": "up", "confidence": 0.5}',
                                content_type="application/json")
        if mode == "confidence":
            return web.json_response({**GOOD, "confidence": 1.5})
        if mode in ("huge", "huge_chunked", "stall"):
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            if mode != "huge_chunked":
                response.content_length = 200 if mode == "stall" else TEN_MB
            await response.prepare(request)
            try:
                if mode == "stall":
                    await response.write(b'{"predicted_return": ')
                    await self.release.wait()
                    return response
                chunk = b" " * 65_536
                for _ in range(TEN_MB // len(chunk)):  # bounded: at most 10 MB, stops when the client hangs up
                    await response.write(chunk)
            except (ConnectionError, RuntimeError):
                pass
            return response
        raise AssertionError(f"unknown mode {mode}")


@pytest.fixture
async def serve():
    """`await serve(app)` -> the base URL of `app` served on 127.0.0.1; all stopped at teardown."""
    runners: list[web.AppRunner] = []
    releases: list[asyncio.Event] = []

    async def start(app: web.Application, release: asyncio.Event | None = None) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        if release is not None:
            releases.append(release)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for release in releases:
        release.set()
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def hostile(serve) -> Callable:
    async def start(*modes: str) -> tuple[Hostile, str]:
        server = Hostile(*modes)
        return server, await serve(server.app(), server.release) + "/forecast"
    return start


@pytest.fixture
async def clients():
    """`clients(url=..., **config)` -> a ModelClient on a ManualClock; all closed at teardown."""
    made: list[ModelClient] = []

    def make(*, environ: dict[str, str] | None = None, clock: ManualClock | None = None, **fields) -> ModelClient:
        fields.setdefault("name", "m")
        client = ModelClient(ModelConfig(**fields), clock=clock or ManualClock(1_000_000), environ=environ or {})
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def messages(log_records, level: str | None = None) -> list[str]:
    return [r["message"] for r in log_records if level is None or r["level"].name == level]


# -- the reference model -----------------------------------------------------------------------

async def test_the_reference_model_answers_and_the_client_returns_a_valid_forecast(serve, clients):
    url = await serve(build_model_app()) + "/forecast"
    client = clients(url=url, name="ar5", horizon="1h", candles=100)
    window = candles(150)

    forecast = await ask(client, window)

    assert isinstance(forecast, Forecast)
    assert (forecast.model, forecast.symbol, forecast.ts_ms) == ("ar5", "BTC/USDT", window[-1].ts_ms + 60_000)
    assert (forecast.horizon_ms, forecast.price, forecast.trigger) == (3_600_000, window[-1].close, "interval")
    assert abs(forecast.predicted_return) <= 0.5 and 0.0 <= forecast.confidence <= 1.0
    assert forecast.direction == (forecast.predicted_return > 0) - (forecast.predicted_return < 0)
    assert (client.calls, client.failures, client.malformed, client.available) == (1, 0, 0, True)


async def test_the_reference_server_refuses_a_request_that_breaks_the_contract(serve):
    url = await serve(build_model_app())
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/forecast", data=b"<xml/>") as response:
            assert response.status == 400 and "not a JSON object" in (await response.json())["error"]
        async with session.post(url + "/forecast", json={"model": "m", "symbol": "X"}) as response:
            assert response.status == 400 and "candles: Field required" in (await response.json())["error"]
        async with session.get(url + "/health") as response:
            assert (await response.json())["ok"] is True


async def test_serve_model_refuses_a_host_that_is_not_loopback():
    with pytest.raises(ValueError, match="loopback only"):
        await serve_model(host="0.0.0.0", port=8780)


async def test_serve_model_serves_until_cancelled():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serving = asyncio.create_task(serve_model(port=port))
    healthy: list[bool] = []

    async def probe_health() -> None:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health") as response:
                healthy.append(response.status == 200)
        except aiohttp.ClientConnectionError:
            pass

    try:
        async with asyncio.timeout(5):
            while not healthy:
                await probe_health()
                await asyncio.sleep(0.01)
        assert healthy == [True]
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


# -- the request ---------------------------------------------------------------------------------

async def test_the_request_carries_the_last_n_candles_and_the_features(hostile, clients):
    server, url = await hostile("ok")
    client = clients(url=url, candles=10, horizon="15m")
    window = candles(50)
    await ask(client, window, trigger="price_move")
    body = server.bodies[0]
    assert body["candles"] == [list(c) for c in window[-10:]]
    assert (body["model"], body["horizon_secs"], body["trigger"], body["features"]) == ("m", 900, "price_move",
                                                                                         {"ema:12": 101.0})


# -- hostile servers -----------------------------------------------------------------------------

async def test_a_slow_model_costs_one_timeout_and_no_retry(hostile, clients, log_records):
    server, url = await hostile("slow")
    client = clients(url=url, timeout_secs=0.2, retries=2)
    assert await ask(client) is None
    assert (server.hits, client.calls, client.failures, client.available) == (1, 1, 1, False)
    assert client.last_error == "no answer within 0.2s"
    assert messages(log_records, "WARNING") == [
        "model m unavailable: no answer within 0.2s; deciding on technical votes alone"]


async def test_a_body_that_stops_halfway_times_out(hostile, clients):
    server, url = await hostile("stall")
    client = clients(url=url, timeout_secs=0.2)
    assert await ask(client) is None
    assert client.last_error == "no answer within 0.2s" and client.malformed == 0


async def test_a_server_that_accepts_and_never_answers_times_out(clients):
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        client = clients(url=f"http://127.0.0.1:{port}/forecast", timeout_secs=0.2)
        assert await ask(client) is None
        assert client.last_error == "no answer within 0.2s"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_5xx_is_retried_with_backoff_on_the_clock(hostile, clients):
    server, url = await hostile("503")
    clock = ManualClock(1_000_000)
    client = clients(url=url, retries=2, backoff_secs=0.2, clock=clock)
    assert await ask(client) is None
    assert server.hits == 3 and client.failures == 1
    assert client.last_error == "HTTP 503 Service Unavailable (3 attempts)"
    assert clock.now_ms() == 1_000_000 + 200 + 400


async def test_a_5xx_then_an_answer_is_a_forecast(hostile, clients):
    server, url = await hostile("500", "ok")
    client = clients(url=url, retries=2)
    forecast = await ask(client)
    assert forecast is not None and forecast.predicted_return == GOOD["predicted_return"]
    assert (server.hits, client.failures, client.available) == (2, 0, True)


async def test_4xx_is_not_retried(hostile, clients):
    server, url = await hostile("401")
    client = clients(url=url, retries=2)
    assert await ask(client) is None
    assert server.hits == 1 and client.last_error == "HTTP 401 Unauthorized"


async def test_a_model_that_is_not_there_is_retried_then_none(clients):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = clients(url=f"http://127.0.0.1:{port}/forecast", retries=1)
    assert await ask(client) is None
    assert "Cannot connect to host 127.0.0.1" in client.last_error and "(2 attempts)" in client.last_error


@pytest.mark.parametrize(("mode", "says"), [
    ("html", "answer is not JSON (text/html): '<html><body><h1>502 Bad Gateway</h1></body></html>'"),
    ("missing", "confidence: Field required"),
    ("nan", "predicted_return: Input should be a finite number"),
    ("confidence", "confidence: Input should be less than or equal to 1 (got 1.5)"),
    ("huge", "answer body of 10485760 bytes is over the 65536-byte limit"),
    ("huge_chunked", "answer body is over the 65536-byte limit"),
])
async def test_a_malformed_answer_is_refused_counted_and_logged_once(hostile, clients, log_records, mode, says):
    server, url = await hostile(mode)
    client = clients(url=url, retries=2)
    assert await ask(client) is None
    assert server.hits == 1  # asking again gets the same nonsense
    assert (client.calls, client.failures, client.malformed, client.available) == (1, 1, 1, False)
    warnings = messages(log_records, "WARNING")
    assert len(warnings) == 2
    assert warnings[0].startswith("model m gave a malformed answer for BTC/USDT at ") and says in warnings[0]
    assert warnings[1].startswith("model m unavailable: malformed answer: ")


async def test_the_breaker_opens_stays_open_half_opens_on_the_clock_and_closes_on_success(hostile, clients,
                                                                                         log_records):
    server, url = await hostile("503")
    clock = ManualClock(1_000_000)
    client = clients(url=url, retries=0, breaker_failures=3, breaker_reset_secs=60, clock=clock)

    for _ in range(3):
        assert await ask(client) is None
    assert server.hits == 3 and client.breaker_state is BreakerState.OPEN

    clock.advance_to(1_000_000 + 59_999)
    assert await ask(client) is None
    assert server.hits == 3 and client.refused == 1  # refused without a request

    clock.advance_to(1_000_000 + 60_000)
    assert await ask(client) is None  # the trial, still failing: open for another minute
    assert server.hits == 4 and client.breaker_state is BreakerState.OPEN
    assert await ask(client) is None and server.hits == 4

    server.modes = ["ok"]
    clock.advance_to(1_000_000 + 120_000)
    assert await ask(client) is not None
    assert server.hits == 5 and client.breaker_state is BreakerState.CLOSED and client.available
    assert await ask(client) is not None and server.hits == 6

    assert (client.calls, client.failures, client.refused, client.malformed) == (6, 4, 2, 0)
    info_and_up = [r["message"] for r in log_records if r["level"].no >= 20]
    assert info_and_up == [
        "model m unavailable: HTTP 503 Service Unavailable (1 attempt); deciding on technical votes alone",
        "model m: circuit breaker open after 3 failed calls in a row; next trial in 60s",
        "model m available again",
    ]


# -- header values ---------------------------------------------------------------------------------

async def test_header_values_come_from_the_environment_and_never_reach_logs(hostile, clients, log_records):
    server, url = await hostile("ok", "echo", "500")
    client = clients(url=url, retries=0, headers_env={"Authorization": "MODEL_TOKEN"},
                     environ={"MODEL_TOKEN": SECRET})

    assert await ask(client) is not None
    assert server.headers[0]["Authorization"] == SECRET
    assert await ask(client) is None  # an error page repeating the token
    assert await ask(client) is None

    echoed = "answer is not JSON (text/html): '<html>invalid ***</html>'"
    assert any(echoed in m for m in messages(log_records, "WARNING"))
    assert SECRET not in repr(client) and "MODEL_TOKEN" not in repr(client) and "Authorization" in repr(client)
    assert SECRET not in client.last_error
    for record in log_records:
        assert SECRET not in record["message"] and SECRET not in repr(record["extra"])
        assert record["exception"] is None


async def test_header_values_are_read_from_os_environ_by_default(hostile, monkeypatch):
    server, url = await hostile("ok")
    monkeypatch.setenv("MODEL_TOKEN_FOR_TEST", SECRET)
    async with ModelClient(ModelConfig(url=url, headers_env={"X-Api-Key": "MODEL_TOKEN_FOR_TEST"})) as client:
        assert await ask(client) is not None
    assert server.headers[0]["X-Api-Key"] == SECRET


@pytest.mark.parametrize("environ", [{}, {"MODEL_TOKEN": ""}, {"MODEL_TOKEN": SECRET + "\r\nX-Evil: 1"}])
def test_a_missing_or_unusable_variable_is_named_and_its_value_never_shown(environ):
    config = ModelConfig(url="http://127.0.0.1:1/forecast", name="m", headers_env={"Authorization": "MODEL_TOKEN"})
    with pytest.raises(MissingModelHeader, match="MODEL_TOKEN") as refused:
        ModelClient(config, environ=environ)
    assert SECRET not in str(refused.value) and "header Authorization" in str(refused.value)


# -- replay ----------------------------------------------------------------------------------------

async def test_a_replay_client_answers_the_recorded_forecasts_exactly_without_http(tmp_path, clients):
    window = candles(20)
    recorded = [Forecast(model="ar5", symbol="BTC/USDT", ts_ms=c.ts_ms + 60_000, horizon_ms=3_600_000, price=c.close,
                         predicted_return=0.001 * (i - 10), direction=(i > 10) - (i < 10), confidence=0.1 * (i % 10),
                         trigger="interval") for i, c in enumerate(window) if i % 3 == 0]
    write_forecasts(tmp_path / "ar5.jsonl", recorded)
    # headers_env without the variable: a replay needs no credentials, and asks no URL
    client = clients(replay=tmp_path / "ar5.jsonl", name="ar5", url="http://127.0.0.1:1/forecast",
                     headers_env={"Authorization": "MODEL_TOKEN"})

    answers = [await ask(client, window[: i + 1], trigger="manual") for i in range(len(window))]

    assert [a for a in answers if a is not None] == recorded
    assert [i for i, a in enumerate(answers) if a is not None] == list(range(0, 20, 3))
    assert client.name == "ar5" and client.failures == 0 and client.available
