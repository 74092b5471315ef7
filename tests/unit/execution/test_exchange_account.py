"""`ExchangeAccount` against the Binance stand-in, through the real ccxt client (nothing in ccxt
is mocked). Back-offs and retries sleep on a clock that moves the stand-in's clock, so the
stand-in's request log shows when each request arrived without any test waiting in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro
import pytest

from execution.errors import AuthenticationFailed, RateLimited, TemporaryExchangeError, UnknownOrderOutcome
from execution.exchange import ExchangeAccount, ExchangeAccounts, MissingCredentials
from execution.exchange_config import ExchangeConfig
from execution.standin import BinanceStandIn, SymbolRules

T0_MS = 1_704_067_200_000
STEP_MS = 60_000
KEY_ENV, SECRET_ENV = "BR_TEST_KEY", "BR_TEST_SECRET"
SECRET = "s3cret-value-that-must-never-show-9f8e7d"


def make_candles(count: int = 120) -> list[tuple[int, float, float, float, float, float]]:
    """1m candles with closes rising 10 a candle from 30000."""
    return [(T0_MS + i * STEP_MS, 30_000.0 + 10 * i, 30_025.0 + 10 * i, 29_975.0 + 10 * i, 30_000.0 + 10 * i, 1.0)
            for i in range(count)]


class SleepRecordingClock:
    """The stand-in's clock: `sleep` moves it forward at once and records the sleep."""

    def __init__(self, standin: BinanceStandIn) -> None:
        self.standin = standin
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return self.standin.now_ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._move_to(self.now_ms() + round(seconds * 1000))
        await asyncio.sleep(0)

    def _move_to(self, target_ms: int) -> None:
        if target_ms > self.standin.now_ms:
            self.standin.advance_to(target_ms)


class GatedClock(SleepRecordingClock):
    """A SleepRecordingClock whose sleepers wait until the test calls `release()`."""

    def __init__(self, standin: BinanceStandIn) -> None:
        super().__init__(standin)
        self.sleeping = asyncio.Event()
        self._released = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target_ms = self.now_ms() + round(seconds * 1000)
        self.sleeping.set()
        await self._released.wait()
        self._move_to(target_ms)

    def release(self) -> None:
        self._released.set()


def fast_client(exchange_id: str, settings: dict[str, Any]) -> ccxt_async.Exchange:
    # Production settings, but a 1 ms throttle and no close() grace: the stand-in is local HTTP.
    return getattr(ccxt_async, exchange_id)({**settings, "rateLimit": 1, "timeout_on_exit": 0})


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    rules = SymbolRules(min_qty="0.0001", step_size="0.00001", min_notional="5")
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000}, secret=SECRET, rules=rules,
                              start_ms=T0_MS + 60 * STEP_MS) as running:
        yield running


@pytest.fixture
def clock(standin: BinanceStandIn) -> SleepRecordingClock:
    return SleepRecordingClock(standin)


@pytest.fixture
def env(standin: BinanceStandIn) -> dict[str, str]:
    return {KEY_ENV: standin.api_key, SECRET_ENV: SECRET}


def config_for(standin: BinanceStandIn, **changes: Any) -> ExchangeConfig:
    fields = dict(id="binance", account="main", api_key_env=KEY_ENV, secret_env=SECRET_ENV,
                  base_url=standin.base_url, timeout_secs=5)
    return ExchangeConfig(**(fields | changes))


@pytest.fixture
async def make_account(standin, env, clock) -> AsyncIterator[Callable[..., ExchangeAccount]]:
    """Factory: `make_account(environ=..., **config_changes)`; every account is closed at teardown."""
    accounts: list[ExchangeAccount] = []

    def make(*, environ: dict[str, str] | None = None, rng: Callable[[], float] = lambda: 0.5,
             **changes: Any) -> ExchangeAccount:
        accounts.append(ExchangeAccount(config_for(standin, **changes), environ=env if environ is None else environ,
                                        client_factory=fast_client, clock=clock, rng=rng))
        return accounts[-1]

    yield make
    for account in accounts:
        await account.aclose()


@pytest.fixture
async def account(make_account) -> ExchangeAccount:
    return make_account()


def requests_to(standin: BinanceStandIn, method: str, path: str) -> list:
    return [r for r in standin.requests if (r.method, r.path) == (method, path)]


# -- credentials and wiring ------------------------------------------------------------------


async def test_keys_come_from_the_environment_variables_the_config_names(account, standin):
    balance = await account.call("fetch_balance", None, account.client.fetch_balance)

    assert balance["USDT"]["free"] == 10_000.0
    [request] = requests_to(standin, "GET", "/api/v3/account")
    assert request.headers["X-MBX-APIKEY"] == "<redacted>"        # the stand-in got (and hid) a key
    assert account.client.enableRateLimit is True


