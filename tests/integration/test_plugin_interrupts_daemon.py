"""A plugin of an installed package whose hook raises KeyboardInterrupt, in a real daemon process:
the plugin is disabled, as for any fault of its own, and its bot runs to its end."""

from __future__ import annotations

from tests.daemon_process import botrunner, write_config_folder

MODULE = """
from runner.plugins.base import Plugin


class Interrupts(Plugin):
    name = "interrupts"

    def __init__(self, params):
        super().__init__(params)
        self.seen = 0

    def after_loop(self, bot_id, view):
        self.seen += 1
        if self.seen == 50:
            raise KeyboardInterrupt
"""

BOT = ("id: watched\nsymbol: BTC/USDT\ncapital: 1000\nmarket: {source: synthetic, seed: 5, bars: 400}\n"
       "strategy: {name: sma_cross, params: {fast: 5, slow: 20}}\nplugins: [{name: interrupts}]\n")


def test_a_plugin_hook_raising_keyboard_interrupt_is_disabled_and_its_bot_finishes(tmp_path, monkeypatch, site):
    # Before: the KeyboardInterrupt went through the bot's loop, a crash of the bot: restarted,
    # then failed ('crashed 2 times within 300s; last: KeyboardInterrupt').
    site.install("interrupting_plugin", MODULE, {"botrunner.plugins": {"interrupts": "MODULE:Interrupts"}})
    monkeypatch.setenv("PYTHONPATH", str(site.root))
    config = write_config_folder(tmp_path / "cfg", "supervisor: {max_restarts: 1, backoff_initial_secs: 0.1}\n",
                                 {"watched": BOT})

    result = botrunner("run", str(config), "--state-dir", str(tmp_path / "state"), timeout=120)

    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows == {"watched": "finished"}
    assert "plugin 'interrupts' raised in after_loop (KeyboardInterrupt: ); disabled for this bot" in result.stderr
