"""A daemon folder's problems point at the file to fix: the files of a repeated bot id, daemon.yaml
when a bad field comes from its bot_defaults, and a control socket path too long to bind."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config.bot import ConfigError
from runner.config.daemon import load_config_dir
from tests.unit.runner.config_files import SMALL_BOT


def folder(tmp_path: Path, bots: dict[str, str], daemon_yaml: str | None = None) -> Path:
    (tmp_path / "bots").mkdir()
    for name, text in bots.items():
        (tmp_path / "bots" / name).write_text(text)
    if daemon_yaml is not None:
        (tmp_path / "daemon.yaml").write_text(daemon_yaml)
    return tmp_path


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    return info.value.problems


def test_a_repeated_bot_id_names_the_files_that_repeat_it(tmp_path):
    other = SMALL_BOT.replace("id: btc-sma", "id: eth-sma")
    config_dir = folder(tmp_path, {"a.yaml": SMALL_BOT, "b.yaml": other, "c.yml": SMALL_BOT, "d.yaml": other})

    assert problems(config_dir) == [f"{tmp_path / 'bots'}: bot ids must be unique; repeated: "
                                    "btc-sma in a.yaml, c.yml; eth-sma in b.yaml, d.yaml"]


def test_a_bad_field_from_bot_defaults_says_it_is_set_there(tmp_path):
    # Before, each bot file was blamed for a typo that is in daemon.yaml, and nothing in it to fix.
    config_dir = folder(tmp_path, {"a.yaml": SMALL_BOT + "risk: {stake_pct: 2}\n"},
                        "bot_defaults: {execution: {fee_rte: 0.001}, risk: {stake_pct: 0.5}}\n")

    assert sorted(problems(config_dir)) == [
        f"{tmp_path / 'bots' / 'a.yaml'}: execution.fee_rte: unknown field; allowed: fee_rate, slippage_bps, "
        "stop_limit_offset_pct, stop_on_exchange (set in daemon.yaml's bot_defaults)",
        f"{tmp_path / 'bots' / 'a.yaml'}: risk.stake_pct: must be > 0 and <= 1, got 2"]   # the file's own


def test_a_control_socket_path_too_long_to_bind_is_a_config_error(tmp_path):
    # Before: accepted, then the daemon failed to bind it with exit 1, telling to shorten --state-dir.
    long_path = "/tmp/" + "x" * 120 + ".sock"
    config_dir = folder(tmp_path, {"a.yaml": SMALL_BOT}, f"control: {{socket: {long_path}}}\n")

    assert problems(config_dir) == [
        f"{tmp_path / 'daemon.yaml'}: control.socket: 130 bytes long; a Unix socket's path holds at most 107: "
        "choose a shorter one, e.g. /run/botrunner/botrunner.sock"]
