"""ModelConfig: defaults, the name from the URL, the horizon, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.forecast.config import ModelConfig


def test_defaults_and_the_name_from_the_url_host():
    config = ModelConfig(url="http://127.0.0.1:8780/forecast")
    assert config.name == "127.0.0.1:8780"
    assert (config.timeout_secs, config.horizon_secs, config.candles, config.retries) == (2.0, 3600, 100, 2)
    assert (config.backoff_secs, config.breaker_failures, config.breaker_reset_secs) == (0.2, 3, 60.0)
    assert ModelConfig(url="https://models.example.com/v1/forecast").name == "models.example.com"
    assert ModelConfig(url="https://models.example.com/v1", name="ar5").name == "ar5"


@pytest.mark.parametrize(("horizon", "secs"), [("60m", 3600), ("1h", 3600), ("15m", 900), ("1d", 86_400), ("30s", 30)])
def test_horizon_is_a_duration(horizon, secs):
    assert ModelConfig(url="http://m/f", horizon=horizon).horizon_secs == secs


@pytest.mark.parametrize(("fields", "says"), [
    ({"url": "ftp://m/f"}, "url"),
    ({"url": "http://user:pw@m/f"}, "must not carry a user or password"),
    ({"url": "http://m/f", "horizon": "60"}, "horizon must be a count and a unit"),
    ({"url": "http://m/f", "horizon": "0m"}, "horizon must be a count and a unit"),
    ({"url": "http://m/f", "timeout_secs": 0}, "timeout_secs"),
    ({"url": "http://m/f", "timeout_secs": 61}, "timeout_secs"),
    ({"url": "http://m/f", "headers_env": {"Authorization": "model-token"}}, "headers_env"),
    ({"url": "http://m/f", "headers_env": {"Bad Header": "TOKEN"}}, "headers_env"),
    ({"url": "http://m/f", "candles": 0}, "candles"),
    ({"url": "http://m/f", "breaker_failures": 0}, "breaker_failures"),
    ({"url": "http://m/f", "token": "abc"}, "token"),
    ({}, "set url (a model to ask) or replay"),
])
def test_refused(fields, says):
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(**fields)


def test_replay_alone_is_enough():
    config = ModelConfig(replay="forecasts.jsonl")
    assert config.replay == Path("forecasts.jsonl") and config.name is None and config.url is None
