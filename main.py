"""`botrunner`: the command line.

    botrunner backtest [CONFIG] [--data PATH] [--from DATE] [--to DATE] [--json] [--report FILE.html]
    botrunner backtest CONFIG_DIR [--from DATE] [--to DATE] [--json]     every bot of a daemon folder
    botrunner validate PATH...
    botrunner strategies|plugins [--json]      the names a config may use, and their packages
    botrunner optimize CONFIG --param fast=5:30 [--method grid|random|tpe] [--walk-forward N] [--out best.yaml]
    botrunner run [CONFIG_DIR] [--state-dir DIR] [--log-json]      the daemon
    botrunner journal BOT [--state-dir DIR] [--limit N] [--kind KIND] [--json]
    botrunner download-data --exchange ID --symbol SYM --timeframe TF --since DATE [--until DATE] --out FILE
    botrunner status [BOT] [--json]         botrunner start|stop|resume|trigger BOT
    botrunner kill (BOT | --all) --reason TEXT     botrunner resume (BOT | --all)     botrunner reload
    botrunner move BOT NODE                 cluster mode: run BOT on NODE
    botrunner promote|demote BOT            botrunner governance [BOT] [--json]
    botrunner forecasts [--bot B] [--model M] [--symbol S] [--json] [--export PATH]
    botrunner model serve [--port 8780]             the reference prediction model

With no CONFIG, `backtest` runs the embedded default bot (sim mode, synthetic candles).
Bad input (a config or data file that is wrong) exits with code 2 and one line per problem.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from loguru import logger

from runner.cli_common import EXIT_BAD_INPUT, fail, parse_date, progress_bar, setup_logging

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Run crypto trading bots: the daemon, its control commands, backtests and config checks.")


def _add_commands_kept_beside_their_packages() -> None:
    from runner.forecast.commands import forecasts, model_app
    from runner.plugins.commands import plugins, strategies
    from runner.research.commands import optimize

    app.command("strategies")(strategies)
    app.command("plugins")(plugins)
    app.command("forecasts")(forecasts)
    app.add_typer(model_app, name="model")
    app.command("optimize")(optimize)


@app.command()
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
    from market.errors import MarketDataError
    from runner.backtest.run import run_backtest
    from strategies.entry_points import EntryPointError
    from runner.basket.backtest import format_basket_report, run_basket_backtest
    from runner.config.basket import BasketConfig, load_bot_or_basket
    from runner.config.bot import ConfigError
    from runner.config.defaults import DEFAULT_BOT
    from runner.bot.errors import BotError
    from runner.backtest.html_report import write_html_report
    from runner.backtest.progress import LongRunProgress
    from runner.backtest.report import format_report, write_equity_csv, write_trades_csv

    setup_logging(log_level)
    start, end = parse_date(from_, "--from"), parse_date(to, "--to")
    if config is not None and config.is_dir():
        for given, option in ((data, "--data"), (trades_out, "--trades-out"), (equity_out, "--equity-out")):
            if given is not None:
                fail([f"{option}: not for a portfolio backtest of a folder (each bot reads its own market)"])
        _backtest_folder(config, start, end, as_json, report)
        return
    try:
        bot = load_bot_or_basket(config) if config is not None else DEFAULT_BOT
        basket = None
        with logger.contextualize(bot=bot.id), progress_bar(f"backtest {bot.id}", log_level, as_json) as bar:
            progress = LongRunProgress(bar, unit="candles") if bar else None
            if isinstance(bot, BasketConfig):          # symbols: [...], one leg per symbol (runner.basket)
                if data is not None:
                    fail(["--data: a basket reads a market per symbol (markets: in its file), not one file"])
                basket = asyncio.run(run_basket_backtest(bot, start=start, end=end, progress=progress))
                result = basket.result
            else:
                result = asyncio.run(run_backtest(bot, data_path=data, start=start, end=end, progress=progress))
    except ConfigError as exc:
        fail(exc.problems)
    except MarketDataError as exc:
        fail([str(exc)])
    except EntryPointError as exc:    # the embedded bot's strategy shadowed by an installed package's
        fail([f"{bot.id}: strategy.name: {exc}"])
    except BotError as exc:
        fail([f"{bot.id}: {exc}"], code=1)
    if trades_out:
        write_trades_csv(result, trades_out)
    if equity_out:
        write_equity_csv(result, equity_out)
    if report:
        write_html_report(result, report)
    if basket is not None:
        typer.echo(json.dumps(basket.summary(), allow_nan=False) if as_json else format_basket_report(basket))
        return
    typer.echo(json.dumps(result.summary(), allow_nan=False) if as_json else format_report(result))   # standard JSON only


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


@app.command()
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


@app.command()
def run(
    config_dir: Annotated[Optional[Path], typer.Argument(
        help="Folder with daemon.yaml (optional) and bots/*.yaml; omit for three paced demo bots.")] = None,
    state_dir: Annotated[Optional[Path], typer.Option(
        "--state-dir", help="Snapshots, journal and control socket (default: daemon.yaml's state_dir, ./state).")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines instead of text.")] = False,
    log_level: Annotated[Optional[str], typer.Option("--log-level", help="Overrides daemon.yaml's log.level.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Allow mode: live bots (also needs I_UNDERSTAND_LIVE_TRADING=true).")] = False,
) -> None:
    """Run the daemon: every enabled bot of CONFIG_DIR, until they are all done or SIGTERM/SIGINT."""
    from runner.config.bot import ConfigError
    from runner.control.server import ControlEndpointUnusable, ControlSocketInUse
    from runner.daemon.process import LiveTradingNotAllowed, format_summary, plan_daemon, run_daemon
    from runner.daemon.logging_setup import LogSetupError
    from runner.state.state_dir import StartupError

    try:
        plan = plan_daemon(config_dir, state_dir, live_flag=live)
    except ConfigError as exc:
        fail(exc.problems)
    except LiveTradingNotAllowed as exc:
        fail([str(exc)])
    log = plan.daemon.log
    daemon_file = f"{config_dir / 'daemon.yaml'}: " if config_dir else ""
    try:
        setup_logging(level=log_level or log.level, json_lines=log_json or log.json_lines, file=log.file,
                      rotation=log.rotation, retention=log.retention)
    except LogSetupError as exc:
        fail([f"{daemon_file}{exc}"])
    try:
        statuses = asyncio.run(run_daemon(plan))
    except StartupError as exc:             # names --state-dir or daemon.yaml's state_dir itself
        fail([str(exc)])
    except ControlEndpointUnusable as exc:
        fail([f"{daemon_file}{exc}"])
    except (ControlSocketInUse, ValueError) as exc:
        fail([str(exc)], code=1)
    typer.echo(format_summary(statuses))
    enabled = [s for s in statuses if s.enabled]
    if enabled and not any(s.started for s in enabled):
        # systemd reads exit 0 as a clean stop: a daemon none of whose bots could run is not one.
        typer.echo("no bot could start (see the notes above)", err=True)
        raise typer.Exit(1)


@app.command()
def journal(
    bot: Annotated[str, typer.Argument(help="The bot's id.")],
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The daemon's state folder.")] = Path("state"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the last N events.")] = 50,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="Only these kinds: order, fill, cancel, kill, resume, lifecycle, error, risk, governance.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    postgres_url_env: Annotated[Optional[str], typer.Option(
        "--postgres-url-env", metavar="NAME", help="A cluster's journal: the variable holding its PostgreSQL URL.")] = None,
) -> None:
    """Print a bot's journal (orders, fills, kill switch, lifecycle); works with or without the daemon."""
    from market.models import iso_utc
    from runner.daemon.process import JOURNAL_FILE
    from runner.state.journal import SqliteJournal

    path = state_dir / JOURNAL_FILE
    if postgres_url_env:
        from runner.cluster.postgres.reader import read_events
        events, path = read_events(bot, postgres_url_env, kinds=tuple(kind) if kind else None, fail=fail)
        events = events[-limit:]
    else:
        if not path.exists():
            fail([f"no journal at {path}; is --state-dir the daemon's state folder?"], code=1)
        store = SqliteJournal(path)
        try:
            events = store.events(bot, kinds=tuple(kind) if kind else None)[-limit:]
        finally:
            store.close()
    if not events:
        fail([f"no journal events for bot {bot!r} in {path}"], code=1)
    for e in events:
        if as_json:
            typer.echo(json.dumps({"seq": e.seq, "ts_ms": e.ts_ms, "kind": e.kind, "key": e.key, "bar": e.bar, "data": e.data}))
        else:
            detail = " ".join(f"{k}={v}" for k, v in e.data.items() if v is not None)
            typer.echo(f"{e.seq:>7} {iso_utc(e.ts_ms)} {e.kind:<9} {e.key or '-':<16} {detail}")


