"""`botrunner backtest` (one bot, a basket, or every bot of a daemon folder) and `botrunner
download-data` (the candles a backtest reads): the commands that run without a daemon, kept
beside the backtests and added to `main.py`'s app.

Imports of what a command runs stay inside it: `botrunner --help` and the other commands do not
pay for them, and a backtest of a candle file loads no exchange client
(tests/integration/test_backtest_imports.py).
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from loguru import logger

from runner.cli_common import check_output_file, fail, parse_date, progress_bar, setup_logging


def backtest(
    config: Annotated[Optional[Path], typer.Argument(
        help="Bot config YAML, or a daemon folder (daemon.yaml, bots/) to backtest all its bots together; "
             "omit for the embedded demo bot.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Candle file (CSV or ccxt JSON) instead of the config's.")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="First candle time (inclusive), ISO date.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="End time (exclusive), ISO date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the report.")] = False,
    trades_out: Annotated[Optional[Path], typer.Option("--trades-out", help="Write the closed trades as CSV.")] = None,
    equity_out: Annotated[Optional[Path], typer.Option("--equity-out", help="Write the equity curve as CSV.")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write one self-contained HTML report (charts, monthly returns, trades).")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    """Run one bot in sim mode over historical candles, as fast as the CPU allows; with a daemon
    folder, every bot of it over the same period, with its risk groups (a portfolio backtest)."""
    # What a single bot's backtest runs; a basket, an HTML report (numpy) and a folder import
    # theirs where they run.
    from market.errors import MarketDataError
    from runner.backtest.run import run_backtest
    from strategies.entry_points import EntryPointError
    from runner.config.basket import BasketConfig, load_bot_or_basket
    from runner.config.bot import ConfigError
    from runner.bot.errors import BotError
    from runner.backtest.progress import LongRunProgress
    from runner.backtest.report import format_report, write_equity_csv, write_trades_csv

    # The process ends with this command, and the interpreter's last full collections would walk
    # every candle and object of the run (~0.1 s of CPU after a month of 1m candles) to find no
    # garbage worth a pause: frozen at exit, they are skipped. In a process that goes on (a test
    # calling this function), nothing changes until it exits.
    atexit.register(gc.freeze)
    setup_logging(log_level)
    start, end = parse_date(from_, "--from"), parse_date(to, "--to")
    if start is not None and end is not None and end <= start:      # said of the options, not of the market
        fail([f"--to: {end.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} is not after --from {start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"])
    for path, option in ((trades_out, "--trades-out"), (equity_out, "--equity-out"), (report, "--report")):
        check_output_file(path, option)
    if config is not None and config.is_dir():
        if data is not None:
            fail(["--data: not for a portfolio backtest of a folder (each bot reads its own market)"])
        for given, option, what in ((trades_out, "--trades-out", "trades"), (equity_out, "--equity-out", "equity curve")):
            if given is not None:
                fail([f"{option}: writes one bot's {what}, not a folder's: --report writes the portfolio's "
                      f"(every bot's trades, the summed equity), or backtest one bot's file"])
        _backtest_folder(config, start, end, as_json, report)
        return
    try:
        bot = load_bot_or_basket(config) if config is not None else _default_bot()
        if config is not None and (bot.template if isinstance(bot, BasketConfig) else bot).mode != "sim":
            bot = _as_sim(config, data)
        basket = None
        with logger.contextualize(bot=bot.id), progress_bar(f"backtest {bot.id}", log_level, as_json) as bar:
            progress = LongRunProgress(bar, unit="candles") if bar else None
            if isinstance(bot, BasketConfig):          # symbols: [...], one leg per symbol (runner.basket)
                if data is not None:
                    fail(["--data: a basket reads a market per symbol (markets: in its file), not one file"])
                from runner.basket.backtest import run_basket_backtest

                basket = asyncio.run(run_basket_backtest(bot, start=start, end=end, progress=progress))
                result = basket.result
            else:
                result = asyncio.run(run_backtest(bot, data_path=data, start=start, end=end, progress=progress))
    except ConfigError as exc:
        fail(exc.problems)
    except MarketDataError as exc:
        # The candles the config's own market names (no --data): say which config and field, as
        # validate does; the message names the candle file.
        own = config is not None and data is None and not isinstance(bot, BasketConfig)
        fail([f"{config}: market: {exc}" if own else str(exc)])
    except EntryPointError as exc:    # the embedded bot's strategy shadowed by an installed package's
        fail([f"{bot.id}: strategy.name: {exc}"])
    except BotError as exc:
        fail([f"{bot.id}: {exc}"], code=1)
    try:         # checked before the run; a disk that fills or a /proc path can still refuse
        if trades_out:
            write_trades_csv(result, trades_out)
        if equity_out:
            write_equity_csv(result, equity_out)
        if report:
            from runner.backtest.html_report import write_html_report

            write_html_report(result, report)
    except OSError as exc:
        fail([f"cannot write {exc.filename or 'an output file'}: {exc.strerror or exc}"])
    if basket is not None:
        from runner.basket.backtest import format_basket_report

        typer.echo(json.dumps(basket.summary(), allow_nan=False) if as_json else format_basket_report(basket))
        return
    typer.echo(json.dumps(result.summary(), allow_nan=False) if as_json else format_report(result))   # standard JSON only


def _as_sim(path: Path, data: Optional[Path]):
    """A paper or live bot's (or basket's) file backtested as a sim bot, as `optimize` searches
    one: its strategy, risk and execution settings, sending nothing. A paper or live file has no
    market of its own: without --data it runs on the default synthetic candles, and says so."""
    from runner.config.basket import basket_config_problems, is_basket
    from runner.config.bot import ConfigError, bot_config_problems, read_yaml_mapping

    raw = read_yaml_mapping(path)
    mode, basket = raw.get("mode"), is_basket(raw)
    raw["mode"] = "sim"
    if not basket:
        raw.pop("exchange", None)    # a sim basket's legs drop it themselves; its provider may need it
    config, problems = (basket_config_problems if basket else bot_config_problems)(path, raw)
    if config is None:
        raise ConfigError(problems)
    if basket and config.fields.symbol_provider is not None and config.fields.symbol_provider.source == "top_volume":
        return config                # refused as it is: no symbols to replay
    if data is None:
        logger.warning("{}: a {} {}, backtested in sim on the default synthetic candles{}", path, mode,
                       *(("basket", ", a series per symbol (a sim copy with markets: reads candle files)") if basket
                         else ("bot", " (give --data FILE for the exchange's own: botrunner download-data)")))
    return config


def _default_bot():
    # Imported when used: the module validates the embedded bot's config as it is imported.
    from runner.config.defaults import DEFAULT_BOT

    return DEFAULT_BOT


def _backtest_folder(folder: Path, start: Optional[datetime], end: Optional[datetime], as_json: bool,
                     report: Optional[Path]) -> None:
    from market.errors import MarketDataError
    from runner.backtest.html_report import write_html_report
    from runner.backtest.portfolio import load_portfolio, run_portfolio
    from runner.backtest.portfolio_report import format_portfolio_report
    from runner.bot.errors import BotError
    from runner.config.bot import ConfigError

    try:
        daemon, bots = load_portfolio(folder)
        result = asyncio.run(run_portfolio(daemon, bots, start=start, end=end))
    except ConfigError as exc:
        fail(exc.problems)
    except (MarketDataError, ValueError) as exc:
        fail([f"{folder}: {exc}"])
    except BotError as exc:
        fail([str(exc)], code=1)
    if report:
        write_html_report(result.as_backtest(), report)      # the whole: summed equity, every bot's trades
    typer.echo(json.dumps(result.summary(), allow_nan=False) if as_json else format_portfolio_report(result))


def download_data(
    exchange: Annotated[str, typer.Option("--exchange", help="ccxt exchange id, e.g. binance, kraken.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Market as ccxt writes it, e.g. BTC/USDT.")],
    timeframe: Annotated[str, typer.Option("--timeframe", help="Candle length: 1m, 5m, 1h, 1d ...")],
    since: Annotated[str, typer.Option("--since", help="First candle time (inclusive), ISO date.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write; an existing one is continued.")],
    until: Annotated[Optional[str], typer.Option("--until", help="End time (exclusive), ISO date; default: now.")] = None,
    base_url: Annotated[Optional[str], typer.Option(
        "--base-url", help="Send the requests here instead, e.g. a testnet: https://testnet.binance.vision")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    """Download past candles (public data, no keys) into a CSV file for backtests; run it again to resume."""
    from market.download import DownloadFailed, DownloadInputError, run_download

    setup_logging(log_level)
    start, end = parse_date(since, "--since"), parse_date(until, "--until")
    try:
        with progress_bar(f"{symbol} {timeframe}", log_level) as bar:
            if bar:
                bar.show()          # a download is as long as the network makes it: shown from the start

            def progress(done_ms: int, total_ms: int, written: int) -> None:
                if bar:
                    bar.update(done_ms, total_ms, f"{written:,} candles")

            summary = asyncio.run(run_download(
                exchange, symbol, timeframe, out, since_ms=round(start.timestamp() * 1000),
                until_ms=round(end.timestamp() * 1000) if end else None, base_url=base_url, progress=progress))
    except DownloadInputError as exc:
        fail([str(exc)])
    except DownloadFailed as exc:
        fail([str(exc)], code=1)
    typer.echo(summary.describe())
