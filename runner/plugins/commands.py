"""`botrunner strategies` and `botrunner plugins`: what a config may name, and where each comes from.

Kept beside the plugins and added to `main.py`'s app, so the CLI module stays one page. Each
name an installed package offers is imported to show whether it can be used; one that cannot
is listed with why, and the command exits 2 (a package to fix or uninstall).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from runner.cli_common import EXIT_BAD_INPUT

_AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per name instead of the table.")]


def strategies(as_json: _AsJson = False) -> None:
    """List the strategies a bot config may name: built in, and offered by installed packages
    (entry point group botrunner.strategies)."""
    from strategies.registry import ENTRY_POINT_GROUP, OUTSIDE, builtin_names, strategy_class

    rows: list[dict[str, Any]] = [{"name": name, "source": "built-in", "target": _target(strategy_class(name)),
                                   "problem": ""} for name in builtin_names() if name not in OUTSIDE]
    for offered in OUTSIDE.describe():
        problem = offered.problem
        if not problem:
            try:
                strategy_class(offered.name)          # a clash with a built-in shows here
            except LookupError as exc:
                problem = str(exc.args[0])
        rows.append({"name": offered.name, "source": offered.package, "target": offered.target, "problem": problem})
    _print(sorted(rows, key=lambda r: r["name"]), ENTRY_POINT_GROUP, as_json)


def plugins(as_json: _AsJson = False) -> None:
    """List the plugins a bot config may name: those offered by installed packages (entry point
    group botrunner.plugins; none ship with botrunner)."""
    from runner.plugins.registry import ENTRY_POINT_GROUP, INSTALLED

    rows = [{"name": o.name, "source": o.package, "target": o.target, "problem": o.problem}
            for o in INSTALLED.describe()]
    _print(rows, ENTRY_POINT_GROUP, as_json)


def _print(rows: list[dict[str, Any]], group: str, as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
    elif not rows:
        typer.echo(f"none installed: a package offers them through its {group} entry points")
    else:
        width = max(len(r["name"]) for r in rows)
        source_width = max(len(r["source"]) for r in rows)
        for r in rows:
            detail = f"cannot be used: {r['problem']}" if r["problem"] else r["target"]
            typer.echo(f"{r['name']:<{width}}  {r['source']:<{source_width}}  {detail}")
    if any(r["problem"] for r in rows):
        raise typer.Exit(EXIT_BAD_INPUT)


def _target(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
