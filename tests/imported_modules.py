"""What a `botrunner` command imports, seen from a real process: the command line runs as the
console script runs it, then the process names every module it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["command_modules"]

PROJECT = Path(__file__).resolve().parents[1]

_RUN_AND_LIST_MODULES = """
import json, runpy, sys
sys.argv = ["botrunner", *sys.argv[1:]]
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print(json.dumps(sorted(sys.modules)))
"""


def command_modules(*args: str) -> tuple[str, set[str]]:
    """The output of `botrunner ARGS` (a command that succeeds) and the modules its process
    imported, each with every package above it ("a.b.c" also gives "a" and "a.b")."""
    result = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
                            cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output, _, modules = result.stdout.strip().rpartition("\n")
    return output, {".".join(name.split(".")[:depth]) for name in json.loads(modules)
                    for depth in range(1, name.count(".") + 2)}
