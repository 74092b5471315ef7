"""Notifications reach a real webhook receiver on 127.0.0.1 through apprise (`json://`): every
event of a running daemon, a retry after a 500, a receiver that hangs while the bots trade on,
and never a secret of the URL in a log line."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
from pathlib import Path

import pytest
from aiohttp import web

from runner.bot.clock import ManualClock
from runner.config.bot import ConfigError
from runner.control.status import BotStatus, LatencySummary
from runner.daemon.process import plan_daemon, run_daemon
from runner.notify.apprise_target import AppriseTarget
from runner.notify.config import NotificationsConfig
from runner.notify.daemon import open_notifications
from runner.notify.events import Notice
from runner.notify.sender import NotificationSender
from tests.daemon_process import connected, write_config_folder
from tests.exchange_bot_files import exchange_bot_file

pytest.importorskip("apprise")

PASSWORD = "pw-9f2c81d7e4"                  # in the URL's user:password, as a webhook's basic auth
PATH_TOKEN = "tok-51aa0e6b3c"               # in the URL's path, as Telegram's and Slack's tokens are
URL_ENV = "BR_TEST_NOTIFY_URL"


class Receiver:
    """A webhook on 127.0.0.1 that records what apprise posts. `fail_next` answers that many
    requests with 500 first; while `hanging` is set, requests wait until it is cleared."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.requests = 0
        self.fail_next = 0
        self.hanging = False
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/hook/{PATH_TOKEN}", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def url(self) -> str:
        return f"json://notify:{PASSWORD}@127.0.0.1:{self.port}/hook/{PATH_TOKEN}"

    def release(self) -> None:
        self.hanging = False
        self._released.set()

    async def aclose(self) -> None:
        self.release()
        await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests += 1
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"notify:{PASSWORD}".encode()).decode()
        if self.hanging:
            await self._released.wait()
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500, text="down for a moment")
        self.received.append(await request.json())
        return web.json_response({"ok": True})

    def titles(self) -> list[str]:
        return [m["title"] for m in self.received]

    def find(self, text: str) -> dict | None:
        return next((m for m in self.received if text in m["title"]), None)


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()      # a daemon run in this process freezes its start-up heap; later tests collect as usual


@pytest.fixture
async def receiver():
    r = Receiver()
    await r.start()
    yield r
    await r.aclose()


async def eventually(condition, what: str, timeout: float = 30.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what}") from None


def bot_file(bot_id: str, *, seed: int, speed: float, risk: str = "{stake_pct: 0.9}") -> str:
    return (f"id: {bot_id}\nsymbol: BTC/USD\ntimeframe: 1m\ncapital: 10000\n"
            f"market: {{source: synthetic, seed: {seed}, bars: 100000, start_price: 25000}}\n"
            f"strategy: {{name: sma_cross, params: {{fast: 2, slow: 5}}}}\nrisk: {risk}\nspeed: {speed}\n")


def write_daemon(root: Path, notifications: str, bots: dict[str, str]) -> Path:
    return write_config_folder(root / "config", f"stop_grace_secs: 5\nnotifications: {notifications}\n", bots)


@pytest.fixture
def root(sock_dir):
    return sock_dir          # a short folder: the daemon's socket goes in it (tests/conftest.py)


