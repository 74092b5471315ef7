"""The command line starts without importing what its commands run: each command imports its
own dependencies when it runs (`main.py`), so `botrunner --help` or a command's help costs
none of the project's models, no exchange client, no numpy (typer itself brings pydantic).
Checked in a real process."""

from __future__ import annotations

import pytest

from tests.imported_modules import command_modules


@pytest.mark.parametrize("args", [["--help"], ["status", "--help"], ["plugins", "--help"]],
                         ids=["botrunner", "status", "plugins"])
def test_help_imports_none_of_the_models_no_exchange_client_and_no_numpy(args):
    output, modules = command_modules(*args)

    assert "Usage: " in output
    assert not modules & {"ccxt", "aiohttp", "numpy", "pandas", "execution", "market", "strategies", "risk"}
