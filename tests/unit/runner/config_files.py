"""A config file written for a test, and the problems loading it reports: what the config tests
(test_config, test_basket_config, test_yaml_loader, test_plugin_config, test_config_strict_values)
share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.bot import ConfigError, load_bot_config

# The smallest good sim bot: everything else takes its default.
SMALL_BOT = """\
id: btc-sma
symbol: BTC/USD
capital: 1000
market: {source: synthetic, seed: 3, bars: 500}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


def write(tmp_path: Path, text: str, name: str = "bot.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path, load: Callable[[Path], object] = load_bot_config) -> list[str]:
    """The problems `load(path)` reports in its ConfigError (the test fails if it loads the file)."""
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.problems