@pytest.mark.parametrize("missing", [KEY_ENV, SECRET_ENV])
def test_a_missing_variable_is_named_and_no_key_or_secret_appears(standin, env, missing, log_records):
    environ = {k: v for k, v in env.items() if k != missing}

    with pytest.raises(MissingCredentials) as caught:
        ExchangeAccount(config_for(standin), environ=environ, client_factory=fast_client)

    message = str(caught.value)
    assert missing in message and "not set" in message
    assert SECRET not in message and standin.api_key not in message
    assert isinstance(caught.value, AuthenticationFailed)
    assert all(SECRET not in str(r["message"]) for r in log_records)


async def test_a_wrong_secret_fails_without_showing_it(make_account, env, log_records):
    wrong = "wrong-secret-0123456789abcdefABCDEF0123456789"
    account = make_account(environ={**env, SECRET_ENV: wrong})

    with pytest.raises(AuthenticationFailed) as caught:
        await account.call("fetch_balance", None, account.client.fetch_balance)

    assert wrong not in str(caught.value) and SECRET not in str(caught.value)
    assert wrong not in repr(account) and all(wrong not in str(r["message"]) for r in log_records)


async def test_base_url_replaces_every_api_url_and_reaches_the_stand_in(account, standin):
    await account.load_markets()

    api_urls = account.client.urls["api"]
    assert all(url.startswith(standin.base_url + "/") for url in api_urls.values())
    assert api_urls["public"] == standin.base_url + "/api/v3"
    assert [(r.method, r.path) for r in standin.requests] == [("GET", "/api/v3/exchangeInfo")]
    assert standin.unserved == []


async def test_concurrent_callers_share_one_load_of_the_markets(account, standin):
    await asyncio.gather(*(account.load_markets() for _ in range(5)))
    await account.load_markets()

    assert len(requests_to(standin, "GET", "/api/v3/exchangeInfo")) == 1
    assert account.requests_total == 1


async def test_accounts_are_shared_by_id_and_account_name(standin, env):
    accounts = ExchangeAccounts(environ=env, client_factory=fast_client)
    try:
        first = accounts.get(config_for(standin))
        assert accounts.get(config_for(standin, poll_delay_secs=3)) is first
        assert accounts.get(config_for(standin, account="other")) is not first
        with pytest.raises(ValueError, match="binance/main is configured twice"):
            accounts.get(config_for(standin, secret_env="OTHER_SECRET"))
        assert len(accounts) == 2
    finally:
        await accounts.aclose()

    assert first.client.session is None or first.client.session.closed


# -- rounding and minimums -------------------------------------------------------------------


async def test_amounts_round_down_to_the_step_and_prices_to_the_tick(account):
    await account.load_markets()

    assert account.round_amount("BTC/USDT", 0.0123499) == 0.01234
    assert account.round_amount("BTC/USDT", 0.000009) == 0.0
    assert account.round_price("BTC/USDT", 30_500.126) == 30_500.13


async def test_an_amount_rounded_again_or_rounded_before_gives_what_ccxt_gives(account):
    # An exit is rounded when sized and again when sent; the second answer is kept, not remade.
    await account.load_markets()
    amounts = [0.0123499, 0.01234, 1.999999999, 0.000009, 0.00001, 123.456789123, 0.1 + 0.2]

    first = [account.round_amount("BTC/USDT", a) for a in amounts]
    again = [account.round_amount("BTC/USDT", a) for a in amounts + first]

    by_ccxt = []
    for a in amounts + first:
        try:
            by_ccxt.append(float(account.client.amount_to_precision("BTC/USDT", a)))
        except ccxt.InvalidOrder:
            by_ccxt.append(0.0)
    assert again == by_ccxt
    assert first == by_ccxt[:len(amounts)]


@pytest.mark.parametrize(("amount", "price", "cost", "reason"), [
    (0.00001, 30_000.0, None, "order of 0.00001 BTC is below the minimum amount 0.0001 for BTC/USDT"),
    (0.0001, 30_000.0, None, "order of 0.0001 BTC at 30000 (3 USDT) is below the minimum notional 5 USDT for BTC/USDT"),
    (None, None, 4.5, "order of 4.5 USDT is below the minimum notional 5 USDT for BTC/USDT"),
    (0.0002, 30_000.0, None, None),
    (0.0001, None, None, None),          # a market order before any price is known: the exchange decides
    (None, None, 5.0, None),
])
async def test_check_order_names_the_minimum_an_order_misses(account, amount, price, cost, reason):
    await account.load_markets()

    assert account.check_order("BTC/USDT", amount, price, cost=cost) == reason


