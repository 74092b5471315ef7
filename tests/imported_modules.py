"""What a `botrunner` command imports, seen from a real process: the command line runs as the
console script runs it, then the process names every module it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["command_modules", "refused_command_modules"]

PROJECT = Path(__file__).resolve().parents[1]

_RUN_AND_LIST_MODULES = """
import json, runpy, sys
sys.argv = ["botrunner", *sys.argv[1:]]
code = 0
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def command_modules(*args: str) -> tuple[str, set[str]]:
    """The output of `botrunner ARGS` (a command that succeeds) and the modules its process
    imported, each with every package above it ("a.b.c" also gives "a" and "a.b")."""
    result = _run_and_list(args)
    assert result.returncode == 0, result.stderr
    output, _, modules = result.stdout.strip().rpartition("\n")
    return output, _with_packages(modules)


def refused_command_modules(*args: str) -> tuple[str, set[str]]:
    """The error output of `botrunner ARGS` (a command that refuses its input: exit 2) and the
    modules its process imported, as `command_modules` gives them."""
    result = _run_and_list(args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    return result.stderr, _with_packages(result.stdout.strip().rpartition("\n")[2])


def _run_and_list(args: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)


def _with_packages(modules_json: str) -> set[str]:
    return {".".join(name.split(".")[:depth]) for name in json.loads(modules_json)
            for depth in range(1, name.count(".") + 2)}
