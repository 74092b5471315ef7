"""Progress bars appear on a terminal (a pseudo-terminal here) for a long backtest and for
`download-data`, and never when the output is a pipe or with `--json`."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from execution.standin import BinanceStandIn

PROJECT = Path(__file__).resolve().parents[2]
# About 400,000 hybrid candles: several seconds of backtest on any machine, so a bar is due.
LONG_BOT = """\
id: long-run
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 5, bars: 400000}
strategy: {name: hybrid}
"""
BAR_TEXT = "/400,000 candles"                  # the bar's detail column: "123,456/400,000 candles"


def run_in_pty(*args: str, stdout_to_pipe: bool = False) -> tuple[int, str, str]:
    """Run the command line with stderr (and stdout, unless `stdout_to_pipe`) on a new
    pseudo-terminal; (exit code, what the terminal showed, what the pipe got)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, str(PROJECT / "main.py"), *args], cwd=PROJECT,
                               stdin=terminal, stderr=terminal,
                               stdout=subprocess.PIPE if stdout_to_pipe else terminal,
                               env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(terminal)
    shown = bytearray()
    deadline = time.monotonic() + 240                # a guard against a hang, not a measurement
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65_536)
            except OSError:                           # EIO: every holder of the terminal closed it
                break
            if not chunk:
                break
            shown += chunk
        piped = process.stdout.read().decode() if stdout_to_pipe else ""
        code = process.wait(timeout=30)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
    return code, shown.decode(errors="replace"), piped


@pytest.fixture
def long_bot(tmp_path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(LONG_BOT)
    return path


def test_a_long_backtest_on_a_terminal_shows_a_progress_bar_then_the_report(long_bot):
    code, shown, _ = run_in_pty("backtest", str(long_bot))

    assert code == 0, shown
    assert "backtest long-run" in shown and BAR_TEXT in shown
    assert shown.index(BAR_TEXT) < shown.index("Backtest  long-run")        # the report comes after the bar
    assert "candles               400,000" in shown


def test_no_progress_when_stdout_is_a_pipe_even_with_stderr_on_a_terminal(long_bot):
    code, shown, piped = run_in_pty("backtest", str(long_bot), stdout_to_pipe=True)

    assert code == 0, shown
    assert shown == ""                                 # nothing at all on the terminal
    assert piped.startswith("Backtest  long-run") and "\x1b" not in piped


def test_no_progress_with_json_on_a_terminal(long_bot):
    code, shown, _ = run_in_pty("backtest", str(long_bot), "--json")

    assert code == 0, shown
    assert json.loads(shown)["bars"] == 400_000 and "\x1b" not in shown


async def test_download_data_on_a_terminal_shows_a_progress_bar(tmp_path):
    step_ms, start_ms = 60_000, 1_704_067_200_000
    rows = [(start_ms + i * step_ms, 100.0, 101.0, 99.0, 100.5, 1.0) for i in range(3_000)]
    out = tmp_path / "btc.csv"
    async with BinanceStandIn(rows, start_ms=start_ms + 2_990 * step_ms + 1_000) as standin:
        code, shown, _ = await asyncio.to_thread(
            run_in_pty, "download-data", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1m",
            "--since", "2024-01-01", "--out", str(out), "--base-url", standin.base_url)

    assert code == 0, shown
    assert "BTC/USDT 1m" in shown and "candles" in shown and "100%" in shown
    assert f"{out}: wrote 2990 candles" in shown.replace("\r\n", "").replace("\n", "")
