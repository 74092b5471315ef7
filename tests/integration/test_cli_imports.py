"""The command line starts without importing what its commands run: each command imports its
own dependencies when it runs (`main.py`), so `botrunner --help` or a command's help costs
none of the project's models, no exchange client, no numpy (typer itself brings pydantic).
Checked in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

_HELP_AND_LIST_MODULES = """
import json, runpy, sys
sys.argv = ["botrunner", *sys.argv[1:]]
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("args", [["--help"], ["status", "--help"], ["plugins", "--help"]],
                         ids=["botrunner", "status", "plugins"])
def test_help_imports_none_of_the_models_no_exchange_client_and_no_numpy(args):
    result = subprocess.run([sys.executable, "-c", _HELP_AND_LIST_MODULES, *args],
                            cwd=PROJECT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert not modules & {"ccxt", "aiohttp", "numpy", "pandas", "execution", "market", "strategies", "risk"}
