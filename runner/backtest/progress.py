"""Progress bars for a person at a terminal: long backtests and `download-data`.

The bar is rich's (`rich.progress`, which typer already brings in): it redraws in place, shows
the rate and the time left, and moves lines printed meanwhile above itself; a hand-written
`\\r` bar did none of that well. A bar is only drawn where someone watches: `wants_progress()`
is false for `--json` and when stdout or stderr is a file or a pipe, so scripts, logs and CI
never see escape codes.

A backtest reports its progress by a timer (`run_backtest(progress=...)`), never per candle:
the hot loop pays nothing. `LongRunProgress` then shows the bar only for a run that will take
more than about two seconds; a shorter one ends before a bar would be worth drawing.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from rich.console import Console

# (done, total, seconds since the run started)
RunProgress = Callable[[int, int, float], None]


def wants_progress(*, as_json: bool = False) -> bool:
    """True when a person is watching: no `--json`, and stdout and stderr both terminals."""
    return not as_json and sys.stdout.isatty() and sys.stderr.isatty()


class Bar(Protocol):
    def show(self) -> None: ...
    def update(self, done: float, total: float, detail: str = "") -> None: ...


class TerminalBar:
    """One rich progress bar on stderr, erased when closed (the result printed after it stays
    tidy). Use as a context manager; nothing is drawn before `show()`.

    `on_show` and `on_close` run just after the bar appears and just after it is gone: while it
    shows, rich routes writes to `sys.stderr` above the bar, and a logger holding the original
    stream must be pointed at it again (`main.py` passes its `setup_logging`).
    """

    def __init__(self, description: str, *, on_show: Callable[[], None] | None = None,
                 on_close: Callable[[], None] | None = None, console: Console | None = None) -> None:
        # rich is imported here, where a bar is drawn: `--json` and piped runs never pay its import.
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                  TextColumn("{task.fields[detail]}"), TimeRemainingColumn(),
                                  console=console or Console(stderr=True), transient=True,
                                  auto_refresh=False, redirect_stderr=True)
        self._task = self._progress.add_task(description, total=None, detail="")
        self._on_show, self._on_close = on_show, on_close
        self._showing = False

    def show(self) -> None:
        if not self._showing:
            self._progress.start()
            self._showing = True
            if self._on_show:
                self._on_show()

    def update(self, done: float, total: float, detail: str = "") -> None:
        self._progress.update(self._task, completed=done, total=total, detail=detail)
        if self._showing:
            self._progress.refresh()      # auto_refresh is off: no drawing thread, a redraw per report

    def close(self) -> None:
        if self._showing:
            self._progress.stop()
            self._showing = False
            if self._on_close:
                self._on_close()

    def __enter__(self) -> TerminalBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LongRunProgress:
    """A `RunProgress` that shows `bar` once the run is expected to last at least `min_secs`:
    elapsed time scaled to the whole run, from `settle_secs` on (earlier, the pace still
    includes the start-up), or as soon as `min_secs` have passed whatever the estimate.

        with TerminalBar("backtest") as bar:
            await run_backtest(config, progress=LongRunProgress(bar, unit="candles"))
    """

    def __init__(self, bar: Bar, *, unit: str, min_secs: float = 2.0, settle_secs: float = 0.5) -> None:
        self._bar = bar
        self._unit = unit
        self._min_secs = min_secs
        self._settle_secs = settle_secs
        self.showing = False

    def __call__(self, done: int, total: int, elapsed_s: float) -> None:
        if not self.showing:
            expected_s = elapsed_s * total / done if done > 0 else math.inf
            if elapsed_s < self._settle_secs or (expected_s < self._min_secs and elapsed_s < self._min_secs):
                return
        self._bar.update(done, total, f"{done:,}/{total:,} {self._unit}")
        if not self.showing:
            self._bar.show()              # after the update: its first frame has the figures
            self.showing = True
