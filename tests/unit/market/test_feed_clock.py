"""`FeedClock` and `StaleWatch` on their own: closing cuts every wait short, a deadline on the
feed's clock cancels what it waits for, and a failing stale hook never reaches the feed. (The
feeds' behaviour with them: test_ccxt_feed.py and test_trade_feed.py.)"""

from __future__ import annotations

import asyncio

from market.feed_clock import FeedClock, StaleWatch
from tests.fakes import eventually


class HeldClock:
    """A clock that stands still: its sleeps never end, unless `jumps`, when a sleep moves it on."""

    def __init__(self, *, jumps: bool = False) -> None:
        self.now, self.jumps, self.sleepers = 1_000_000, jumps, 0

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.jumps:
            self.now += round(seconds * 1000)
            return
        self.sleepers += 1
        await asyncio.Event().wait()


async def test_close_ends_a_sleep_in_progress_and_refuses_every_later_wait():
    clock = HeldClock()
    time = FeedClock(clock)
    sleeping = asyncio.create_task(time.sleep_until(clock.now + 60_000))
    await eventually(lambda: clock.sleepers == 1)

    time.close()

    assert await asyncio.wait_for(sleeping, timeout=1) is False
    assert time.closed and await time.sleep(1) is False and await time.sleep_until(clock.now + 1) is False


async def test_a_wait_that_reaches_its_deadline_on_the_clock_first_cancels_the_awaitable():
    time = FeedClock(HeldClock(jumps=True))
    never = asyncio.get_running_loop().create_future()

    assert await time.unless_closed(never, until_ms=time.now_ms() + 5_000) is None
    assert never.cancelled()


async def test_a_finished_awaitable_is_handed_back_with_its_result():
    time = FeedClock(HeldClock())

    async def answer() -> int:
        return 42

    done = await time.unless_closed(answer(), until_ms=time.now_ms() + 5_000)

    assert done is not None and done.result() == 42


def test_stale_is_overdue_once_and_a_failing_hook_is_logged_not_raised(log_records):
    heard: list[bool] = []

    def hook(stale: bool) -> None:
        heard.append(stale)
        raise RuntimeError("the hook's own bug")

    watch = StaleWatch("binance BTC/USDT 1m", 180_000, hook)

    assert not watch.overdue(1_179_999, 1_000_000) and not watch.overdue(9_999_999, None)
    assert watch.overdue(1_180_000, 1_000_000)
    watch.turn(True)
    assert watch.stale and not watch.overdue(2_000_000, 1_000_000)     # told once
    watch.turn(False)

    assert heard == [True, False] and not watch.stale
    failures = [r["message"] for r in log_records if r["level"].name == "ERROR"]
    assert failures == ["binance BTC/USDT 1m: the on_stale hook failed"] * 2
