"""Golden runs: `pytest tests/golden --update-golden` rewrites the records on purpose."""

from __future__ import annotations

import pytest


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))
