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

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Run crypto trading bots: the daemon, its control commands, backtests and config checks.")


def _add_commands_kept_beside_their_packages() -> None:
    # Registered in the order `botrunner --help` lists them. Each command imports what it runs
    # when it runs: a backtest of a candle file loads no exchange client (test_backtest_imports).
    from runner.backtest.commands import backtest, download_data
    from runner.config.commands import validate
    from runner.control.commands import demote, governance, kill, move, promote, reload, resume, start, status, stop, trigger
    from runner.daemon.commands import journal, run
    from runner.forecast.commands import forecasts, model_app
    from runner.plugins.commands import plugins, strategies
    from runner.research.commands import optimize

    app.command("backtest")(backtest)
    app.command("validate")(validate)
    app.command("run")(run)
    app.command("journal")(journal)
    app.command("download-data")(download_data)
    for control_command in (status, start, stop, kill, resume, move, trigger, reload, promote, demote, governance):
        app.command(control_command.__name__)(control_command)
    app.command("strategies")(strategies)
    app.command("plugins")(plugins)
    app.command("forecasts")(forecasts)
    app.add_typer(model_app, name="model")
    app.command("optimize")(optimize)


_add_commands_kept_beside_their_packages()

if __name__ == "__main__":
    app()