@app.command("download-data")
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


# --- Control commands: talk to a running daemon (`botrunner run`) over its control socket. ---

StateDirOption = Annotated[Path, typer.Option(
    "--state-dir", help="The daemon's state folder; its control socket is <DIR>/botrunner.sock.")]
UrlOption = Annotated[Optional[str], typer.Option(
    "--url", help="Reach the daemon on loopback TCP instead, e.g. http://127.0.0.1:8765 (token from BOTRUNNER_TOKEN).")]
DEFAULT_STATE_DIR = Path("state")


def _control(state_dir: Path, url: Optional[str], call, *, not_running: type[Exception] | None = None):
    """Run `call(client)` against the daemon; any failure prints its message and exits (1, or 2
    when the request itself was bad: an empty reason, a config folder with problems). With
    `not_running` (DaemonNotRunning), that error is raised for the caller to fall back on."""
    import os

    from runner.control.client import ControlClient, ControlClientError, ControlRequestFailed, socket_path

    setup_logging("WARNING")

    async def run():
        async with ControlClient(None if url else socket_path(state_dir), url=url,
                                 token=os.environ.get("BOTRUNNER_TOKEN")) as client:
            return await call(client)

    try:
        return asyncio.run(run())
    except ControlRequestFailed as exc:
        fail([exc.message, *exc.problems], code=EXIT_BAD_INPUT if exc.status in (400, 422) else 1)
    except ControlClientError as exc:
        if not_running is not None and isinstance(exc, not_running):
            raise
        fail([str(exc)], code=1)