async def test_each_daemon_event_reaches_the_webhook_and_no_secret_reaches_a_log(
        receiver, root, monkeypatch, log_records, capfd, caplog):
    caplog.set_level(logging.WARNING)     # what Python prints when nothing configures its logging
    monkeypatch.setenv(URL_ENV, receiver.url())
    config_dir = write_daemon(root, (
        f"{{urls_env: [{URL_ENV}], events: [kill, failed, daemon, fill], fill_modes: [sim], "
        "backoff_initial_secs: 0.05, backoff_max_secs: 0.2}"), {
        # Trips its drawdown kill switch soon after its first entry: a kill by a rule.
        "ruled": bot_file("ruled", seed=1, speed=3000, risk="{stake_pct: 0.9, max_drawdown_pct: 0.0005}"),
        # Trades on until it is killed by hand over the control API.
        "manual": bot_file("manual", seed=2, speed=600),
        # Its snapshot is damaged and its journal has nothing to rebuild it from: it fails at start.
        "broken": bot_file("broken", seed=3, speed=600),
    })
    state_dir = root / "state"
    (state_dir / "bots").mkdir(parents=True)
    (state_dir / "bots" / "broken.json").write_text("{not json")
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(plan_daemon(config_dir, state_dir), stop=stop))
    client = await connected(state_dir / "botrunner.sock")
    try:
        await eventually(lambda: receiver.find("botrunner started on"), "the daemon's start")
        await eventually(lambda: receiver.find("broken: failed"), "the failed bot")
        await eventually(lambda: receiver.find("ruled: kill switch tripped"), "the kill by a rule")
        await eventually(lambda: any(t.startswith("manual: buy") for t in receiver.titles()), "a fill")
        await client.kill("manual", "checking the pager")
        await eventually(lambda: receiver.find("manual: kill switch tripped"), "the kill by hand")
        health = await client.health()
    finally:
        await client.aclose()
        stop.set()
        await asyncio.wait_for(daemon, 30)
    # The stop notice goes out while the daemon shuts down: it drains its queue before it returns.
    assert receiver.find("botrunner stopped on")

    started = receiver.find("botrunner started on")
    assert "3 bot(s)" in started["message"] and started["type"] == "success"
    assert "snapshot" in receiver.find("broken: failed")["message"]
    assert "tripped by a rule: " in receiver.find("ruled: kill switch tripped")["message"]
    manual = receiver.find("manual: kill switch tripped")
    assert "by hand: checking the pager" in manual["message"] and manual["type"] == "failure"
    assert "botrunner resume manual" in manual["message"]
    fill = next(m for m in receiver.received if m["title"].startswith("manual: buy"))
    assert "sim bot manual filled buy" in fill["message"]
    stopped = receiver.find("botrunner stopped on")
    assert "1 failed" in stopped["message"] and "2 killed" in stopped["message"]
    assert health["notifications"][0]["target"] == URL_ENV and health["notifications"][0]["sent"] >= 5
    # Each kill is told once, though a killed bot journals more about it (its flatten, its state).
    assert receiver.titles().count("manual: kill switch tripped") == 1

    out, err = capfd.readouterr()
    logged = [r["message"] for r in log_records] + [out, err, caplog.text]
    assert any(f"${URL_ENV}" in line for line in logged)          # the variable is named...
    for secret in (PASSWORD, PATH_TOKEN):
        assert not any(secret in line for line in logged)           # ...its value never is


async def test_a_receiver_that_answers_500_then_200_gets_the_notice_after_a_retry(receiver):
    receiver.fail_next = 1
    sender = NotificationSender(AppriseTarget(URL_ENV, receiver.url()), retries=2, backoff_initial_secs=0.05)
    sender.start()
    try:
        assert sender.offer(Notice("kill", "btc: kill switch tripped", "by a rule: max drawdown", "failure"))
        await eventually(lambda: receiver.received, "the notice after the retry")
    finally:
        await sender.aclose(drain_secs=5)
    stats = sender.stats()
    assert receiver.requests == 2 and receiver.titles() == ["btc: kill switch tripped"]
    assert (stats.sent, stats.retries, stats.failed, stats.dropped) == (1, 1, 0, 0)


async def test_a_hanging_receiver_holds_up_no_candle_and_a_full_queue_counts_what_it_drops(
        receiver, root, monkeypatch):
    receiver.hanging = True
    monkeypatch.setenv(URL_ENV, receiver.url())
    # Every fill of the sim bot is a notice; the first one hangs, two wait, the rest are dropped.
    config_dir = write_daemon(root, (
        f"{{urls_env: [{URL_ENV}], events: [fill], fill_modes: [sim], queue_size: 2, retries: 0, "
        "send_timeout_secs: 300, drain_secs: 0.2}"), {"busy": bot_file("busy", seed=4, speed=60000)})
    state_dir = root / "state"
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(plan_daemon(config_dir, state_dir), stop=stop))
    client = await connected(state_dir / "botrunner.sock")
    try:
        await eventually(lambda: receiver.requests >= 1, "the first notice reaching the hanging receiver")
        bars_then = (await client.bot("busy")).bars
        status = None

        async def trading_on_and_dropping() -> bool:
            nonlocal status
            status = await client.bot("busy")
            health = await client.health()
            return status.bars >= bars_then + 500 and health["notifications"][0]["dropped"] >= 1

        async with asyncio.timeout(30):
            while not await trading_on_and_dropping():
                await asyncio.sleep(0.05)
        assert status.fills >= 4            # more fills than the queue holds were offered
        assert receiver.received == []         # and not one of them was delivered meanwhile
        metrics = await client.metrics()
        assert f'botrunner_notifications_dropped_total{{target="{URL_ENV}"}}' in metrics
    finally:
        await client.aclose()
        receiver.release()
        stop.set()
        await asyncio.wait_for(daemon, 30)


