"""`botrunner optimize` as a user runs it: a real process, its JSON, the config it writes, and a
small search over the real BTC candles."""

from __future__ import annotations

import json
from pathlib import Path

from runner.config.validate import validate_paths

from tests.unit.research.planted import PLANTED_BEST, planted_candles, write_bot, write_candles
from tests.daemon_process import botrunner

PROJECT = Path(__file__).resolve().parents[2]


def test_json_is_one_object_and_the_best_config_written_validates(tmp_path):
    bot = write_bot(tmp_path, write_candles(planted_candles(), tmp_path / "candles.csv"))
    out = tmp_path / "best.yaml"
    result = botrunner("optimize", str(bot), "--param", "fast=6:8", "--param", "slow=14:28:7", "--jobs", "2",
                       "--state-dir", str(tmp_path / "state"), "--out", str(out), "--json", "--min-trades", "1")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["best"]["params"] == PLANTED_BEST
    assert payload["trials"]["complete"] == 9 and payload["ran"] == 9 and payload["jobs"] == 2
    assert [t["value"] for t in payload["top"]] == sorted((t["value"] for t in payload["top"]), reverse=True)
    valid, problems = validate_paths([out])
    assert problems == [] and valid[0][1].strategy.params == PLANTED_BEST
    assert botrunner("validate", str(out)).returncode == 0


def test_the_report_shows_the_best_trials_and_the_walk_forward_folds(tmp_path):
    bot = write_bot(tmp_path, write_candles(planted_candles(), tmp_path / "candles.csv"))
    result = botrunner("optimize", str(bot), "--param", "fast=7", "--param", "slow=14,21", "--jobs", "1",
                       "--walk-forward", "2", "--anchored", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    assert "Walk-forward, 2 folds (anchored)" in result.stdout and "OOS/IS" in result.stdout
    assert "Best trials of the last fold" in result.stdout


def test_bad_ranges_and_methods_exit_2_saying_why(tmp_path):
    bot = write_bot(tmp_path, write_candles(planted_candles(200), tmp_path / "candles.csv"))
    cases = [(["--param", "fast=9:3"], "below LOW"), (["--param", "fast=3:9", "--method", "annealing"], "--method"),
             ([], "nothing to search"), (["--param", "risk.stop_loss_pct=0.01:0.05"], "needs a step"),
             (["--param", "fast=3:9", "--objective", "luck"], "unknown")]
    for args, says in cases:
        result = botrunner("optimize", str(bot), *args, "--state-dir", str(tmp_path / "state"))
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)


def test_a_small_search_over_the_real_btc_candles(shared_data, tmp_path):
    config = PROJECT / "configs" / "bots" / "btc-sma-cross.yaml"
    result = botrunner("optimize", str(config), "--data", str(shared_data / "BTC_USD-1m-2022-01.csv"),
                       "--param", "fast=5:15:5", "--param", "slow=30:60:30", "--jobs", "2", "--min-trades", "10",
                       "--objective", "return_over_drawdown", "--state-dir", str(tmp_path), "--json",
                       "--out", str(tmp_path / "best.yaml"))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["candles"] > 44_000 and payload["ran"] == 6
    assert payload["best"]["summary"]["trades"] >= 10
    assert validate_paths([tmp_path / "best.yaml"])[1] == []
