"""Searches over candles with a known best pair planted in them (see `planted`): grid, random
and TPE find it; an interrupted search resumes without repeating a trial; constraints and
refused configs are recorded as such."""

from __future__ import annotations

import pytest

from runner.config.bot import ConfigError
from runner.research.optimize import OptimizeRequest, run_optimize
from runner.research.params import make_space, parse_param
from runner.research.report import format_optimize_report
from runner.research.search import SearchSettings
from runner.research.store import StudyMismatch, TrialState

from tests.unit.research.planted import PLANTED_BEST, SPACE, planted_candles, write_bot, write_candles


@pytest.fixture(scope="module")
def planted_bot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    return write_bot(folder, write_candles(planted_candles(), folder / "planted.csv"))


def request(bot, state_dir, *, method="grid", trials=None, seed=0, min_trades=0, jobs=1, params=SPACE, **more):
    space = make_space([parse_param(p) for p in params])
    return OptimizeRequest(config_path=bot, space=space, jobs=jobs, state_dir=state_dir,
                           settings=SearchSettings(method=method, n_trials=trials, seed=seed, min_trades=min_trades),
                           **more)


def test_grid_search_finds_the_planted_pair_and_tries_every_combination(planted_bot, tmp_path):
    result = run_optimize(request(planted_bot, tmp_path))
    assert result.best.params == PLANTED_BEST
    trials = result.searches[0].trials
    assert len(trials) == 19 * 10
    # fast >= slow is refused by the strategy's own check, before any backtest
    invalid = [t for t in trials if t.state is TrialState.INVALID]
    assert invalid and all(t.params["fast"] >= t.params["slow"] for t in invalid)
    assert "must be shorter than" in invalid[0].note
    assert result.ran == len(trials) - len(invalid)


def test_random_search_finds_the_planted_pair(planted_bot, tmp_path):
    result = run_optimize(request(planted_bot, tmp_path, method="random", trials=80, seed=3))
    assert result.best.params == PLANTED_BEST
    assert len(result.searches[0].trials) == 80
    assert len({t.key for t in result.searches[0].trials}) == 80        # no set of values twice


def test_tpe_search_finds_the_planted_pair_in_fewer_trials_than_the_grid(planted_bot, tmp_path):
    pytest.importorskip("optuna")
    result = run_optimize(request(planted_bot, tmp_path, method="tpe", trials=60, seed=1))
    assert result.best.params == PLANTED_BEST
    assert (tmp_path / "optuna.sqlite").exists()


def test_the_pool_gives_the_same_results_as_one_process(planted_bot, tmp_path):
    params = ["fast=6:8", "slow=14:21:7"]
    alone = run_optimize(request(planted_bot, tmp_path / "one", params=params))
    pooled = run_optimize(request(planted_bot, tmp_path / "two", params=params, jobs=2))
    by_key = lambda result: {t.key: (t.state, t.value) for t in result.searches[0].trials}
    assert by_key(pooled) == by_key(alone)
    assert pooled.best.params == PLANTED_BEST


class Interrupt(Exception):
    pass


def interrupt_after(count):
    def progress(done, total, best):
        if done >= count:
            raise Interrupt       # as Ctrl-C would, between two trials
    return lambda study: progress


@pytest.mark.parametrize("method", ["grid", "random", "tpe"])
def test_an_interrupted_search_resumes_without_repeating_a_trial(planted_bot, tmp_path, method):
    if method == "tpe":
        pytest.importorskip("optuna")
    search = request(planted_bot, tmp_path, method=method, trials=30, seed=2, study="resumable")
    with pytest.raises(Interrupt):
        run_optimize(search, progress=interrupt_after(12))
    resumed = run_optimize(search)
    trials = resumed.searches[0].trials
    keys = [t.key for t in trials]
    assert len(keys) == len(set(keys))                  # nothing ran twice
    assert [t.number for t in trials] == list(range(len(trials)))
    assert len(trials) == 30 or (method == "tpe" and len(trials) >= 25)   # TPE may propose a repeat
    assert resumed.ran <= len(trials) - 12              # the first twelve were not run again
    again = run_optimize(search)
    assert again.ran == 0 and len(again.searches[0].trials) == len(trials)


def test_trials_with_too_few_trades_are_infeasible_and_never_best(planted_bot, tmp_path):
    result = run_optimize(request(planted_bot, tmp_path, params=["fast=7", "slow=14,70"], min_trades=15))
    states = {t.params["slow"]: t for t in result.searches[0].trials}
    assert states[14].state is TrialState.COMPLETE and states[14].summary["trades"] >= 15
    slow = run_optimize(request(planted_bot, tmp_path / "strict", params=["fast=7", "slow=14,70"], min_trades=1000))
    assert slow.best is None
    assert all(t.state is TrialState.INFEASIBLE and "fewer than --min-trades 1000" in t.note
               for t in slow.searches[0].trials)