async def test_the_daily_summary_goes_out_when_the_clock_passes_the_configured_time(receiver):
    clock = ManualClock(now_ms=1_764_547_200_000 + 17 * 3_600_000 + 59 * 60_000)     # 2025-12-01 17:59 UTC
    config = NotificationsConfig(urls_env=[URL_ENV], events=["daily"], daily_at="18:00")
    statuses = []      # what the manager reports; changed below as the bot trades

    def status(equity: float, trades: int) -> BotStatus:
        return BotStatus(id="btc-sma", state="running", enabled=True, mode="paper", symbol="BTC/USDT",
                         timeframe="1m", strategy="sma_cross", equity=equity, pnl=equity - 1000,
                         realized_pnl=0.0, unrealized_pnl=0.0, cash=equity, position=0.0, fees=0.0, bars=10,
                         last_candle_time=None, orders=0, fills=0, trades=trades, errors=0, restarts=0,
                         kill_switch=False, kill_reason="", last_error="",
                         latency=LatencySummary(buckets=[], sum_s=0.0, count=0))
    statuses.append(status(1010.0, 4))
    async with open_notifications(config, {URL_ENV: receiver.url()}, statuses=lambda: list(statuses),
                                  mode_of=lambda _: "paper", clock=clock, host="box",
                                  daily_poll_secs=0.01):
        await asyncio.sleep(0.1)
        assert receiver.received == []                        # 17:59: not yet
        clock.advance_to(clock.now_ms() + 60_000)             # 18:00
        await eventually(lambda: len(receiver.received) == 1, "the first summary")
        statuses[0] = status(1025.5, 7)
        clock.advance_to(clock.now_ms() + 86_400_000)         # a day later
        await eventually(lambda: len(receiver.received) == 2, "the second summary")
    first, second = receiver.received
    assert first["title"] == "botrunner daily summary on box, 2025-12-01T18:00:00Z"
    assert "btc-sma: equity 1,010.00, PnL +10.00, 4 trades" in first["message"]
    assert "btc-sma: equity 1,025.50, PnL +25.50 (day +15.50, 3 trades), 7 trades" in second["message"]


def test_notifications_configured_without_their_variable_stop_the_start_naming_file_and_field(tmp_path, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    config_dir = write_daemon(tmp_path, f"{{urls_env: [{URL_ENV}]}}", {"a": bot_file("a", seed=1, speed=60)})
    with pytest.raises(ConfigError) as error:
        plan_daemon(config_dir, tmp_path / "state")
    assert error.value.problems == [
        f"{config_dir / 'daemon.yaml'}: notifications.urls_env: set the environment variable {URL_ENV} to an "
        "apprise URL (e.g. tgram://TOKEN/CHAT_ID, json://host/path); it is unset or empty"]


def test_a_variable_holding_no_url_is_named_and_its_value_is_not_shown(tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, f"not-a-url-{PATH_TOKEN}")
    config_dir = write_daemon(tmp_path, f"{{urls_env: [{URL_ENV}]}}", {"a": bot_file("a", seed=1, speed=60)})
    with pytest.raises(ConfigError) as error:
        plan_daemon(config_dir, tmp_path / "state")
    (problem,) = error.value.problems
    assert problem.startswith(f"{config_dir / 'daemon.yaml'}: notifications.urls_env: {URL_ENV} holds no URL apprise can read")
    assert PATH_TOKEN not in problem


async def test_a_live_bots_fill_on_the_exchange_stand_in_is_sent_by_default(receiver, root, monkeypatch):
    from tests.wall_clock_standin import wall_clock_standin

    async with wall_clock_standin(120) as standin:            # two minutes of 1s candles, trading every few
        monkeypatch.setenv("BR_NOTIFY_KEY", standin.api_key)
        monkeypatch.setenv("BR_NOTIFY_SECRET", standin.secret)
        monkeypatch.setenv(URL_ENV, receiver.url())
        # `fill` with the default fill_modes: live fills only.
        config_dir = write_daemon(root, f"{{urls_env: [{URL_ENV}], events: [fill]}}",
                                  {"btc-live": exchange_bot_file("btc-live", "live", standin.base_url, exchange_extra={
                                      "api_key_env": "BR_NOTIFY_KEY", "secret_env": "BR_NOTIFY_SECRET"})})
        plan = plan_daemon(config_dir, root / "state", live_flag=True, environ={"I_UNDERSTAND_LIVE_TRADING": "true",
                                                                              URL_ENV: receiver.url()})
        stop = asyncio.Event()
        daemon = asyncio.create_task(run_daemon(plan, stop=stop))
        try:
            await eventually(lambda: receiver.received, "a live fill", timeout=45)
        finally:
            stop.set()
            await asyncio.wait_for(daemon, 30)
    fill = receiver.received[0]
    notified_price = float(fill["title"].rsplit("@ ", 1)[1])
    ours = [t for t in standin.trades if float(t.price) == pytest.approx(notified_price)]
    assert fill["title"].startswith("btc-live: buy ") and fill["message"].startswith("live bot btc-live filled buy")
    assert ours, "the notified price is one the exchange filled at"
