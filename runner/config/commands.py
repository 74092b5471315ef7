"""`botrunner validate`: configs checked as `run` and `backtest` read them, nothing run; added to
`main.py`'s app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli_common import fail, setup_logging


def validate(
    paths: Annotated[list[Path], typer.Argument(help="Bot config files, folders of them, or a daemon's config folder.")],
) -> None:
    """Check configs as `run` and `backtest` would read them, without running anything. Exit 0
    when all are valid, 2 otherwise."""
    from runner.config.validate import validate_paths

    setup_logging("WARNING")
    valid, problems = validate_paths(paths)
    baskets: dict[tuple[Path, str], list[str]] = {}       # a basket's legs: one line for the basket
    for source, bot in valid:
        if bot.basket is not None:
            baskets.setdefault((source, bot.basket.basket), []).append(bot.symbol)
        else:
            typer.echo(f"ok  {source}  ({bot.id}: {bot.strategy.name} on {bot.symbol} {bot.timeframe}, {bot.mode})")
    for (source, basket_id), symbols in baskets.items():
        bot = next(b for s, b in valid if s == source and b.basket is not None and b.basket.basket == basket_id)
        typer.echo(f"ok  {source}  ({basket_id}: {bot.strategy.name} on {', '.join(symbols)} {bot.timeframe}, {bot.mode})")
    if problems:
        fail(problems)
