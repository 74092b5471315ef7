"""A bot's `plugins:` from installed packages (`botrunner.plugins` entry points, installed on the
spot), and what a wrong entry says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

import runner.plugins.registry as registry
from market.synthetic import generate_candles
from runner.assembly.compose import _drift_backtest, sim_runner
from runner.config.bot import load_bot_config
from runner.plugins.base import Plugin
from runner.plugins.registry import ENTRY_POINT_GROUP
from strategies.entry_points import EntryPointGroup
from tests.unit.runner.config_files import problems_of

GUARD = """
from typing import Annotated

from pydantic import Field

from runner.plugins import Plugin, PluginParams

made = []


class GuardParams(PluginParams):
    limit: Annotated[float, Field(gt=0, le=100)] = 3.0


class Guard(Plugin):
    name = "guard"
    Params = GuardParams

    def __init__(self, params):
        super().__init__(params)
        made.append(self)

    def before_signal(self, bot_id, view, signal):
        return None
"""


@pytest.fixture(autouse=True)
def fresh_group(monkeypatch):
    # The registry reads the installed packages once per process: a fresh group sees the test's.
    monkeypatch.setattr(registry, "INSTALLED", EntryPointGroup(ENTRY_POINT_GROUP, Plugin, "plugin"))


def write_bot(tmp_path: Path, plugins, **extra) -> Path:
    path = tmp_path / "guarded.yaml"
    path.write_text(yaml.safe_dump({"id": "guarded", "symbol": "BTC/USD", "capital": 1000,
                                    "strategy": {"name": "sma_cross"}, "plugins": plugins} | extra))
    return path


def test_a_plugin_a_package_offers_is_built_for_the_bot_from_its_checked_params(site, tmp_path):
    module = site.install("guard-pkg", GUARD, {ENTRY_POINT_GROUP: {"guard": "MODULE:Guard"}})

    config = load_bot_config(write_bot(tmp_path, [{"name": "guard", "params": {"limit": 5}}]))
    first, second = (sim_runner(config, []) for _ in range(2))

    [guard] = first.plugins.plugins
    assert type(guard).__module__ == module and guard.params.limit == 5
    assert second.plugins.plugins[0] is not guard               # each bot its own instance
    assert [len(t) for t in first.plugins.hooks.values()] == [0, 1, 0, 0, 0, 0]
    assert module in sys.modules


def test_the_governance_drift_backtest_runs_the_bot_without_its_plugins(site, tmp_path):
    module = site.install("guard-pkg", GUARD, {ENTRY_POINT_GROUP: {"guard": "MODULE:Guard"}})
    config = load_bot_config(write_bot(tmp_path, [{"name": "guard"}], governance={"enabled": True}))
    runner = sim_runner(config, [])
    made = sys.modules[module].made
    assert made == [runner.plugins.plugins[0]]

    _drift_backtest(config)(generate_candles(seed=3, count=300), 0)    # as the drift check runs it

    assert len(made) == 1                   # a logging plugin must not see the backtest's fills


def test_wrong_plugin_entries_are_reported_with_the_file_the_entry_and_what_is_allowed(site, tmp_path):
    site.install("guard-pkg", GUARD, {ENTRY_POINT_GROUP: {"guard": "MODULE:Guard"}})
    site.install("bad-pkg", "import no_such_module_here", {ENTRY_POINT_GROUP: {"broken": "MODULE:Broken"}})
    path = write_bot(tmp_path, [{"name": "guard", "params": {"limit": 0, "colour": "red"}}, {"name": "nope"},
                                {"name": "guard"}, {"name": "broken"}, {"params": {}}])

    problems = problems_of(path)

    assert problems[0] == f"{path}: plugins[4].name: required field is missing"
    assert problems[1:4] == [
        f"{path}: plugins[0].params.limit: must be > 0 and <= 100, got 0",
        f"{path}: plugins[0].params.colour: unknown field; allowed: limit",
        f"{path}: plugins[1].name: unknown plugin 'nope'; installed: broken, guard",
    ]
    assert problems[4] == f"{path}: plugins[2].name: 'guard' is listed twice; a bot runs each plugin once"
    assert problems[5].startswith(f"{path}: plugins[3].name: entry point 'broken' of package bad-pkg "
                                  "(botrunner.plugins): cannot load fake_bad_pkg_")
    assert problems[5].endswith("(ModuleNotFoundError: No module named 'no_such_module_here')")
    assert len(problems) == 6


def test_with_no_plugin_installed_an_unknown_one_says_where_plugins_come_from(tmp_path):
    assert problems_of(write_bot(tmp_path, [{"name": "guard"}])) == [
        f"{tmp_path / 'guarded.yaml'}: plugins[0].name: unknown plugin 'guard'; installed: none (a plugin is a "
        "package's botrunner.plugins entry point)"]
