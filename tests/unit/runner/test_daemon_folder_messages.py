"""A daemon folder's problems point at the file to fix: the files of a repeated bot id, daemon.yaml
when a bad field comes from its bot_defaults, and a control socket path too long to bind."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


BASKET = ("id: pair\ncapital: 1000\nmarket: {source: synthetic, seed: 3, bars: 500}\n"
          "strategy: {name: sma_cross, params: {fast: 5, slow: 20}}\nsymbols: [%s]\n")


@pytest.mark.parametrize("other, files", [
    (SMALL_BOT.replace("id: btc-sma", "id: pair"), "pair in basket.yaml, other.yaml"),      # a bot named as the basket
    (BASKET % "ETH/USDT", "pair in basket.yaml, other.yaml"),                              # two baskets, other symbols
])
def test_a_basket_id_is_unique_among_bot_and_basket_ids(tmp_path, other, files):
    # Before: validate said ok to both, their legs' ids (pair.btc-usdt) being others; the daemon's
    # status, stop and risk state of `pair` then meant two things.
    config_dir = folder(tmp_path, {"basket.yaml": BASKET % "BTC/USDT", "other.yaml": other})

    assert problems(config_dir) == [f"{tmp_path / 'bots'}: bot ids must be unique; repeated: {files}"]


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


def test_a_bots_entry_that_is_a_file_is_named_as_such_by_validate_and_run(tmp_path):
    # Before: validate took the folder for a folder of bot files ("no *.yaml files in this
    # folder"), and run said "no bot configs (*.yaml) found".
    from runner.config.validate import validate_paths

    (tmp_path / "bots").write_text("id: x\n")
    said = f"{tmp_path / 'bots'}: is a file; expected a folder holding one YAML file per bot"

    assert validate_paths([tmp_path]) == ([], [said])
    assert problems(tmp_path) == [said]


def test_a_bot_file_named_in_upper_case_is_a_problem_not_a_bot_left_out(tmp_path):
    # Before: only *.yaml and *.yml were read, and BTC.YAML's bot was simply not there.
    config_dir = folder(tmp_path, {"a.yaml": SMALL_BOT, "Other.YAML": SMALL_BOT.replace("btc-sma", "eth-sma"),
                                   "notes.txt": "", "a.yaml.bak": ""})

    assert problems(config_dir) == [
        f"{tmp_path / 'bots' / 'Other.YAML'}: not read: a bot file's name ends in .yaml or .yml, in lower case"]


def test_a_log_rotation_time_written_without_quotes_is_that_time_and_a_number_is_refused(tmp_path):
    # Before: 12:00 unquoted was YAML 1.1's base-60 number 720, refused with a hint to quote it;
    # the config loader reads it as YAML 1.2 does, as text. A number written as one says what to write.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    daemon, _ = load_config_dir(folder(tmp_path / "a", {"a.yaml": SMALL_BOT}, "log: {rotation: 12:00}\n"))
    config_dir = folder(tmp_path / "b", {"a.yaml": SMALL_BOT}, "log: {rotation: 720}\n")

    assert daemon.log.rotation == "12:00"
    assert problems(config_dir) == [
        f'{tmp_path / "b" / "daemon.yaml"}: log.rotation: must be text such as "50 MB", "1 day" or "12:00"; got 720']


# -- property: daemon.yaml broken at random ------------------------------------------------------

FULL_DAEMON = {
    "state_dir": "state", "control": {"socket": None, "tcp": {"host": "127.0.0.1", "port": 8765}},
    "log": {"level": "INFO", "json": False, "file": None, "rotation": "50 MB", "retention": 10},
    "stop_grace_secs": 10, "snapshot_interval_secs": 5,
    "supervisor": {"max_restarts": 5, "window_secs": 300, "backoff_initial_secs": 1, "backoff_max_secs": 60},
    "bot_defaults": {"execution": {"fee_rate": 0.001}},
    "risk_groups": {"majors": {"max_gross_exposure_pct": 0.8, "max_open_positions": 3}},
    "account_limits": {"binance/main": {"max_gross_exposure_pct": 0.9}},
    "notifications": {"urls_env": ["BOTRUNNER_NOTIFY_URL"], "events": ["kill", "failed"]},
}


def _paths(value, prefix=()):
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def broken_daemon_files(draw):
    config = copy.deepcopy(FULL_DAEMON)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_paths(config)))
        parent = config
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent["typo_field"] = 1
        else:
            parent[where[-1]] = copy.deepcopy(draw(st.sampled_from([
                None, "", "abc", -1, 0, math.nan, math.inf, 1e308, 10**30, [], {}, [1], {"x": 1}, True, "1e5",
                "ÿ", "/", 0.001, "0 MB", "a" * 300])))
    return config


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(daemon=broken_daemon_files())
def test_a_broken_daemon_file_loads_or_names_the_file_and_field_of_each_problem(tmp_path, daemon):
    config_dir = tmp_path / "cfg"
    (config_dir / "bots").mkdir(parents=True, exist_ok=True)
    (config_dir / "bots" / "a.yaml").write_text(SMALL_BOT)
    (config_dir / "daemon.yaml").write_text(yaml.safe_dump(daemon, allow_unicode=True))
    try:
        load_config_dir(config_dir)
    except ConfigError as exc:
        for line in exc.problems:
            assert line.startswith((f"{config_dir / 'daemon.yaml'}: ", f"{config_dir / 'bots'}")), line
            assert "Input should" not in line and "<class" not in line, line
