"""`LoopWatchdog` on the test's own event loop: a task holding the loop (a blocking call) is named
with its code, again while it lasts, and once more when the loop turns; an idle loop is not."""

from __future__ import annotations

import asyncio
import time

from runner.daemon.loop_watchdog import LoopWatchdog


def hold_the_loop(secs: float) -> None:
    time.sleep(secs)          # a blocking call: the loop thread sits here, no await


async def blocking_bot(secs: float) -> None:
    hold_the_loop(secs)


def said(log_records, level: str, text: str) -> list[dict]:
    return [r for r in log_records if r["level"].name == level and text in r["message"]]


async def test_a_task_holding_the_loop_is_named_with_its_line_again_while_it_lasts_and_when_it_ends(log_records):
    watchdog = LoopWatchdog(asyncio.get_running_loop(), blocked_secs=0.2, repeat_secs=0.5)
    watchdog.start()
    try:
        await asyncio.create_task(blocking_bot(2.0), name="bot:stuck")
        await asyncio.sleep(0.3)         # the thread's next look sees the loop turning
    finally:
        watchdog.stop()

    errors = said(log_records, "ERROR", "Event loop blocked for ")
    assert len(errors) >= 2              # the first after 0.2 s, then every 0.5 s while held
    for error in errors:
        assert error["extra"]["bot"] == "stuck"
        assert f"by task bot:stuck at {__file__}:" in error["message"] and " in hold_the_loop:" in error["message"]
    [ended] = said(log_records, "WARNING", "Event loop turning again, after ")
    assert ended["extra"]["bot"] == "stuck" and "held by bot:stuck" in ended["message"]


async def test_an_idle_loop_waiting_for_its_next_candle_is_not_reported(log_records):
    watchdog = LoopWatchdog(asyncio.get_running_loop(), blocked_secs=1.0)
    watchdog.start()
    try:
        await asyncio.sleep(2.5)         # waiting is not blocking: the loop's timer ticks meanwhile
    finally:
        watchdog.stop()

    assert not said(log_records, "ERROR", "Event loop") and not said(log_records, "WARNING", "Event loop")
