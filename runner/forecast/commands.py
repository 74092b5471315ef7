"""The command line of forecasts: `botrunner forecasts` and `botrunner model serve`.

Kept beside what it drives and added to `main.py`'s app, so the CLI module stays one page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

model_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Prediction models: serve the reference model.")


@model_app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port on 127.0.0.1.")] = 8780,
    order: Annotated[int, typer.Option("--order", min=1, max=50, help="AR order of the reference model.")] = 5,
) -> None:
    """Serve the reference model (a rolling least-squares autoregression on log returns) on
    127.0.0.1, speaking the model contract (see the README), until Ctrl-C or SIGTERM."""
    from runner.forecast.model_server import serve_model

    typer.echo(f"reference model on http://127.0.0.1:{port}/forecast (Ctrl-C stops it)", err=True)
    try:
        asyncio.run(serve_model(port=port, order=order))
    except (ValueError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def forecasts(
    bot: Annotated[Optional[str], typer.Option("--bot", help="Only this bot's forecasts.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only this model's.")] = None,
    symbol: Annotated[Optional[str], typer.Option("--symbol", help="Only this symbol's.")] = None,
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The daemon's state folder.")] = Path("state"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of the tables.")] = False,
    export: Annotated[Optional[Path], typer.Option("--export", help="Write the forecasts as JSON lines, the file "
                                                   "a model's `replay:` reads.")] = None,
) -> None:
    """How right each model has been, per model and symbol: forecasts, hit rate, errors, mean
    confidence and hit rate by confidence; works with or without the daemon."""
    from runner.state.forecast_report import export_forecasts, format_table, summarize, to_json
    import sqlite3

    from runner.state.forecasts import ForecastStoreMissing

    try:
        if export is not None:
            lines = export_forecasts(state_dir, export, bot=bot, model=model, symbol=symbol)
            typer.echo(f"{lines} forecast(s) written to {export}")
            return
        summaries = summarize(state_dir, bot=bot, model=model, symbol=symbol)
    except ForecastStoreMissing as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except sqlite3.DatabaseError as exc:     # opened read-only: the first query finds out what it holds
        where = state_dir / "forecasts.sqlite3" if state_dir.is_dir() else state_dir
        typer.echo(f"{where}: not a forecast store the daemon can read ({exc})", err=True)
        raise typer.Exit(1) from None
    typer.echo(to_json(summaries) if as_json else format_table(summaries))
