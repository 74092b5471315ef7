"""Walk-forward: how the candles are cut into folds, and that a regime change shows as an
out-of-sample result far below the in-sample one."""

from __future__ import annotations

import pytest

from runner.research.optimize import OptimizeRequest, run_optimize
from runner.research.params import make_space, parse_param
from runner.research.pool import Window
from runner.research.search import SearchSettings
from runner.research.walk_forward import split_folds

from tests.unit.research.planted import PLANTED_BEST, SPACE, planted_candles, write_bot, write_candles


def test_rolling_folds_search_on_one_segment_and_test_on_the_next():
    folds = split_folds(1000, 3)
    assert [(f.in_sample, f.out_of_sample) for f in folds] == [
        (Window(0, 250), Window(250, 500)), (Window(250, 500), Window(500, 750)), (Window(500, 750), Window(750, 1000))]


def test_anchored_folds_search_on_everything_before_the_test():
    folds = split_folds(1003, 3, anchored=True)
    assert [f.in_sample for f in folds] == [Window(0, 250), Window(0, 500), Window(0, 750)]
    assert folds[-1].out_of_sample == Window(750, 1003)       # the remainder goes to the last test


def test_folds_too_short_to_mean_anything_are_refused():
    with pytest.raises(ValueError, match="use fewer folds"):
        split_folds(300, 9)


def test_a_regime_change_shows_as_an_out_of_sample_gap(tmp_path):
    # Segments of 1,000 candles: the cycle has 7 candles in the first two, 11 in the last.
    candles = planted_candles(3000, regime_change=(2000, 11))
    bot = write_bot(tmp_path, write_candles(candles, tmp_path / "candles.csv"))
    space = make_space([parse_param(p) for p in SPACE])
    result = run_optimize(OptimizeRequest(config_path=bot, space=space, settings=SearchSettings("grid"),
                                          state_dir=tmp_path / "state", walk_forward=2))
    before, after = result.folds
    assert before.best.params == after.best.params == PLANTED_BEST      # found in sample both times
    assert before.ratio > 0.8                   # same regime out of sample: it holds up
    assert after.out_of_sample_value < 0 < after.in_sample_value
    assert after.out_of_sample["return_pct"] < 0 < after.best.summary["return_pct"]
    assert result.best is after.best            # the config written is the latest fold's