def _echo_outcomes(statuses) -> None:
    from runner.control.status_table import format_outcome

    for bot_status in statuses if isinstance(statuses, list) else [statuses]:
        typer.echo(format_outcome(bot_status))


@app.command()
def status(
    bot: Annotated[Optional[str], typer.Argument(help="One bot's id; omit for every bot.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")] = False,
    state_dir: StateDirOption = DEFAULT_STATE_DIR,
    url: UrlOption = None,
) -> None:
    """Show the running daemon's bots: state, position, equity, pnl, kill reason or last error.
    A basket's id shows the basket: its cash, equity, open positions, kill switch and legs."""
    from runner.basket.status import BasketStatus, format_basket_status
    from runner.control.status_table import format_status_table

    found = _control(state_dir, url, lambda client: client.bot_or_basket(bot) if bot else client.bots())
    if isinstance(found, BasketStatus):
        typer.echo(json.dumps(found.model_dump(mode="json"), indent=2) if as_json else format_basket_status(found))
        return
    statuses = found if isinstance(found, list) else [found]
    if as_json:
        payload = [s.model_dump(mode="json") for s in statuses]
        typer.echo(json.dumps(payload if bot is None else payload[0], indent=2))
    else:
        typer.echo(format_status_table(statuses))


@app.command()
def start(bot: Annotated[str, typer.Argument(help="The bot's id.")],
          state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Start a stopped bot in the running daemon (a killed bot needs `resume` first)."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.start(bot)))


@app.command()
def stop(bot: Annotated[str, typer.Argument(help="The bot's id.")],
         state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Stop a running bot after its current step; `start` runs it again."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.stop(bot)))


@app.command()
def kill(
    bot: Annotated[Optional[str], typer.Argument(help="The bot's id; or use --all.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why: logged and shown by `status`.")] = ...,
    all_bots: Annotated[bool, typer.Option("--all", help="Kill every bot.")] = False,
    state_dir: StateDirOption = DEFAULT_STATE_DIR,
    url: UrlOption = None,
) -> None:
    """Pull a bot's kill switch (or every bot's, with --all); it stays killed until `resume`."""
    if (bot is None) != all_bots:
        fail(["kill: give either a BOT id or --all, not both" if bot else "kill: give a BOT id, or --all"])
    if all_bots:
        _echo_outcomes(_control(state_dir, url, lambda client: client.kill_all(reason)))
    else:
        _echo_outcomes(_control(state_dir, url, lambda client: client.kill(bot, reason)))


@app.command()
def resume(bot: Annotated[Optional[str], typer.Argument(help="The bot's id; or use --all.")] = None,
           all_bots: Annotated[bool, typer.Option("--all", help="Cluster: release the global kill switch.")] = False,
           state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Release a killed bot's kill switch and start it again (--all: the cluster's global one)."""
    if (bot is None) != all_bots:
        fail(["resume: give either a BOT id or --all, not both" if bot else "resume: give a BOT id, or --all"])
    call = (lambda client: client.resume_all()) if all_bots else (lambda client: client.resume(bot))
    _echo_outcomes(_control(state_dir, url, call))


@app.command()
def move(bot: Annotated[str, typer.Argument(help="The bot's id.")],
         node: Annotated[str, typer.Argument(help="The cluster node to run it on.")],
         state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Cluster: run BOT on NODE; its owner stops it at a candle boundary and NODE takes it."""
    moved = _control(state_dir, url, lambda client: client.move(bot, node))
    typer.echo(f"{moved['bot']}: {moved['from'] or 'no node'} -> {moved['to']} ({moved['note']})")


@app.command()
def trigger(bot: Annotated[str, typer.Argument(help="The bot's id.")],
            state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Ask a bot's prediction model at its next candle, whatever its triggers say."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.trigger(bot)))


@app.command()
def reload(state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Re-read the daemon's config folder: add, remove and restart changed bots (exit 2 on problems)."""
    from runner.control.status_table import format_reload

    typer.echo(format_reload(_control(state_dir, url, lambda client: client.reload())))


@app.command()
def promote(bot: Annotated[str, typer.Argument(help="The bot's id.")],
            state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Move a governed bot one level up (past L2 only a person does); refused, with the reason,
    until its promotion rule holds."""
    from runner.control.governance_status import format_governance

    typer.echo(format_governance([_control(state_dir, url, lambda client: client.promote(bot))]))


@app.command()
def demote(bot: Annotated[str, typer.Argument(help="The bot's id.")],
           state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Move a governed bot one level down."""
    from runner.control.governance_status import format_governance

    typer.echo(format_governance([_control(state_dir, url, lambda client: client.demote(bot))]))


@app.command()
def governance(
    bot: Annotated[Optional[str], typer.Argument(help="One bot's id; omit for every governed bot.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of text.")] = False,
    state_dir: StateDirOption = DEFAULT_STATE_DIR,
    url: UrlOption = None,
) -> None:
    """Show governed bots' level, health, drift and last decisions; with no daemon running, what
    the state folder holds."""
    from runner.control.client import DaemonNotRunning
    from runner.control.governance_status import format_governance, from_state_folder

    try:
        statuses = _control(state_dir, url, lambda client: client.governance(bot), not_running=DaemonNotRunning)
    except DaemonNotRunning:
        if url is not None:
            raise
        try:
            statuses = from_state_folder(state_dir, bot)
        except FileNotFoundError as exc:
            fail([f"no botrunner daemon is running, and {exc}"], code=1)
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in statuses], indent=2))
    else:
        typer.echo(format_governance(statuses))


_add_commands_kept_beside_their_packages()

if __name__ == "__main__":
    app()
