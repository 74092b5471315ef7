"""runner.notify without a network: the sender's queue and retries on a recording target, the
journal's listeners, the daily schedule, the config's messages, and apprise kept optional."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from runner.config.bot import ConfigError
from runner.config.daemon import load_config_dir
from runner.notify.apprise_target import url_problems
from runner.notify.daily import next_due_ms
from runner.notify.events import Notice, kill
from runner.notify.sender import NotificationFailed, NotificationSender
from runner.state.journal import JournalEvent, SqliteJournal

PROJECT = Path(__file__).resolve().parents[3]
NOTICE = Notice("kill", "btc: kill switch tripped", "by hand", "failure")


class RecordingTarget:
    """Records what it is sent; fails the first `failures` attempts; waits on `gate` if given."""

    name = "TEST_URL"

    def __init__(self, failures: int = 0, gate: asyncio.Event | None = None) -> None:
        self.failures = failures
        self.gate = gate
        self.attempts = 0
        self.delivered: list[Notice] = []

    async def send(self, notice: Notice) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise NotificationFailed("refused")
        self.delivered.append(notice)


async def eventually(condition) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def test_offer_never_waits_and_a_full_queue_drops_and_counts():
    target = RecordingTarget(gate=asyncio.Event())
    sender = NotificationSender(target, queue_size=2, retries=0)
    sender.start()
    assert sender.offer(NOTICE)
    await eventually(lambda: target.attempts == 1)          # the first one is being sent, and hangs
    accepted = [sender.offer(Notice("fill", f"fill {i}", "")) for i in range(5)]
    assert accepted == [True, True, False, False, False]
    assert (sender.stats().dropped, sender.stats().queued) == (3, 2)
    target.gate.set()
    await sender.aclose(drain_secs=5)
    assert [n.title for n in target.delivered] == ["btc: kill switch tripped", "fill 0", "fill 1"]
    assert sender.stats().sent == 3


async def test_a_failed_send_is_retried_with_backoff_and_given_up_after_the_last_retry(log_records):
    target = RecordingTarget(failures=5)
    sender = NotificationSender(target, retries=2, backoff_initial_secs=0.001)
    sender.start()
    sender.offer(NOTICE)
    await eventually(lambda: sender.stats().failed == 1)
    await sender.aclose()
    assert target.attempts == 3 and target.delivered == []
    assert (sender.stats().retries, sender.stats().sent) == (2, 0)
    error = next(r for r in log_records if r["level"].name == "ERROR")
    assert "to $TEST_URL not delivered after 3 attempt(s): refused" in error["message"]


async def test_an_attempt_that_does_not_answer_times_out_and_the_next_notice_goes_out():
    gate = asyncio.Event()
    target = RecordingTarget(gate=gate)
    sender = NotificationSender(target, retries=0, send_timeout_secs=0.05)
    sender.start()
    sender.offer(NOTICE)
    sender.offer(Notice("daemon", "stopped", ""))
    await eventually(lambda: sender.stats().failed == 1)
    gate.set()
    await sender.aclose()
    assert [n.title for n in target.delivered] == ["stopped"]


async def test_what_is_not_delivered_within_the_drain_time_at_shutdown_is_counted_as_dropped():
    sender = NotificationSender(RecordingTarget(gate=asyncio.Event()), queue_size=10)
    sender.start()
    for i in range(4):
        sender.offer(Notice("fill", f"fill {i}", ""))
    await sender.aclose(drain_secs=0.05)
    assert (sender.stats().dropped, sender.stats().queued) == (4, 0)     # the one being sent, and three queued


def test_the_journal_tells_its_listeners_each_new_event_once_and_a_failing_listener_stays_inside(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    heard: list[str] = []

    def broken(event: JournalEvent) -> None:
        raise RuntimeError("a bug in a listener")

    journal.subscribe(broken)
    journal.subscribe(lambda event: heard.append(f"{event.kind}:{event.key}"))
    kill = JournalEvent("btc", "kill", 1, {"reason": "by hand", "source": "manual", "bars": 5}, key="5")
    journal.record(kill)
    journal.record(kill)                        # a re-run after a crash writes it again
    journal.record(JournalEvent("btc", "fill", 2, {"price": 1.0}, key="f-1"))
    journal.close()
    assert heard == ["kill:5", "fill:f-1"]


@pytest.mark.parametrize(("source", "how"), [("manual", "tripped by hand: "), ("rule", "tripped by a rule: "),
                                           ("basket", "tripped with its basket (the one latch of its legs): ")])
def test_a_kill_notice_says_who_tripped_it_a_basket_legs_own_or_its_baskets(source, how):
    notice = kill(JournalEvent("b.eth-usdt", "kill", 1, {"reason": "drawdown 2.5%", "source": source, "bars": 5}))
    assert f"The kill switch of b.eth-usdt {how}drawdown 2.5%." in notice.body


@pytest.mark.parametrize(("now", "at_minutes", "zone", "due"), [
    ("2026-12-01T17:59:00+00:00", 18 * 60, "UTC", "2026-12-01T18:00:00+00:00"),
    ("2026-12-01T18:00:00+00:00", 18 * 60, "UTC", "2026-12-02T18:00:00+00:00"),     # at the due time: the next day's
    ("2026-12-01T23:59:59+00:00", 0, "UTC", "2026-12-02T00:00:00+00:00"),
    # New York: 18:00 local is 23:00 UTC before the spring-forward night (2026-03-08), 22:00 after it.
    ("2026-03-07T20:00:00+00:00", 18 * 60, "America/New_York", "2026-03-07T23:00:00+00:00"),
    ("2026-03-07T23:00:00+00:00", 18 * 60, "America/New_York", "2026-03-08T22:00:00+00:00"),
    ("2026-03-09T00:30:00+00:00", 0, "America/New_York", "2026-03-09T04:00:00+00:00"),    # midnight EDT
])
def test_the_next_summary_is_due_at_the_configured_time_in_its_zone(now, at_minutes, zone, due):
    from datetime import datetime

    from market.trading_days import TradingDays

    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp() * 1000)

    assert next_due_ms(ms(now), TradingDays(zone, at_minutes)) == ms(due)


async def test_the_daily_summary_goes_out_at_midnight_in_its_zone_not_utc():
    from market.models import iso_utc
    from runner.bot.clock import ManualClock
    from runner.notify.daily import DailySummary

    june_1 = 1_780_272_000_000                              # 2026-06-01 00:00 UTC: 20:00 EDT on May 31
    clock, sent = ManualClock(now_ms=june_1 - 60_000), []
    summary = DailySummary(lambda: [], sent.append, at_minutes=0, clock=clock, host="box", poll_secs=0.001,
                           time_zone="America/New_York")
    running = asyncio.create_task(summary.run())
    try:
        clock.advance_to(june_1 + 60_000)                   # UTC midnight passes: not New York's
        for _ in range(20):
            await asyncio.sleep(0.002)
        assert sent == []
        clock.advance_to(june_1 + 4 * 3_600_000)            # 00:00 EDT
        async with asyncio.timeout(2):
            while not sent:
                await asyncio.sleep(0.001)
    finally:
        running.cancel()
    assert iso_utc(june_1) == "2026-06-01T00:00:00Z"
    assert [n.title for n in sent] == ["botrunner daily summary on box, 2026-06-01 00:00 America/New_York"]


def test_a_bad_notifications_block_is_reported_with_its_file_and_field(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "a.yaml").write_text(
        "id: a\nsymbol: BTC/USD\ntimeframe: 1m\ncapital: 1000\nmarket: {source: synthetic, seed: 1, bars: 10}\n"
        "strategy: {name: sma_cross}\n")
    (tmp_path / "daemon.yaml").write_text(
        "notifications: {urls_env: [BOTRUNNER_NOTIFY_URL], events: [kill, page], daily_at: '24:00', url: x}\n")
    with pytest.raises(ConfigError) as error:
        load_config_dir(tmp_path)
    daemon_yaml = tmp_path / "daemon.yaml"
    assert error.value.problems == [
        f"{daemon_yaml}: notifications.events[1]: must be one of 'kill', 'failed', 'daemon', 'fill' or 'daily', got 'page'",
        f"{daemon_yaml}: notifications.daily_at: HH:MM from 00:00 to 23:59, in daily_time_zone, got '24:00'",
        f"{daemon_yaml}: notifications.url: unknown field; allowed: backoff_initial_secs, backoff_max_secs, "
        "daily_at, daily_time_zone, drain_secs, events, fill_modes, queue_size, retries, send_timeout_secs, urls_env",
    ]


def test_without_apprise_installed_the_problem_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)          # `import apprise` raises ImportError
    assert url_problems(["BOTRUNNER_NOTIFY_URL"], {"BOTRUNNER_NOTIFY_URL": "json://127.0.0.1/x"}) == [
        "notifications need the apprise package: pip install 'botrunner[notify]' (or pip install apprise)"]


def test_a_daemon_without_notifications_never_imports_apprise():
    code = ("import sys; from runner.daemon.process import plan_daemon, run_daemon; "
            "plan_daemon(None, None); assert 'apprise' not in sys.modules, 'apprise imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_unknown_summary_time_zone_is_reported_with_its_file_field_and_close_names(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "a.yaml").write_text(
        "id: a\nsymbol: BTC/USD\ntimeframe: 1m\ncapital: 1000\nmarket: {source: synthetic, seed: 1, bars: 10}\n"
        "strategy: {name: sma_cross}\n")
    (tmp_path / "daemon.yaml").write_text(
        "notifications: {urls_env: [BOTRUNNER_NOTIFY_URL], daily_time_zone: America/New_Yrok}\n")
    with pytest.raises(ConfigError) as error:
        load_config_dir(tmp_path)
    [problem] = error.value.problems
    assert problem.startswith(f"{tmp_path / 'daemon.yaml'}: notifications.daily_time_zone: unknown time zone "
                              "'America/New_Yrok'; did you mean America/New_York")
