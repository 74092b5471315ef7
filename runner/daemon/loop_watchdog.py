"""`LoopWatchdog`: a thread that tells the operator when the event loop has stopped turning.

Every bot runs on one event loop. A strategy that loops forever, or calls something that blocks
(a `time.sleep`, a synchronous HTTP request), holds the loop: no other bot steps, no order is
sent, the control socket does not answer. asyncio cannot preempt it; the operator must be told
which bot and where. The loop ticks a timestamp every `tick_secs` (a timer, not a per-candle
cost); a daemon thread checks it, and when the loop has not ticked for `blocked_secs` it logs ONE
error naming the task holding the loop (`bot:<id>`) and the code it is in (the strategy's or the
plugin's `file:line` the runner called into, see `blocking_code`), then again every
`repeat_secs` while it stays blocked, and a warning when the loop turns again.

The loop thread's task and frame are read from the watchdog thread: `asyncio.current_task(loop)`
is a dict lookup and `sys._current_frames()` a snapshot, both safe from another thread.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from types import FrameType

from loguru import logger

__all__ = ["LoopWatchdog", "blocking_code"]

# The runner's own code calls the strategies and the plugins: the first frame outside it, counted
# from the loop's end, is the code a bot runs (the place to fix), wherever it is installed.
_RUNNER_DIR = os.path.dirname(os.path.dirname(__file__)) + os.sep     # as co_filename spells it


class LoopWatchdog:
    """Started with `start()` from the loop's thread, stopped with `stop()`; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, blocked_secs: float = 10.0,
                 repeat_secs: float = 60.0) -> None:
        self._loop = loop
        self._blocked_secs = blocked_secs
        self._repeat_secs = repeat_secs
        self._tick_secs = min(1.0, blocked_secs / 4)
        self._last_tick = time.monotonic()
        self._loop_thread_id = threading.get_ident()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._timer: asyncio.TimerHandle | None = None
        # The stall being reported (the thread's own: `stop` reads them after the thread ended).
        self._stalled_tick: float | None = None     # the last tick before it
        self._reported_at = 0.0
        self._held_by = ""                          # the task that held the loop, by name

    def start(self) -> None:
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        self._thread.join()
        self._tick()                # the loop turns: a stall reported and not yet seen ending is over
        self._timer.cancel()
        self._check()

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._timer = self._loop.call_later(self._tick_secs, self._tick)

    def _watch(self) -> None:
        while not self._stopped.wait(self._tick_secs):
            self._check()

    def _check(self) -> None:
        last_tick = self._last_tick
        blocked_for = time.monotonic() - last_tick
        if blocked_for < self._blocked_secs:
            if self._stalled_tick is not None:
                logger.bind(bot=_bot_of(self._held_by)).warning(
                    "Event loop turning again, after {:.0f}s held by {}", last_tick - self._stalled_tick,
                    self._held_by or "?")
                self._stalled_tick = None
            return
        if self._stalled_tick == last_tick and time.monotonic() - self._reported_at < self._repeat_secs:
            return
        self._stalled_tick, self._reported_at = last_tick, time.monotonic()
        task = asyncio.current_task(self._loop)
        self._held_by = task.get_name() if task is not None else ""
        where = blocking_code(sys._current_frames().get(self._loop_thread_id))
        logger.bind(bot=_bot_of(self._held_by)).error(
            "Event loop blocked for {:.0f}s by {} at {}: every bot waits until it returns (a loop that "
            "never ends, or a blocking call: asyncio cannot interrupt it)",
            blocked_for, f"task {self._held_by}" if self._held_by else "code outside any task", where)


def _bot_of(task_name: str) -> str:
    return task_name.removeprefix("bot:") if task_name.startswith("bot:") else "-"


def blocking_code(frame: FrameType | None) -> str:
    """Where the loop thread is: the innermost frame that the runner called into (a strategy's
    `generate_signal`, a plugin's hook: `file:line in function`), followed by the innermost frame
    when that is deeper (a helper it called); the innermost alone when the runner called nothing
    (its own code blocks); '?' without a frame."""
    if frame is None:
        return "?"
    innermost, entered = frame, None
    while frame is not None and entered is None:
        caller = frame.f_back
        if caller is not None and _in_runner(caller) and not _in_runner(frame):
            entered = frame
        frame = caller
    if entered is None or entered is innermost:
        return _place(innermost)
    return f"{_place(entered)} (now at {_place(innermost)})"


def _in_runner(frame: FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_RUNNER_DIR)


def _place(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
