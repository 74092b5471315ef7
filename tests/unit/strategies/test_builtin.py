"""The built-in strategies are imported by name when asked for (`strategies.builtin`): the list
of names and modules must say what the modules register, and a lookup imports only its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from strategies.builtin import MODULES
from strategies.registry import builtin_names, strategy_class

PROJECT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_listed_module_registers_the_strategy_it_is_listed_for(name):
    cls = strategy_class(name)

    assert cls.name == name and cls.__module__ == MODULES[name]


def test_every_module_of_the_package_that_registers_a_strategy_is_listed():
    registering = {f"strategies.{path.stem}" for path in (PROJECT / "strategies").glob("*.py")
                   if re.search(r"^@register\b", path.read_text(), re.M)}

    assert registering == set(MODULES.values())
    assert set(MODULES) <= set(builtin_names())


def test_looking_up_one_strategy_imports_only_its_module():
    code = ("import json, sys; from strategies.registry import create_strategy; from strategies.builtin import MODULES; "
            "create_strategy('sma_cross', {}); print(json.dumps(sorted(set(MODULES.values()) & set(sys.modules))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["strategies.sma_cross"]
