"""The market: block of a bot config: the source picks the model, ranges and dates are checked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from market.config import CsvSource, JsonSource, MarketConfig, SyntheticSource

MARKET = TypeAdapter(MarketConfig)


def test_the_source_field_picks_the_model():
    assert isinstance(MARKET.validate_python({"source": "csv", "path": "a.csv"}), CsvSource)
    assert isinstance(MARKET.validate_python({"source": "json", "path": "a.json"}), JsonSource)
    assert isinstance(MARKET.validate_python({"source": "synthetic"}), SyntheticSource)


def test_synthetic_defaults():
    config = SyntheticSource(source="synthetic")

    assert (config.seed, config.bars, config.start_price, config.volatility) == (42, 45_000, 100.0, 0.002)
    assert config.start == datetime(2024, 1, 1, tzinfo=UTC)


def test_relative_paths_are_kept_as_written():
    assert MARKET.validate_python({"source": "csv", "path": "../data/x.csv"}).path == Path("../data/x.csv")


def test_naive_dates_are_utc():
    raw = {"source": "csv", "path": "a.csv", "start": "2022-01-01", "end": "2022-01-02T00:00:00Z"}
    config = MARKET.validate_python(raw)

    assert config.start == datetime(2022, 1, 1, tzinfo=UTC) and config.end == datetime(2022, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("end", ["2022-01-01", "2021-12-31T23:00:00Z"])
def test_end_must_be_after_start(end):
    with pytest.raises(ValidationError, match="end .* must be after start"):
        MARKET.validate_python({"source": "json", "path": "a.json", "start": "2022-01-01", "end": end})


@pytest.mark.parametrize(
    "fields",
    [{"bars": 0}, {"bars": 10_000_001}, {"start_price": 0}, {"volatility": 0}, {"volatility": 0.5}],
)
def test_synthetic_numbers_out_of_range_are_refused(fields):
    with pytest.raises(ValidationError):
        MARKET.validate_python({"source": "synthetic", **fields})


@pytest.mark.parametrize(
    "raw",
    [{"source": "csv", "path": "a.csv", "seed": 1}, {"source": "synthetic", "path": "a.csv"},
     {"source": "parquet"}],
)
def test_unknown_fields_and_sources_are_refused(raw):
    with pytest.raises(ValidationError):
        MARKET.validate_python(raw)


def test_configs_are_frozen():
    config = SyntheticSource(source="synthetic")

    with pytest.raises(ValidationError):
        config.seed = 1  # type: ignore[misc]
