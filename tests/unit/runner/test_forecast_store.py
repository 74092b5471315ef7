"""The forecast store on real files: recording once, scoring by hand-computed numbers, restarts."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from contextlib import closing

import pytest

from market.forecast import Forecast
from runner.state.forecasts import FORECASTS_FILE, ForecastStore, ForecastStoreMissing

MINUTE_MS = 60_000


@pytest.fixture
def store(tmp_path):
    store = ForecastStore(tmp_path / FORECASTS_FILE)
    yield store
    store.close()


def forecast(ts_ms=MINUTE_MS, *, horizon_ms=2 * MINUTE_MS, price=100.0, predicted_return=0.02, direction=1,
             confidence=0.65, model="ar", symbol="BTC/USDT", trigger="interval"):
    return Forecast(model, symbol, ts_ms, horizon_ms, price, predicted_return, direction, confidence, trigger)


def scored_row(path, bot="b", model="ar", ts_ms=MINUTE_MS):
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM forecasts WHERE bot = ? AND model = ? AND ts_ms = ?",
                               (bot, model, ts_ms)).fetchone())


def test_a_forecast_is_scored_as_computed_by_hand(store, tmp_path):
    # Up 2% predicted from 100 (to 102) over two minutes; the price is 103 when they have passed.
    store.record("b", forecast())
    assert store.score_due("b", "BTC/USDT", 3 * MINUTE_MS - 1, 200.0) == 0      # not yet due
    assert store.score_due("b", "BTC/USDT", 3 * MINUTE_MS, 103.0) == 1
    store.commit()

    row = scored_row(tmp_path / FORECASTS_FILE)
    assert row["target_ts_ms"] == 180_000
    assert row["predicted_price"] == pytest.approx(102.0)
    assert row["actual_price"] == 103.0
    assert row["actual_return"] == pytest.approx(0.03)        # 103 / 100 - 1
    assert row["hit"] == 1                                    # up, and it went up
    assert row["abs_error"] == pytest.approx(1.0)             # |103 - 102|
    assert row["pct_error"] == pytest.approx(0.01)            # |0.03 - 0.02|
    assert row["trade_return"] == pytest.approx(0.03)         # +1 * 0.03
    assert row["scored_ts_ms"] == 180_000


def test_a_down_forecast_that_went_up_is_a_miss_with_a_losing_trade(store, tmp_path):
    # Down 5% predicted from 200 (to 190); the price is 210: +5%.
    store.record("b", forecast(price=200.0, predicted_return=-0.05, direction=-1))
    store.score("b", "ar", MINUTE_MS, 210.0, 3 * MINUTE_MS)
    store.commit()

    row = scored_row(tmp_path / FORECASTS_FILE)
    assert (row["hit"], row["abs_error"]) == (0, pytest.approx(20.0))          # |210 - 190|
    assert row["pct_error"] == pytest.approx(0.10)                             # |0.05 - (-0.05)|
    assert row["trade_return"] == pytest.approx(-0.05)                         # -1 * 0.05


def test_a_forecast_without_direction_has_no_hit_and_no_trade(store, tmp_path):
    store.record("b", forecast(price=50.0, predicted_return=0.0, direction=0))
    store.score("b", "ar", MINUTE_MS, 49.0, 3 * MINUTE_MS)
    store.commit()

    row = scored_row(tmp_path / FORECASTS_FILE)
    assert row["hit"] is None
    assert row["actual_return"] == pytest.approx(-0.02)
    assert (row["abs_error"], row["pct_error"]) == (pytest.approx(1.0), pytest.approx(0.02))
    assert row["trade_return"] == 0.0 and math.copysign(1, row["trade_return"]) == 1


def test_a_forecast_recorded_twice_is_stored_once_and_the_first_stands(store, tmp_path):
    assert store.record("b", forecast(confidence=0.65)) is True
    assert store.record("b", forecast(confidence=0.9)) is False
    assert store.record("other-bot", forecast()) is True            # the key is per bot
    store.commit()

    assert [f.confidence for f in store.forecasts(bot="b")] == [0.65]
    assert len(store.forecasts()) == 2


def test_a_forecast_recorded_again_after_scoring_stays_scored(store):
    store.record("b", forecast())
    store.score_due("b", "BTC/USDT", 3 * MINUTE_MS, 103.0)

    assert store.record("b", forecast()) is False
    assert store.due("b", "BTC/USDT", 10 * MINUTE_MS) == []
    assert store.next_due_ts_ms("b", "BTC/USDT") is None


def test_a_forecast_is_scored_once(store):
    store.record("b", forecast())
    assert store.score("b", "ar", MINUTE_MS, 103.0, 3 * MINUTE_MS) is True
    assert store.score("b", "ar", MINUTE_MS, 90.0, 4 * MINUTE_MS) is False
    assert store.score("b", "ar", 7 * MINUTE_MS, 90.0, 9 * MINUTE_MS) is False    # never recorded


def test_due_lists_the_unscored_forecasts_whose_target_has_passed(store):
    early, late = forecast(MINUTE_MS), forecast(2 * MINUTE_MS, horizon_ms=10 * MINUTE_MS)
    store.record("b", late)
    store.record("b", early)
    store.record("b", forecast(MINUTE_MS, symbol="ETH/USDT"))

    assert store.due("b", "BTC/USDT", 3 * MINUTE_MS - 1) == []
    assert store.due("b", "BTC/USDT", 3 * MINUTE_MS) == [early]
    assert store.due("b", "BTC/USDT", 12 * MINUTE_MS) == [early, late]
    assert store.score_due("b", "BTC/USDT", 5 * MINUTE_MS, 101.0) == 1
    assert store.due("b", "BTC/USDT", 12 * MINUTE_MS) == [late]
    assert store.next_due_ts_ms("b", "BTC/USDT") == 12 * MINUTE_MS


def test_a_restart_in_the_middle_of_a_horizon_still_scores_the_forecast(tmp_path):
    path = tmp_path / FORECASTS_FILE
    before = ForecastStore(path)
    before.record("b", forecast(0, horizon_ms=5 * MINUTE_MS))
    assert before.score_due("b", "BTC/USDT", MINUTE_MS, 101.0) == 0
    before.close()

    # The daemon was down when the horizon passed (at minute 5); the first candle the bot sees
    # back closes at minute 7, and scores it at its close.
    after = ForecastStore(path)
    assert after.next_due_ts_ms("b", "BTC/USDT") == 5 * MINUTE_MS
    assert after.score_due("b", "BTC/USDT", 7 * MINUTE_MS, 104.0) == 1
    after.close()

    row = scored_row(path, ts_ms=0)
    assert (row["actual_price"], row["scored_ts_ms"], row["hit"]) == (104.0, 7 * MINUTE_MS, 1)
    assert row["actual_return"] == pytest.approx(0.04)


def test_score_due_runs_no_sql_when_nothing_is_due(tmp_path, monkeypatch):
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced_connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced_connect)
    store = ForecastStore(tmp_path / FORECASTS_FILE)
    store.record("b", forecast(0, horizon_ms=5 * MINUTE_MS))
    store.commit()
    statements.clear()

    for minute in range(1, 5):
        assert store.score_due("b", "BTC/USDT", minute * MINUTE_MS, 100.0) == 0
        assert store.score_due("idle-bot", "BTC/USDT", minute * MINUTE_MS, 100.0) == 0
    assert statements == []

    assert store.score_due("b", "BTC/USDT", 5 * MINUTE_MS, 100.0) == 1
    assert statements
    store.close()


def test_the_store_file_and_its_wal_are_private(tmp_path):
    store = ForecastStore(tmp_path / FORECASTS_FILE)
    store.record("b", forecast())
    store.commit()

    for name in (FORECASTS_FILE, f"{FORECASTS_FILE}-wal", f"{FORECASTS_FILE}-shm"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert store.query("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_loose_existing_store_file_is_made_private(tmp_path):
    path = tmp_path / FORECASTS_FILE
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    ForecastStore(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_reader_sees_what_the_writer_committed(tmp_path):
    path = tmp_path / FORECASTS_FILE
    writer = ForecastStore(path)
    writer.record("b", forecast(MINUTE_MS))
    writer.commit()
    writer.record("b", forecast(2 * MINUTE_MS))               # not committed yet

    reader = ForecastStore(path, read_only=True)
    assert [f.ts_ms for f in reader.forecasts()] == [MINUTE_MS]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.record("b", forecast(3 * MINUTE_MS))
    reader.close()
    writer.close()


def test_reading_a_missing_store_names_the_path(tmp_path):
    with pytest.raises(ForecastStoreMissing, match=f"no forecast store at {tmp_path / FORECASTS_FILE}"):
        ForecastStore(tmp_path / FORECASTS_FILE, read_only=True)
    assert not (tmp_path / FORECASTS_FILE).exists()


@pytest.mark.parametrize("bad, problem", [
    ({"price": float("nan")}, "bad price nan"),
    ({"price": 0.0}, "bad price 0.0"),
    ({"predicted_return": float("inf")}, "bad predicted_return inf"),
    ({"direction": 2}, "bad direction 2"),
    ({"confidence": float("nan")}, "bad confidence nan"),
    ({"confidence": 1.5}, "bad confidence 1.5"),
    ({"horizon_ms": 0}, "bad horizon_ms 0"),
])
def test_a_forecast_that_cannot_be_scored_is_refused(store, bad, problem):
    with pytest.raises(ValueError, match=f"cannot store forecast of ar on BTC/USDT at 60000: {problem}"):
        store.record("b", forecast(**bad))
    assert store.forecasts() == []


def test_scoring_at_a_price_that_is_not_finite_is_refused(store):
    store.record("b", forecast())
    with pytest.raises(ValueError, match="not a finite price"):
        store.score_due("b", "BTC/USDT", 3 * MINUTE_MS, float("nan"))
    assert store.next_due_ts_ms("b", "BTC/USDT") == 3 * MINUTE_MS


def test_a_forecast_missing_a_field_is_an_error_not_a_duplicate(store):
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.record("b", forecast(trigger=None))
