"""When a backtest's progress bar shows, and what feeds it: a timer, not the candle loop."""

from __future__ import annotations

import pytest

from runner.backtest.progress import LongRunProgress
from runner.backtest.run import run_backtest
from runner.config.bot import BotConfig


class RecordingBar:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def show(self) -> None:
        self.events.append(("show",))

    def update(self, done: float, total: float, detail: str = "") -> None:
        self.events.append(("update", done, total, detail))


def test_a_run_expected_to_end_within_two_seconds_shows_no_bar():
    bar = RecordingBar()
    progress = LongRunProgress(bar, unit="candles")

    for done, elapsed_s in [(10_000, 0.25), (60_000, 0.5), (130_000, 0.75), (190_000, 1.0)]:
        progress(done, 200_000, elapsed_s)          # 1.05 s expected in all

    assert bar.events == [] and not progress.showing


def test_a_run_expected_to_last_longer_shows_the_bar_once_the_pace_has_settled():
    bar = RecordingBar()
    progress = LongRunProgress(bar, unit="candles")

    progress(1_000, 200_000, 0.25)                  # 50 s expected, but too early to tell
    assert bar.events == []
    progress(20_000, 200_000, 0.5)                  # 5 s expected
    progress(40_000, 200_000, 0.75)

    assert bar.events == [("update", 20_000, 200_000, "20,000/200,000 candles"), ("show",),
                          ("update", 40_000, 200_000, "40,000/200,000 candles")]


def test_a_run_that_has_taken_two_seconds_shows_the_bar_whatever_the_estimate():
    bar = RecordingBar()
    progress = LongRunProgress(bar, unit="candles")

    progress(0, 100, 1.0)                           # nothing done yet: no estimate, still too early
    progress(99, 100, 2.0)

    assert ("show",) in bar.events and progress.showing


@pytest.fixture
def bot() -> BotConfig:
    return BotConfig.model_validate({
        "id": "progress-bot", "symbol": "BTC/USD", "timeframe": "1m", "capital": 1000,
        "market": {"source": "synthetic", "seed": 1, "bars": 20_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}})


async def test_the_timer_reports_candles_done_of_all_between_batches(bot):
    calls: list[tuple[int, int, float]] = []

    result = await run_backtest(bot, progress=lambda *call: calls.append(call), progress_every_secs=0)

    assert result.bars == 20_000 and calls
    assert all(total == 20_000 and 0 <= done <= 20_000 for done, total, _ in calls)
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)
    assert any(0 < done < 20_000 for done, _, _ in calls)          # reported during the run, not only after


async def test_a_failing_progress_callback_is_not_swallowed(bot):
    def broken(done: int, total: int, elapsed_s: float) -> None:
        raise RuntimeError("bar broke")

    with pytest.raises(RuntimeError, match="bar broke"):
        await run_backtest(bot, progress=broken, progress_every_secs=0)