# -- back-off and retries --------------------------------------------------------------------


async def test_a_429_with_retry_after_makes_another_bots_call_on_the_account_wait(standin, env, clock):
    accounts = ExchangeAccounts(environ=env, client_factory=fast_client, clock=clock)
    try:
        bot_a = accounts.get(config_for(standin))
        bot_b = accounts.get(config_for(standin))          # another bot, same (id, account): same client
        await bot_a.load_markets()
        t0 = standin.now_ms
        standin.rate_limit_next("POST /api/v3/order", retry_after_secs=3)

        with pytest.raises(RateLimited):
            await bot_a.call("create_order", "BTC/USDT", bot_a.client.create_order, "BTC/USDT", "market", "buy",
                             0.001, None, {"clientOrderId": "bra-1"}, order_submission=True)
        await bot_b.call("fetch_balance", None, bot_b.client.fetch_balance)
    finally:
        await accounts.aclose()

    post, = requests_to(standin, "POST", "/api/v3/order")
    get, = requests_to(standin, "GET", "/api/v3/account")
    assert standin.requests.index(post) < standin.requests.index(get)
    assert (post.now_ms, get.now_ms) == (t0, t0 + 3_000)
    assert clock.sleeps == [3.0]
    assert standin.order_submissions["bra-1"] == 1 and standin.orders == []


async def test_a_read_started_during_a_back_off_waits_for_its_end(standin, env):
    clock = GatedClock(standin)
    account = ExchangeAccount(config_for(standin), environ=env, client_factory=fast_client, clock=clock)
    try:
        await account.load_markets()
        t0 = standin.now_ms
        standin.rate_limit_next("GET /api/v3/ticker/*", retry_after_secs=2)
        ticker = asyncio.create_task(account.call("fetch_ticker", "BTC/USDT", account.client.fetch_ticker,
                                                  "BTC/USDT"))
        await asyncio.wait_for(clock.sleeping.wait(), timeout=2)    # bot A got the 429 and waits
        balance = asyncio.create_task(account.call("fetch_balance", None, account.client.fetch_balance))
        for _ in range(20):
            await asyncio.sleep(0)
        assert requests_to(standin, "GET", "/api/v3/account") == []  # bot B waits too: nothing sent

        clock.release()
        await asyncio.wait_for(asyncio.gather(ticker, balance), timeout=2)
    finally:
        await account.aclose()

    assert [r.now_ms for r in requests_to(standin, "GET", "/api/v3/ticker/24hr")] == [t0, t0 + 2_000]
    assert [r.now_ms for r in requests_to(standin, "GET", "/api/v3/account")] == [t0 + 2_000]
    assert clock.sleeps == [2.0, 2.0]


async def test_without_retry_after_the_back_off_doubles(account, standin, clock):
    await account.load_markets()
    t0 = standin.now_ms
    standin.fail_next("GET /api/v3/account", status=429, times=2, code=-1003, msg="Too many requests.")

    await account.call("fetch_balance", None, account.client.fetch_balance)

    assert [r.now_ms - t0 for r in requests_to(standin, "GET", "/api/v3/account")] == [0, 1_000, 3_000]
    assert clock.sleeps == [1.0, 2.0]


async def test_reads_are_retried_after_a_5xx(account, standin, clock):
    standin.fail_next("GET /api/v3/account", status=503)

    balance = await account.call("fetch_balance", None, account.client.fetch_balance)

    assert balance["USDT"]["free"] == 10_000.0
    assert len(requests_to(standin, "GET", "/api/v3/account")) == 2
    assert clock.sleeps == [0.25]                    # retry_delay_secs(0) with the test's rng of 0.5


async def test_reads_give_up_after_max_attempts(account, standin):
    standin.fail_next("GET /api/v3/account", status=502, times=4)

    with pytest.raises(TemporaryExchangeError):
        await account.call("fetch_balance", None, account.client.fetch_balance)

    assert len(requests_to(standin, "GET", "/api/v3/account")) == 4


@pytest.mark.parametrize("arm", [
    lambda s: s.fail_next("POST /api/v3/order", status=503),
    lambda s: s.lose_response_next("POST /api/v3/order"),
], ids=["503-not-booked", "response-lost"])
async def test_order_submissions_are_never_retried(account, standin, clock, arm):
    await account.load_markets()
    arm(standin)

    with pytest.raises(UnknownOrderOutcome, match="never resend"):
        await account.call("create_order", "BTC/USDT", account.client.create_order, "BTC/USDT", "market", "buy",
                           0.001, None, {"clientOrderId": "bra-7"}, order_submission=True)

    assert standin.order_submissions["bra-7"] == 1 and clock.sleeps == []


