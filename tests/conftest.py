"""Shared fixtures: loguru records (caplog cannot see loguru), a fake site-packages, a short folder
for sockets and the real-data folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from tests.fake_packages import Site, fake_site

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def log_records():
    """Every loguru record emitted during the test, as loguru's record dicts."""
    records: list[dict] = []
    sink_id = logger.add(lambda message: records.append(message.record), level="DEBUG")
    yield records
    logger.remove(sink_id)


@pytest.fixture
def site(tmp_path, monkeypatch) -> Iterator[Site]:
    """A fake site-packages folder on sys.path where a test installs a package with entry points
    (a strategy or plugin from outside the project)."""
    yield from fake_site(tmp_path, monkeypatch)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A fresh folder with a short path, removed after the test: a Unix socket's path must fit
    AF_UNIX's 107 bytes, and tmp_path can be longer. For a daemon's state folder too (its socket
    is there)."""
    path = Path(tempfile.mkdtemp(prefix="br-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip the test where it is absent (it is not part of the project).

    On CI (`$CI` set) the folder is always there, so its absence means a broken path: the test
    fails instead of turning into a skip in a green run."""
    if not SHARED_DATA.is_dir():
        missing = f"../shared/data is not present (looked for {SHARED_DATA})"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI is set, where the folder must exist", pytrace=False)
        pytest.skip(missing)
    return SHARED_DATA


def pytest_addoption(parser):
    # Here, not in tests/golden/conftest.py: pytest reads options only from the conftest files
    # it loads at start, and `pytest tests` does not load the golden folder's before parsing.
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.json from this run (after a change meant to alter results)")
