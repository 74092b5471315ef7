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
    unlisted: list = []
    valid, problems = validate_paths(paths, unlisted=unlisted)
    baskets: dict[tuple[Path, str], list[str]] = {}       # a basket's legs: one line for the basket
    for source, bot in valid:
        if bot.basket is not None:
            baskets.setdefault((source, bot.basket.basket), []).append(bot.symbol)
        else:
            typer.echo(f"ok  {source}  ({bot.id}: {bot.strategy.name} on {bot.symbol} {bot.timeframe}, {bot.mode})")
    for (source, basket_id), symbols in baskets.items():
        legs = [b for s, b in valid if s == source and b.basket is not None and b.basket.basket == basket_id]
        bot = legs[0]
        typer.echo(f"ok  {source}  ({basket_id}: {bot.strategy.name} on {', '.join(symbols)} {bot.timeframe}, {bot.mode})")
        if bot.mode == "sim" and len({_replayed_span(leg.market) for leg in legs}) > 1:
            typer.echo(f"    note: its symbols replay candles of different sources; where their spans differ, the "
                       f"daemon steps each leg over its own and `botrunner backtest` every leg over the span all "
                       f"have, so the two end differently (`botrunner status {basket_id}` lists the spans)")
    for source, basket in unlisted:          # valid, but no symbol to name before it runs
        bot = basket.template
        typer.echo(f"ok  {source}  ({basket.id}: {bot.strategy.name} on {_provided(basket)} {bot.timeframe}, "
                   f"{bot.mode})")
    if problems:
        fail(problems)


def _replayed_span(market) -> tuple:
    """What sets the span of the candles a sim leg replays: its file and cut, or a synthetic
    series' start and length (the seed, mixed with each symbol, does not change it)."""
    if market.source == "synthetic":
        return ("synthetic", market.start, market.bars)
    return (market.source, str(market.path), market.start, market.end)


def _provided(basket) -> str:
    """What a basket with no symbol yet will trade, as its provider says."""
    provider = basket.fields.symbol_provider
    if getattr(provider, "source", None) == "top_volume":
        exchange = basket.template.exchange.id if basket.template.exchange is not None else "its exchange"
        return f"the top {provider.count} {provider.quote} symbols by 24h volume on {exchange} (asked when it runs)"
    return f"no symbol yet ({provider.path} lists none)" if provider is not None else "no symbol"
