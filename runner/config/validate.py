"""`botrunner validate`: check configs exactly as `botrunner run` and `backtest` would read them.

A daemon folder (one with `daemon.yaml` or `bots/`) is checked as `run` reads it: `daemon.yaml`,
every bot file with `bot_defaults` merged under it, unique ids, risk groups that exist. A bot
file, or a folder of bot files, is checked as `backtest` reads it. Either way a sim bot's candle
file must exist and be read as the bot would read it (each file once, however many bots name
it): a config whose file is missing, empty, of another timeframe or mostly bad rows is not "ok"
here and then a failed bot in the daemon. Its rejected rows are warned about as a run would.
"""

from __future__ import annotations

import os
from pathlib import Path

from market.config import CsvSource, JsonSource, TicksSource
from market.errors import MarketDataError
from runner.config.basket import BasketConfig, basket_config_problems, is_basket, load_bot_or_basket
from runner.config.bot import BotConfig, ConfigError, read_yaml_mapping
from runner.config.daemon import deep_merge, load_config_dir, unread_yaml_files
from runner.config.shown_path import config_path

__all__ = ["validate_paths"]


def validate_paths(paths: list[Path], *, unlisted: list[tuple[Path, BasketConfig]] | None = None,
                   read_candles: bool = True) -> tuple[list[tuple[Path, BotConfig]], list[str]]:
    """(the valid bots with the file or folder they came from, every problem found). A valid
    basket with no symbol yet (a top-volume provider asks its exchange when it runs) has no leg
    to return: it is added to `unlisted`, with its file, where given. `read_candles=False`: a
    candle file must exist, but is not read (a caller that reads it next, and says why not)."""
    valid: list[tuple[Path, BotConfig]] = []
    problems: list[str] = []
    for path in map(config_path, paths):        # a name with a line break is quoted in messages
        if _is_daemon_folder(path):
            try:
                daemon, bots = load_config_dir(path)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            file_of = _files_by_id(path / "bots", daemon.bot_defaults)
            valid.extend((file_of.get(_unit_id(bot), path / "bots"), bot) for bot in bots)
            if unlisted is not None:      # each file read again: only for validate's report
                unlisted.extend(_baskets_without_legs(path / "bots", daemon.bot_defaults))
        elif path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            problems.extend(unread_yaml_files(path))
            if not files:
                problems.append(f"{path}: no *.yaml files in this folder")
            valid.extend(_load_files(files, problems, unlisted))
        elif path.exists():
            valid.extend(_load_files([path], problems, unlisted))
        elif path.is_symlink():          # exists() follows it: a link to a moved file, or a loop
            problems.append(f"{path}: a symbolic link to {os.readlink(path)}, which leads to no file "
                            "(it is missing, or the links go round in a loop)")
        else:
            problems.append(f"{path}: no such file or folder")
    checked = []
    read: dict[tuple, str | None] = {}      # (market, timeframe, symbol) -> the problem of reading it, if any
    for source, bot in valid:
        if (missing := _missing_data(bot)) is not None:
            problems.append(f"{source}: bot {bot.id}: market.path: no such file {missing} (paths are relative to "
                            "the folder botrunner runs in; `botrunner download-data` fetches candles)")
        elif read_candles and (unusable := _unusable_data(bot, read)) is not None:
            problems.append(f"{source}: bot {bot.id}: market: {unusable}")
        else:
            checked.append((source, bot))
    return checked, problems


def _is_daemon_folder(path: Path) -> bool:
    # A `bots` that is a file still makes a daemon folder: load_config_dir then says what it is.
    return path.is_dir() and ((path / "daemon.yaml").is_file() or (path / "bots").exists())


def _load_files(files: list[Path], problems: list[str], unlisted: list[tuple[Path, BasketConfig]] | None
                ) -> list[tuple[Path, BotConfig]]:
    loaded = []
    for file in files:
        try:
            config = load_bot_or_basket(file)
            # A basket is checked as its legs, one bot config per symbol (runner.config.basket).
            legs = config.legs() if isinstance(config, BasketConfig) else [config]
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        loaded.extend((file, leg) for leg in legs)
        if not legs and unlisted is not None:
            unlisted.append((file, config))
    return loaded


def _files_by_id(folder: Path, defaults: dict) -> dict[str, Path]:
    """Each id of a daemon's bot folder, already found valid, and the file that sets it, so that
    a report names the file as it does for a bot file given alone (the loader keeps only bots)."""
    found = {}
    for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        if isinstance(bot_id := deep_merge(defaults, read_yaml_mapping(file)).get("id"), str):
            found[bot_id] = file
    return found


def _unit_id(bot: BotConfig) -> str:
    """The id a bot's file sets: a basket leg's is its basket's."""
    return bot.basket.basket if bot.basket is not None else bot.id


def _baskets_without_legs(folder: Path, defaults: dict) -> list[tuple[Path, BasketConfig]]:
    """The baskets of a daemon's bot folder, already found valid, that have no symbol yet."""
    found = []
    for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        raw = deep_merge(defaults, read_yaml_mapping(file))
        if is_basket(raw) and (basket := basket_config_problems(file, raw)[0]) is not None and not basket.legs():
            found.append((file, basket))
    return found


def _unusable_data(bot: BotConfig, read: dict[tuple, str | None]) -> str | None:
    """Why a sim bot's candle file cannot be replayed (`market.factory.load_market`'s error), or
    None; each file, cut and timeframe is read once, the answer kept in `read`."""
    market = bot.market
    if bot.mode != "sim" or not isinstance(market, CsvSource | JsonSource | TicksSource):
        return None
    key = (market, bot.timeframe, bot.symbol if isinstance(market, TicksSource) else None)
    if key not in read:
        from market.factory import load_market    # the readers, numpy for some files: only where a file is named

        try:
            load_market(market, symbol=bot.symbol, timeframe=bot.timeframe)
            read[key] = None
        except MarketDataError as exc:
            read[key] = str(exc)
    return read[key]


def _missing_data(bot: BotConfig) -> Path | None:
    market = bot.market
    if bot.mode == "sim" and isinstance(market, CsvSource | JsonSource | TicksSource) and not market.path.exists():
        return market.path
    return None
