"""Every config in configs/bots/ works on a fresh clone: no `../shared/data`, nothing downloaded."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from market.models import timeframe_ms
from runner.config.basket import load_bot_or_basket
from tests.daemon_process import botrunner

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((PROJECT / "configs" / "bots").glob("*.yaml"))
CANDLES = 300


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """A folder holding only the shipped configs, as a clone has them, with no `shared/` beside
    it (so a config reading `../shared/data` fails here, whether or not this machine has it)."""
    root = tmp_path_factory.mktemp("clone") / "botrunner"
    shutil.copytree(PROJECT / "configs", root / "configs")
    assert not (root.parent / "shared").exists()
    return root


def test_every_shipped_config_validates_in_a_fresh_clone(fresh_clone):
    result = botrunner("validate", "configs/bots", cwd=fresh_clone)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok  ") == len(SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_backtests_in_a_fresh_clone(fresh_clone, path):
    config = load_bot_or_basket(fresh_clone / "configs" / "bots" / path.name)     # a bot or a basket
    start = config.market.start
    to = start + timedelta(milliseconds=CANDLES * timeframe_ms(config.timeframe))
    result = botrunner("backtest", f"configs/bots/{path.name}", "--to", to.isoformat(), "--json", cwd=fresh_clone)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    legs = len(summary.get("symbols", [config.id]))        # a basket counts the candles of every symbol
    assert summary["bot"] == config.id and 0 < summary["bars"] <= CANDLES * legs


def test_no_shipped_config_reads_data_from_outside_the_project():
    for path in SHIPPED:
        assert "../" not in path.read_text(), f"{path.name} points outside the project"


def test_the_systemd_unit_makes_the_state_folder_with_the_daemons_own_mode():
    # With 0750 (before), the daemon tightened the folder systemd made (logging it found mode
    # 750) and systemd then warned at every start that the folder's mode differed from the unit's.
    from runner.state.state_dir import PRIVATE_DIR_MODE

    unit = (PROJECT / "configs" / "systemd" / "botrunner.service").read_text().splitlines()
    assert f"StateDirectoryMode={PRIVATE_DIR_MODE:04o}" in unit