def test_a_study_name_reused_with_other_ranges_is_refused(planted_bot, tmp_path):
    run_optimize(request(planted_bot, tmp_path, params=["fast=7", "slow=14"], study="mine"))
    with pytest.raises(StudyMismatch, match="other settings"):
        run_optimize(request(planted_bot, tmp_path, params=["fast=7", "slow=21"], study="mine"))


def test_a_searched_name_the_config_has_no_field_for_is_refused_before_any_trial(planted_bot, tmp_path):
    # Before: every trial recorded invalid with the same note, no best, exit 0 and no word why.
    params = ["fast=7", "slwo=14,21", "risk.stop_los_pct=0.01:0.03:0.01", "risk.protections.max_losing_streak=2"]
    with pytest.raises(ConfigError) as refused:
        run_optimize(request(planted_bot, tmp_path / "state", params=params))
    slwo, stop_los = refused.value.problems
    assert slwo == f"searched parameter slwo: {planted_bot}: strategy.params.slwo: unknown field; allowed: fast, slow"
    assert stop_los.startswith(f"searched parameter risk.stop_los_pct: {planted_bot}: risk.stop_los_pct: unknown "
                               "field; allowed: ") and "stop_loss_pct" in stop_los
    assert not (tmp_path / "state").exists()


def test_tpe_trials_that_propose_a_set_already_tried_are_counted_in_the_report(planted_bot, tmp_path):
    pytest.importorskip("optuna")
    result = run_optimize(request(planted_bot, tmp_path, method="tpe", params=["fast=7", "slow=14,21"], trials=6))
    assert len(result.searches[0].trials) == 2 and result.searches[0].repeated == 4
    assert "2 in the study, 2 complete; 2 run now" in format_optimize_report(result)
    assert format_optimize_report(result).splitlines()[3].endswith("; 4 more trials proposed a set already tried")


def test_one_repeated_tpe_proposal_reads_as_one_trial(planted_bot, tmp_path):
    # Before: "; 1 more trials proposed a set already tried".
    pytest.importorskip("optuna")
    result = run_optimize(request(planted_bot, tmp_path, method="tpe", params=["fast=7", "slow=14"], trials=2))
    assert result.searches[0].repeated == 1
    assert format_optimize_report(result).splitlines()[3].endswith("; 1 more trial proposed a set already tried")


def test_a_search_with_no_best_says_why_in_its_report(planted_bot, tmp_path):
    # Before: "No trial met the constraints." and nothing else, no trial being shown.
    invalid = run_optimize(request(planted_bot, tmp_path / "a", params=["fast=30,31", "slow=14"]))
    assert format_optimize_report(invalid).endswith(
        "No trial met the constraints: 2 invalid, e.g. strategy.params.slow: fast (30) must be shorter than slow (14).")
    few = run_optimize(request(planted_bot, tmp_path / "b", params=["fast=7", "slow=14"], min_trades=10_000))
    assert format_optimize_report(few).endswith(
        f"No trial met the constraints: 1 infeasible, e.g. {few.searches[0].trials[0].summary['trades']} trades, "
        "fewer than --min-trades 10000.")


def test_a_paper_bot_is_searched_as_a_backtest_and_its_best_config_stays_paper(tmp_path):
    candles = write_candles(planted_candles(), tmp_path / "candles.csv")
    bot = tmp_path / "paper.yaml"
    bot.write_text("id: paper-bot\nmode: paper\nsymbol: BTC/USD\ntimeframe: 1m\ncapital: 10000\n"
                   "exchange: {id: binance}\nstrategy: {name: sma_cross, params: {fast: 10, slow: 30}}\n"
                   "risk: {stake_pct: 0.99}\nexecution: {fee_rate: 0.005}\n")
    result = run_optimize(request(bot, tmp_path / "state", params=["fast=7", "slow=14,21"], data_path=candles))
    assert result.best.params == PLANTED_BEST and result.ran == 2
    best = result.best_config()
    assert best["mode"] == "paper" and best["exchange"] == {"id": "binance"}
    assert best["strategy"]["params"] == PLANTED_BEST


def test_a_minimum_of_one_trade_reads_as_one_trade(planted_bot, tmp_path):
    # Before: "(grid, objective ..., at least 1 trades)".
    result = run_optimize(request(planted_bot, tmp_path, params=["fast=7", "slow=14"], min_trades=1))
    assert format_optimize_report(result).splitlines()[1].endswith(", at least 1 trade)")
