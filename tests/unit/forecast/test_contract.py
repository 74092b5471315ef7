"""The forecast contract: which answers are taken, which refused and why, and the request body."""

from __future__ import annotations

import json

import pytest

from market.models import Candle
from runner.forecast.contract import ForecastRequest, MalformedAnswer, parse_answer, request_body


def answer(**fields) -> bytes:
    body = {"predicted_return": 0.01, "direction": "up", "confidence": 0.5, **fields}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@pytest.mark.parametrize(("direction", "sign"), [("up", 1), ("down", -1), ("flat", 0), (1, 1), (-1, -1), (0, 0)])
def test_direction_as_a_word_or_a_sign(direction, sign):
    predicted = {1: 0.01, -1: -0.01, 0: 0.002}[sign]
    parsed = parse_answer(answer(direction=direction, predicted_return=predicted))
    assert parsed.direction_sign == sign and parsed.predicted_return == predicted


def test_flat_is_taken_with_any_return_and_up_with_zero():
    assert parse_answer(answer(direction="flat", predicted_return=-0.004)).direction_sign == 0
    assert parse_answer(answer(direction="up", predicted_return=0.0)).direction_sign == 1


def test_unknown_keys_are_ignored_and_model_version_kept():
    parsed = parse_answer(answer(model_version="ar5-ls/1", horizon_secs=3600))
    assert parsed.model_version == "ar5-ls/1"


@pytest.mark.parametrize(("body", "says"), [
    (answer(predicted_return=...), "predicted_return: Field required"),
    (answer(confidence=...), "confidence: Field required"),
    (answer(direction=...), "direction: Field required"),
    (b'{"predicted_return": NaN, "direction": "up", "confidence": 0.5}',
     "predicted_return: Input should be a finite number"),
    (b'{"predicted_return": 0.01, "direction": "up", "confidence": Infinity}',
     "confidence: Input should be a finite number"),
    (answer(confidence=1.5), "confidence: Input should be less than or equal to 1 (got 1.5)"),
    (answer(confidence=-0.01), "confidence: Input should be greater than or equal to 0"),
    (answer(predicted_return=1.2), "predicted_return: Input should be less than or equal to 1 (got 1.2)"),
    (answer(predicted_return=-3.0, direction="down"), "predicted_return: Input should be greater than or equal to -1"),
    (answer(predicted_return="0.01"), "predicted_return: Input should be a valid number"),
    (answer(direction="sideways"), "direction: Input should be 'up', 'down', 'flat', 1, -1 or 0"),
    (answer(direction=True), "direction: direction must be"),
    (answer(direction="up", predicted_return=-0.02), "direction 'up' contradicts predicted_return -0.02"),
    (answer(direction="down", predicted_return=0.02), "direction 'down' contradicts predicted_return 0.02"),
    (b"[0.01, 1, 0.5]", "answer is not a JSON object"),
    (b"", "answer is not JSON"),
    (b"\xff\xfe garbage", "answer is not JSON"),
])
def test_a_broken_answer_is_refused_saying_what_is_wrong(body, says):
    with pytest.raises(MalformedAnswer) as refused:
        parse_answer(body)
    assert says in str(refused.value)


def test_an_html_error_page_is_refused_with_its_start_truncated():
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    with pytest.raises(MalformedAnswer) as refused:
        parse_answer(page, "text/html")
    message = str(refused.value)
    assert message.startswith("answer is not JSON (text/html): '<html><head><title>502 Bad Gateway")
    assert len(message) < 200


def test_request_body_sends_candles_oldest_first_and_null_for_missing_features():
    candles = [Candle(60_000 * i, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 3.0) for i in range(3)]
    body = json.loads(request_body(model="m", symbol="BTC/USDT", timeframe="1m", horizon_secs=3600,
                                   ts_ms=180_000, trigger="interval", candles=candles,
                                   features={"ema:12": 101.25, "rsi:14": float("nan"), "vwap": None}))
    assert body == {"model": "m", "symbol": "BTC/USDT", "timeframe": "1m", "horizon_secs": 3600, "ts_ms": 180_000,
                    "trigger": "interval", "candles": [list(c) for c in candles],
                    "features": {"ema:12": 101.25, "rsi:14": None, "vwap": None}}
    assert ForecastRequest.model_validate(body).candles[-1][4] == 102.5


def test_a_request_with_candles_out_of_order_is_refused_by_the_server_model():
    body = json.loads(request_body(model="m", symbol="X/Y", timeframe="1m", horizon_secs=60, ts_ms=0, trigger="t",
                                   candles=[Candle(60_000, 1, 1, 1, 1, 1), Candle(0, 1, 1, 1, 1, 1)], features={}))
    with pytest.raises(ValueError, match="oldest first"):
        ForecastRequest.model_validate(body)
