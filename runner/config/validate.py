"""`botrunner validate`: check configs exactly as `botrunner run` and `backtest` would read them.

A daemon folder (one with `daemon.yaml` or `bots/`) is checked as `run` reads it: `daemon.yaml`,
every bot file with `bot_defaults` merged under it, unique ids, risk groups that exist. A bot
file, or a folder of bot files, is checked as `backtest` reads it. Either way a sim bot's candle
file must exist: a config that names a missing file is not "ok".
"""

from __future__ import annotations

from pathlib import Path

from market.config import CsvSource, JsonSource, TicksSource
from runner.config.basket import BasketConfig, load_bot_or_basket
from runner.config.bot import BotConfig, ConfigError
from runner.config.daemon import load_config_dir

__all__ = ["validate_paths"]


def validate_paths(paths: list[Path]) -> tuple[list[tuple[Path, BotConfig]], list[str]]:
    """(the valid bots with the file or folder they came from, every problem found)."""
    valid: list[tuple[Path, BotConfig]] = []
    problems: list[str] = []
    for path in paths:
        if _is_daemon_folder(path):
            try:
                _, bots = load_config_dir(path)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            valid.extend((path / "bots", bot) for bot in bots)
        elif path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not files:
                problems.append(f"{path}: no *.yaml files in this folder")
            valid.extend(_load_files(files, problems))
        elif path.exists():
            valid.extend(_load_files([path], problems))
        else:
            problems.append(f"{path}: no such file or folder")
    checked = []
    for source, bot in valid:
        if (missing := _missing_data(bot)) is not None:
            problems.append(f"{source}: bot {bot.id}: market.path: no such file {missing} (paths are relative to "
                            "the folder botrunner runs in; `botrunner download-data` fetches candles)")
        else:
            checked.append((source, bot))
    return checked, problems


def _is_daemon_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "daemon.yaml").is_file() or (path / "bots").is_dir())


def _load_files(files: list[Path], problems: list[str]) -> list[tuple[Path, BotConfig]]:
    loaded = []
    for file in files:
        try:
            config = load_bot_or_basket(file)
            # A basket is checked as its legs, one bot config per symbol (runner.config.basket).
            loaded.extend((file, leg) for leg in (config.legs() if isinstance(config, BasketConfig) else [config]))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return loaded


def _missing_data(bot: BotConfig) -> Path | None:
    market = bot.market
    if bot.mode == "sim" and isinstance(market, CsvSource | JsonSource | TicksSource) and not market.path.exists():
        return market.path
    return None
