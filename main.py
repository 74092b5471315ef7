"""`botrunner`: the command line.

    botrunner backtest [CONFIG] [--data PATH] [--from DATE] [--to DATE] [--json]
    botrunner validate PATH...

With no CONFIG, `backtest` runs the embedded default bot (sim mode, synthetic candles).
Bad input (a config or data file that is wrong) exits with code 2 and one line per problem.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from loguru import logger

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Run crypto trading bots: backtest, validate configs, and (soon) the daemon.")

EXIT_BAD_INPUT = 2


def setup_logging(level: str = "INFO") -> None:
    """The only place sinks are configured; every line carries the bot id it concerns."""
    logger.remove()
    logger.configure(extra={"bot": "-"})
    logger.add(sys.stderr, level=level, format="{time:HH:mm:ss.SSS} {level:<7} [{extra[bot]}] {message}")


def _fail(lines: list[str], code: int = EXIT_BAD_INPUT) -> None:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


def _parse_date(value: Optional[str], option: str) -> Optional[datetime]:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail([f"{option}: expected a date like 2022-01-15 or 2022-01-15T12:00, got {value!r}"])
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@app.command()
def backtest(
    config: Annotated[Optional[Path], typer.Argument(help="Bot config YAML; omit for the embedded demo bot.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Candle file (CSV or ccxt JSON) instead of the config's.")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="First candle time (inclusive), ISO date.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="End time (exclusive), ISO date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the report.")] = False,
    trades_out: Annotated[Optional[Path], typer.Option("--trades-out", help="Write the closed trades as CSV.")] = None,
    equity_out: Annotated[Optional[Path], typer.Option("--equity-out", help="Write the equity curve as CSV.")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    """Run one bot in sim mode over historical candles, as fast as the CPU allows."""
    from market.errors import MarketDataError
    from runner.backtest import run_backtest
    from runner.config import ConfigError, load_bot_config
    from runner.defaults import DEFAULT_BOT
    from runner.errors import BotError
    from runner.report import format_report, write_equity_csv, write_trades_csv

    setup_logging(log_level)
    start, end = _parse_date(from_, "--from"), _parse_date(to, "--to")
    try:
        bot = load_bot_config(config) if config is not None else DEFAULT_BOT
        with logger.contextualize(bot=bot.id):
            result = asyncio.run(run_backtest(bot, data_path=data, start=start, end=end))
    except ConfigError as exc:
        _fail(exc.problems)
    except MarketDataError as exc:
        _fail([str(exc)])
    except BotError as exc:
        _fail([f"{bot.id}: {exc}"], code=1)
    if trades_out:
        write_trades_csv(result, trades_out)
    if equity_out:
        write_equity_csv(result, equity_out)
    typer.echo(json.dumps(result.summary()) if as_json else format_report(result))


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Bot config files, or folders of *.yaml files.")],
) -> None:
    """Check bot configs without running anything. Exit 0 when all are valid, 2 otherwise."""
    from runner.config import ConfigError, load_bot_config

    setup_logging("WARNING")
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                problems.append(f"{path}: no *.yaml files in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    for file in files:
        try:
            bot = load_bot_config(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
        else:
            typer.echo(f"ok  {file}  ({bot.id}: {bot.strategy.name} on {bot.symbol} {bot.timeframe}, {bot.mode})")
    if problems:
        _fail(problems)


if __name__ == "__main__":
    app()