async def test_an_order_is_refused_unsent_while_the_account_backs_off_longer_than_its_timeout(account, standin):
    await account.load_markets()
    standin.ban_next("POST /api/v3/order", retry_after_secs=120)
    submit = account.client.create_order
    with pytest.raises(RateLimited):
        await account.call("create_order", "BTC/USDT", submit, "BTC/USDT", "market", "buy", 0.001, None,
                           {"clientOrderId": "bra-8"}, order_submission=True)

    with pytest.raises(RateLimited, match="not sent"):
        await account.call("create_order", "BTC/USDT", submit, "BTC/USDT", "market", "buy", 0.001, None,
                           {"clientOrderId": "bra-9"}, order_submission=True)

    assert (standin.order_submissions["bra-8"], standin.order_submissions["bra-9"]) == (1, 0)
    assert standin.orders == []


async def test_requests_are_counted_per_minute(account, standin, clock):
    await account.load_markets()
    for _ in range(3):
        await account.call("fetch_time", None, account.client.fetch_time)

    assert (account.requests_total, account.requests_last_minute()) == (4, 4)
    standin.advance(30_000)
    await account.call("fetch_time", None, account.client.fetch_time)
    standin.advance(31_000)

    assert (account.requests_total, account.requests_last_minute()) == (5, 1)


async def test_fees_in_the_base_asset_are_kept_apart_in_base_units(account):
    await account.load_markets()
    trade = {"price": 30_000.0, "fees": [{"currency": "BTC", "cost": 0.00001}, {"currency": "USDT", "cost": 0.5}]}

    assert await account.trade_fees("BTC/USDT", trade) == (pytest.approx(0.5), pytest.approx(0.00001))
    assert await account.trade_fees("BTC/USDT", {"price": 1.0, "fee": None}) == (0.0, 0.0)


# -- shared reads ----------------------------------------------------------------------------


async def test_bots_making_the_same_read_at_once_share_one_request(account, standin):
    await account.load_markets()
    read = account.client.fetch_open_orders
    answers = await asyncio.gather(*(account.shared_read("fetch_open_orders", "BTC/USDT", read, "BTC/USDT")
                                     for _ in range(10)))
    assert len(requests_to(standin, "GET", "/api/v3/openOrders")) == 1
    assert all(a is answers[0] for a in answers)
    await account.shared_read("fetch_open_orders", "BTC/USDT", read, "BTC/USDT")   # none in flight: a new one
    assert len(requests_to(standin, "GET", "/api/v3/openOrders")) == 2


async def test_a_shared_read_that_fails_raises_to_every_waiter_and_the_next_one_asks_again(account, standin):
    await account.load_markets()
    standin.fail_next("GET /api/v3/account", status=401, code=-2015, msg="Invalid API-key, IP, or permissions for action.")
    outcomes = await asyncio.gather(*(account.shared_read("fetch_balance", None, account.client.fetch_balance)
                                      for _ in range(3)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [AuthenticationFailed] * 3
    assert (await account.shared_read("fetch_balance", None, account.client.fetch_balance))["total"]["USDT"] == 10_000


# -- websockets ------------------------------------------------------------------------------


async def test_an_account_reads_candles_by_websocket_where_ccxt_pro_has_them():
    account = ExchangeAccount(ExchangeConfig(id="binance"), environ={})
    try:
        assert account.websocket and isinstance(account.client, ccxt.pro.binance)
    finally:
        await account.aclose()


async def test_a_rest_url_alone_turns_websockets_off_so_no_stream_reaches_the_real_exchange():
    account = ExchangeAccount(ExchangeConfig(id="binance", base_url="http://127.0.0.1:9"), environ={})
    try:
        assert not account.websocket and not isinstance(account.client, ccxt.pro.binance)
        assert account.client.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    finally:
        await account.aclose()


async def test_a_ws_url_points_the_streams_at_it_and_keeps_their_paths():
    account = ExchangeAccount(ExchangeConfig(id="binance", base_url="https://testnet.binance.vision",
                                             ws_url="wss://stream.testnet.binance.vision"), environ={})
    try:
        urls = account.client.urls["api"]
        assert account.websocket
        assert urls["ws"]["spot"] == "wss://stream.testnet.binance.vision/ws"
        assert urls["public"] == "https://testnet.binance.vision/api/v3"
    finally:
        await account.aclose()
