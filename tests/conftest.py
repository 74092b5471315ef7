"""Shared fixtures: loguru records (caplog cannot see loguru) and the real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def log_records():
    """Every loguru record emitted during the test, as loguru's record dicts."""
    records: list[dict] = []
    sink_id = logger.add(lambda message: records.append(message.record), level="DEBUG")
    yield records
    logger.remove(sink_id)


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data`, or skip the test where it is absent (it is not part of the project)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
