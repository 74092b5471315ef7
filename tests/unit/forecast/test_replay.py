"""The forecast file: what write_forecasts writes, read_forecasts and ReplayModel read back exactly."""

from __future__ import annotations

import json

import pytest

from market.forecast import Forecast
from runner.forecast.replay import ReplayFileError, ReplayModel, read_forecasts, write_forecasts


def forecast(ts_ms: int, *, model: str = "ar5", symbol: str = "BTC/USDT", ret: float = 0.0123456789012345,
             trigger: str = "interval") -> Forecast:
    return Forecast(model=model, symbol=symbol, ts_ms=ts_ms, horizon_ms=3_600_000, price=37005.123456789,
                    predicted_return=ret, direction=(ret > 0) - (ret < 0), confidence=1 / 3, trigger=trigger)


def test_round_trip_is_exact_and_in_order(tmp_path):
    written = [forecast(60_000 * i, ret=(-1) ** i * 0.001 * i) for i in range(50)]
    assert write_forecasts(tmp_path / "f.jsonl", written) == 50
    assert read_forecasts(tmp_path / "f.jsonl") == written
    first = json.loads((tmp_path / "f.jsonl").read_text().splitlines()[0])
    assert set(first) == {"model", "symbol", "ts_ms", "horizon_ms", "price", "predicted_return", "direction",
                          "confidence", "trigger"}


async def test_replay_answers_the_recorded_forecast_or_none(tmp_path):
    recorded = [forecast(60_000), forecast(120_000, ret=-0.002), forecast(60_000, symbol="ETH/USDT", ret=0.004)]
    write_forecasts(tmp_path / "f.jsonl", recorded)
    replay = ReplayModel.load(tmp_path / "f.jsonl")
    assert replay.name == "ar5" and len(replay) == 3
    assert await replay.forecast(symbol="BTC/USDT", ts_ms=120_000) == recorded[1]
    assert await replay.forecast(symbol="ETH/USDT", ts_ms=60_000, trigger="manual") == recorded[2]
    assert await replay.forecast(symbol="BTC/USDT", ts_ms=180_000) is None
    assert replay.misses == 1


def test_a_file_of_several_models_needs_the_name_of_one(tmp_path):
    write_forecasts(tmp_path / "f.jsonl", [forecast(0, model="ar5"), forecast(0, model="lstm")])
    with pytest.raises(ReplayFileError, match=r"2 models \(ar5, lstm\); set the model's name"):
        ReplayModel.load(tmp_path / "f.jsonl")
    assert ReplayModel.load(tmp_path / "f.jsonl", model="lstm").lookup("BTC/USDT", 0).model == "lstm"
    with pytest.raises(ReplayFileError, match="no forecasts of model 'gpt'; it has ar5, lstm"):
        ReplayModel.load(tmp_path / "f.jsonl", model="gpt")


def test_the_first_of_a_repeated_forecast_wins(tmp_path, log_records):
    write_forecasts(tmp_path / "f.jsonl", [forecast(0, trigger="interval"), forecast(0, trigger="manual", ret=-0.5)])
    replay = ReplayModel.load(tmp_path / "f.jsonl")
    assert replay.lookup("BTC/USDT", 0).trigger == "interval"
    assert any("1 forecasts of model ar5 repeat" in r["message"] for r in log_records)


@pytest.mark.parametrize(("line", "says"), [
    ("not json", "line 2: not a JSON object"),
    ('{"model": "ar5"}', "line 2: symbol: Field required"),
    ('{"model":"ar5","symbol":"X","ts_ms":0,"horizon_ms":1,"price":1.0,"predicted_return":0.1,"direction":1,'
     '"confidence":2.0,"trigger":"t"}', "line 2: confidence"),
    ('{"model":"ar5","symbol":"X","ts_ms":0,"horizon_ms":1,"price":1.0,"predicted_return":0.1,"direction":true,'
     '"confidence":0.5,"trigger":"t"}', "line 2: direction"),
    ('{"model":"ar5","symbol":"X","ts_ms":0,"horizon_ms":1,"price":1.0,"predicted_return":0.1,"direction":1,'
     '"confidence":0.5,"trigger":"t","extra":1}', "line 2: extra"),
])
def test_a_bad_line_is_reported_with_its_number(tmp_path, line, says):
    path = tmp_path / "f.jsonl"
    write_forecasts(path, [forecast(0)])
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(ReplayFileError, match=says):
        read_forecasts(path)


def test_a_missing_or_empty_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(ReplayFileError, match="nothing.jsonl: cannot read the forecast file"):
        ReplayModel.load(tmp_path / "nothing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ReplayFileError, match="empty.jsonl: holds no forecasts"):
        ReplayModel.load(tmp_path / "empty.jsonl")
