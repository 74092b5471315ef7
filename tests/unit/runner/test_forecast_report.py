"""`botrunner forecasts`: per-model figures and calibration on a small hand-made set, and the
export that replay reads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from market.forecast import Forecast
from runner.state.forecast_report import export_forecasts, format_table, summarize, to_json
from runner.state.forecasts import FORECASTS_FILE, ForecastStore, ForecastStoreMissing

MINUTE_MS = 60_000


def forecast(minute, direction, predicted_return, confidence, *, model="ar", symbol="BTC/USDT", price=100.0):
    return Forecast(model, symbol, minute * MINUTE_MS, MINUTE_MS, price, predicted_return, direction, confidence,
                    "interval")


@pytest.fixture
def state_dir(tmp_path):
    """A store with, for bot "b" and model "ar" on BTC/USDT (all made at 100, scored a minute on):

    | direction | predicted | conf | actual | return | hit | abs error | pct error | trade |
    |-----------|-----------|------|--------|--------|-----|-----------|-----------|-------|
    | +1        | +1%       | 0.55 | 102    | +2%    | 1   | 1         | 0.01      | +2%   |
    | +1        | +2%       | 0.65 | 99     | -1%    | 0   | 3         | 0.03      | -1%   |
    | -1        | -1%       | 0.95 | 97     | -3%    | 1   | 2         | 0.02      | +3%   |
    | 0         | 0         | 0.30 | 100.5  | +0.5%  | -   | 0.5       | 0.005     | 0     |
    | +1        | +1%       | 0.80 | pending                                                |

    plus bot "c"'s "ar" on ETH/USDT (one hit) and bot "b"'s "naive" on BTC/USDT (pending).
    """
    store = ForecastStore(tmp_path / FORECASTS_FILE)
    for minute, (direction, predicted, confidence, actual) in enumerate(
            [(1, 0.01, 0.55, 102.0), (1, 0.02, 0.65, 99.0), (-1, -0.01, 0.95, 97.0), (0, 0.0, 0.30, 100.5)]):
        store.record("b", forecast(minute, direction, predicted, confidence))
        assert store.score_due("b", "BTC/USDT", (minute + 1) * MINUTE_MS, actual) == 1
    store.record("b", forecast(10, 1, 0.01, 0.80))
    store.record("b", forecast(10, -1, -0.002, 0.5, model="naive"))
    store.record("c", forecast(0, 1, 0.01, 0.7, symbol="ETH/USDT", price=2000.0))
    store.score_due("c", "ETH/USDT", MINUTE_MS, 2010.0)
    store.close()
    return tmp_path


def test_the_figures_of_a_model_are_those_computed_by_hand(state_dir):
    ar_btc = next(s for s in summarize(state_dir) if (s.model, s.symbol) == ("ar", "BTC/USDT"))

    assert (ar_btc.count, ar_btc.scored, ar_btc.pending, ar_btc.directional, ar_btc.hits) == (5, 4, 1, 3, 2)
    assert ar_btc.hit_rate == pytest.approx(2 / 3)
    assert ar_btc.mae == pytest.approx(1.625)                     # (1 + 3 + 2 + 0.5) / 4
    assert ar_btc.mape == pytest.approx(0.01625)                  # (0.01 + 0.03 + 0.02 + 0.005) / 4
    assert ar_btc.mean_confidence == pytest.approx(0.65)          # (0.55 + 0.65 + 0.95 + 0.30 + 0.80) / 5
    assert ar_btc.mean_trade_return == pytest.approx(0.04 / 3)    # (0.02 - 0.01 + 0.03) / 3


def test_summaries_are_per_model_and_symbol_and_follow_the_filters(state_dir):
    assert [(s.model, s.symbol, s.count) for s in summarize(state_dir)] == [
        ("ar", "BTC/USDT", 5), ("ar", "ETH/USDT", 1), ("naive", "BTC/USDT", 1)]
    assert [(s.model, s.symbol) for s in summarize(state_dir, bot="c")] == [("ar", "ETH/USDT")]
    assert [(s.model, s.symbol) for s in summarize(state_dir, model="ar", symbol="BTC/USDT")] == [("ar", "BTC/USDT")]
    assert summarize(state_dir, bot="nobody") == []


def test_a_model_with_nothing_scored_has_no_rates(state_dir):
    naive = summarize(state_dir / FORECASTS_FILE, model="naive")[0]
    assert (naive.count, naive.scored, naive.hit_rate, naive.mae, naive.mape, naive.mean_trade_return) == (
        1, 0, None, None, None, None)
    assert all(b.count == 0 and b.hit_rate is None for b in naive.calibration)


def test_calibration_counts_directional_scored_forecasts_per_confidence_bucket(state_dir):
    ar_btc = summarize(state_dir, model="ar", symbol="BTC/USDT")[0]
    assert [(b.low, b.high, b.count, b.hits) for b in ar_btc.calibration] == [
        (0.0, 0.5, 0, 0),          # the 0.30 one has no direction
        (0.5, 0.6, 1, 1),
        (0.6, 0.7, 1, 0),
        (0.7, 0.8, 0, 0),
        (0.8, 0.9, 0, 0),          # the 0.80 one is pending
        (0.9, 1.0, 1, 1)]
    assert [b.hit_rate for b in ar_btc.calibration] == [None, 1.0, 0.0, None, None, 1.0]


def test_a_confidence_on_a_bucket_edge_counts_in_the_bucket_above(tmp_path):
    confidences = [0.0, 0.49, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    with_direction = ForecastStore(tmp_path / FORECASTS_FILE)
    for minute, confidence in enumerate(confidences):
        with_direction.record("b", forecast(minute, 1, 0.01, confidence))
    with_direction.score_due("b", "BTC/USDT", 100 * MINUTE_MS, 101.0)

    calibration = summarize(with_direction)[0].calibration
    with_direction.close()
    assert [b.count for b in calibration] == [2, 1, 1, 1, 1, 2]
    assert [b.hit_rate for b in calibration] == [1.0] * 6


def test_json_carries_every_figure_and_the_calibration(state_dir):
    ar_btc = json.loads(to_json(summarize(state_dir)))[0]
    assert {k: ar_btc[k] for k in ("model", "symbol", "count", "scored", "pending", "directional", "hits")} == {
        "model": "ar", "symbol": "BTC/USDT", "count": 5, "scored": 4, "pending": 1, "directional": 3, "hits": 2}
    assert ar_btc["hit_rate"] == pytest.approx(2 / 3)
    assert ar_btc["mae"] == pytest.approx(1.625)
    assert ar_btc["calibration"][1] == {"low": 0.5, "high": 0.6, "count": 1, "hits": 1, "hit_rate": 1.0}
    assert ar_btc["calibration"][0]["hit_rate"] is None


def test_the_table_is_aligned_with_a_line_per_model_and_symbol(state_dir):
    text = format_table(summarize(state_dir))
    figures, calibration = text.split("\n\n")
    lines = figures.splitlines()

    assert lines[0].split() == ["model", "symbol", "forecasts", "scored", "hit", "rate", "MAE", "MAPE", "mean", "conf",
                                "trade", "return"]
    assert lines[1].split() == ["ar", "BTC/USDT", "5", "4", "66.7%", "of", "3", "1.625", "1.625%", "0.650", "+1.333%"]
    assert lines[3].split() == ["naive", "BTC/USDT", "1", "0", "-", "-", "-", "0.500", "-"]
    assert len({len(line) for line in lines}) == 1                # right-aligned up to the last column
    assert calibration.splitlines()[2].split() == [
        "ar", "BTC/USDT", "-", "100.0%", "of", "1", "0.0%", "of", "1", "-", "-", "100.0%", "of", "1"]


def test_the_table_of_nothing_says_so():
    assert format_table([]) == "no forecasts"


def test_export_writes_exactly_the_forecast_fields_oldest_first(state_dir, tmp_path):
    out = tmp_path / "forecasts.jsonl"
    assert export_forecasts(state_dir, out) == 7

    objects = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(list(o) == [f.name for f in dataclasses.fields(Forecast)] for o in objects)
    assert [(o["ts_ms"], o["model"], o["symbol"]) for o in objects][:3] == [
        (0, "ar", "BTC/USDT"), (0, "ar", "ETH/USDT"), (MINUTE_MS, "ar", "BTC/USDT")]
    assert Forecast(**objects[0]) == forecast(0, 1, 0.01, 0.55)


def test_export_follows_the_filters(state_dir, tmp_path):
    out = tmp_path / "eth.jsonl"
    assert export_forecasts(state_dir, out, bot="c") == 1
    assert [Forecast(**json.loads(line)) for line in out.read_text().splitlines()] == [
        forecast(0, 1, 0.01, 0.7, symbol="ETH/USDT", price=2000.0)]
    assert export_forecasts(state_dir, out, model="nobody") == 0
    assert out.read_text() == ""


def test_export_reads_the_file_while_a_daemon_writes_it(state_dir, tmp_path):
    daemon = ForecastStore(state_dir / FORECASTS_FILE)
    daemon.record("b", forecast(20, 1, 0.01, 0.6))                # not committed: not exported
    out = tmp_path / "out.jsonl"

    assert export_forecasts(state_dir / FORECASTS_FILE, out) == 7
    daemon.commit()
    assert export_forecasts(state_dir / FORECASTS_FILE, out) == 8
    daemon.close()
    assert not list(tmp_path.glob(".*.partial"))


def test_reports_without_a_store_name_the_missing_file(tmp_path):
    with pytest.raises(ForecastStoreMissing, match=str(tmp_path / FORECASTS_FILE)):
        summarize(tmp_path)
    with pytest.raises(ForecastStoreMissing):
        export_forecasts(tmp_path / "nothing.sqlite3", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
