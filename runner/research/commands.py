"""`botrunner optimize`: the command line of the parameter search, added to `main.py`'s app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from runner.cli_common import check_output_file, fail, parse_date, progress_bar, setup_logging


def optimize(
    config: Annotated[Path, typer.Argument(help="Bot config YAML whose parameters are searched.")],
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", help="NAME=LOW:HIGH[:STEP] or NAME=A,B,C; a bare NAME is a strategy param (fast=5:30), "
                        "a dotted one a config path (risk.stop_loss_pct=0.01:0.05:0.01). Repeat it.")] = None,
    params_file: Annotated[Optional[Path], typer.Option("--params", help="YAML file of NAME: \"LOW:HIGH[:STEP]\".")] = None,
    method: Annotated[str, typer.Option("--method", help="grid, random or tpe (Optuna; the research extra).")] = "grid",
    trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="Trials (default: the whole grid; 100 otherwise).")] = None,
    objective: Annotated[str, typer.Option(
        "--objective", help="sharpe, return, return_over_drawdown, a plugin's name, or module:function.")] = "sharpe",
    min_trades: Annotated[int, typer.Option("--min-trades", min=0, help="Trials with fewer trades are infeasible.")] = 0,
    jobs: Annotated[Optional[int], typer.Option("--jobs", min=1, help="Processes (default: every core).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of random and TPE proposals.")] = 0,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name; the same name resumes it.")] = None,
    state_dir: Annotated[Path, typer.Option("--state-dir", help="Where trials are kept (optimize.sqlite).")] = Path("state"),
    data: Annotated[Optional[Path], typer.Option("--data", help="Candle file instead of the config's market.")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="First candle time (inclusive), ISO date.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="End time (exclusive), ISO date.")] = None,
    walk_forward: Annotated[int, typer.Option("--walk-forward", min=0, help="N folds of in-sample search, out-of-sample test.")] = 0,
    anchored: Annotated[bool, typer.Option("--anchored", help="Walk-forward searches on all past candles (default: rolling).")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Best trials shown.")] = 10,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the best values as a bot config YAML.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the report.")] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "WARNING",
) -> None:
    """Search a bot's parameters over backtests on every core: grid, random or TPE, optionally walk-forward."""
    import os

    from market.errors import MarketDataError
    from runner.config.bot import ConfigError
    from runner.research.objectives import UnknownObjective
    from runner.research.optimize import OptimizeRequest, run_optimize
    from runner.research.params import ParamError, load_params_file, make_space, parse_param
    from runner.research.report import format_optimize_report, optimize_json, write_best_config
    from runner.research.search import METHODS, SearchSettings

    setup_logging(log_level)
    check_output_file(out, "--out")      # before the search, not after it
    if method not in METHODS:
        fail([f"--method {method}: use one of {', '.join(METHODS)}"])
    try:
        specs = [parse_param(p) for p in param or []]
        if params_file is not None:
            specs += load_params_file(params_file)
        space = make_space(specs)
        if method == "grid":
            space.grid_size()            # a continuous range has no grid: say so before anything runs
    except ParamError as exc:
        fail([str(exc)])
    request = OptimizeRequest(
        config_path=config, space=space, objective=objective, jobs=jobs or os.cpu_count() or 1,
        settings=SearchSettings(method=method, n_trials=trials, seed=seed, min_trades=min_trades),
        state_dir=state_dir, study=study, data_path=data, start=parse_date(from_, "--from"),
        end=parse_date(to, "--to"), walk_forward=walk_forward, anchored=anchored, log_level=log_level)
    try:
        with progress_bar("optimize", log_level, as_json) as bar:
            if bar:
                bar.show()

            def progress(name: str):
                if bar is None:
                    return None
                return lambda done, total, best: bar.update(
                    done, total, f"{name}: {done:,}/{total:,} trials, best {'-' if best is None else f'{best:.4g}'}")

            result = run_optimize(request, progress=progress)
    except ConfigError as exc:
        fail(exc.problems)
    except (MarketDataError, UnknownObjective, ValueError) as exc:
        fail([str(exc)])
    except RuntimeError as exc:          # TPE without Optuna installed
        fail([str(exc)])
    except KeyboardInterrupt:
        fail(["interrupted: finished trials are kept; run the same command again to resume"], code=130)
    if out is not None and not write_best_config(result, out):
        typer.echo(f"no trial met the constraints: {out} not written", err=True)
    typer.echo(json.dumps(optimize_json(result, top=top), allow_nan=False) if as_json
               else format_optimize_report(result, top=top))
