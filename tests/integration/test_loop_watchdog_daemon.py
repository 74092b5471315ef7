"""A strategy that holds the event loop (here: busy for a few seconds on one candle) stops every
bot with it; asyncio cannot interrupt it, so the daemon's watchdog thread tells the operator:
one ERROR naming the bot and the strategy's line, and a warning once the loop turns again."""

from __future__ import annotations

from tests.daemon_process import bot_yaml_on_synthetic as bot, botrunner, write_config_folder

MODULE = """
import time

from strategies.base import Strategy
from strategies.signal import GO_FLAT, GO_LONG


class Busy(Strategy):
    name = "busy"

    def __init__(self, params):
        super().__init__(params)
        self.seen = 0

    def generate_signal(self, market_data):
        self.seen += 1
        if self.seen == 50:
            until = time.monotonic() + 3.0
            while time.monotonic() < until:   # BUSY LINE
                pass
        return GO_LONG if self.seen % 7 == 0 else GO_FLAT if self.seen % 11 == 0 else None
"""


def test_a_strategy_holding_the_event_loop_is_named_once_with_its_line(tmp_path, monkeypatch, site):
    # Before: nothing was said; every bot stood still for 3 s and the log showed no reason.
    module = site.install("busy_strategy", MODULE, {"botrunner.strategies": {"busy": "MODULE:Busy"}})
    monkeypatch.setenv("PYTHONPATH", str(site.root))
    config = write_config_folder(tmp_path / "cfg", "loop_blocked_secs: 1\n", {
        "healthy": bot("healthy", "{name: sma_cross, params: {fast: 5, slow: 20}}"),
        "stuck": bot("stuck", "{name: busy}")})

    result = botrunner("run", str(config), "--state-dir", str(tmp_path / "state"), timeout=120)

    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    blocked = [line for line in result.stderr.splitlines() if "Event loop blocked" in line]
    busy_line = MODULE.splitlines().index(next(li for li in MODULE.splitlines() if "BUSY LINE" in li)) + 1
    assert len(blocked) == 1, result.stderr[-3000:]
    assert "[stuck]" in blocked[0] and "by task bot:stuck at " in blocked[0]
    assert f"{site.root / module}.py:" in blocked[0] and "in generate_signal" in blocked[0]
    assert any(f"{module}.py:{n} " in blocked[0] for n in (busy_line, busy_line + 1)), blocked[0]
    assert len([line for line in result.stderr.splitlines() if "Event loop turning again" in line]) == 1
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows == {"healthy": "finished", "stuck": "finished"}
