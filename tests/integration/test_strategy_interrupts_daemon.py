"""A strategy of an installed package that raises SystemExit or KeyboardInterrupt on some candle
fails its own bot in the daemon; the other bot runs to its end and the daemon exits as usual."""

from __future__ import annotations

import pytest

from tests.daemon_process import bot_yaml_on_synthetic as bot, botrunner, write_config_folder

MODULE = """
from strategies.base import Strategy, StrategyParams
from strategies.signal import GO_FLAT, GO_LONG


class Params(StrategyParams):
    kind: str = "exit"


class Interrupts(Strategy):
    name = "interrupts"
    Params = Params

    def __init__(self, params):
        super().__init__(params)
        self.seen = 0

    def generate_signal(self, market_data):
        self.seen += 1
        if self.seen == 50:
            raise SystemExit(3) if self.params.kind == "exit" else KeyboardInterrupt()
        return GO_LONG if self.seen % 7 == 0 else GO_FLAT if self.seen % 11 == 0 else None
"""


@pytest.mark.parametrize("kind", ["exit", "interrupt"])
def test_a_strategy_that_exits_or_interrupts_fails_its_bot_only(tmp_path, monkeypatch, site, kind):
    # Before: SystemExit(3) and KeyboardInterrupt went through the bot's task and ended the event
    # loop: the daemon exited 3 or 130 at once, without a line of log, a summary or the other bot.
    site.install("interrupting", MODULE, {"botrunner.strategies": {"interrupts": "MODULE:Interrupts"}})
    monkeypatch.setenv("PYTHONPATH", str(site.root))
    config = write_config_folder(tmp_path / "cfg", "supervisor: {max_restarts: 1, backoff_initial_secs: 0.1}\n", {
        "healthy": bot("healthy", "{name: sma_cross, params: {fast: 5, slow: 20}}"),
        "broken": bot("broken", f"{{name: interrupts, params: {{kind: {kind}}}}}")})

    result = botrunner("run", str(config), "--state-dir", str(tmp_path / "state"), timeout=120)

    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows == {"broken": "failed", "healthy": "finished"}
    said = "SystemExit: 3" if kind == "exit" else "KeyboardInterrupt"
    assert "crashed 2 times within 300s; last: " in result.stdout and said in result.stdout
