"""Fixtures for the market tests, beside the shared `log_records` and `shared_data` of
tests/conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture
def warnings_logged(log_records: list[dict[str, Any]]) -> Callable[[], list[str]]:
    """Call it to get the WARNING messages logged so far."""
    return lambda: [r["message"] for r in log_records if r["level"].name == "WARNING"]


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text (or bytes) to a file named `name` in tmp_path and return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write
