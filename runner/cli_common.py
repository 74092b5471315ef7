"""What the command line's commands share: exit codes, logging, bad-input exits, dates, progress.

Each command is kept beside its package (`runner.backtest.commands`, `runner.control.commands`,
`runner.daemon.commands`, `runner.research.commands`, ...) and `main.py` adds them to its app."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

EXIT_BAD_INPUT = 2


# loguru's levels, which --log-level names (in any case).
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def setup_logging(level: str = "INFO", **options) -> None:
    """Configure the sinks (`runner.daemon.logging_setup`); exits 2 naming --log-level and the
    levels there are when `level` is none of them (loguru's own answer is a traceback)."""
    from runner.daemon.logging_setup import setup_logging as configure

    if level.upper() not in LOG_LEVELS:
        fail([f"--log-level: must be one of {', '.join(LOG_LEVELS)}, got {level!r}"])
    configure(level=level.upper(), **options)


def check_output_file(path: Optional[Path], option: str) -> None:
    """Exit 2, naming `option`, when `path` cannot be written: checked before the work whose
    result it is to hold, not after a long backtest."""
    if path is None:
        return
    if path.is_dir():
        fail([f"{option}: {path} is a folder; give the name of a file (in it, say)"])
    folder = path.parent
    if not folder.is_dir():
        fail([f"{option}: cannot write {path}: no folder {folder}"])
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail([f"{option}: cannot write {path}: permission denied"])


def fail(lines: list[str], code: int = EXIT_BAD_INPUT) -> None:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


@contextmanager
def progress_bar(description: str, log_level: str, as_json: bool = False):
    """A `TerminalBar` (drawn once shown) where a person watches a terminal, else None. While
    it shows, log lines are printed above it (the stderr sink is set up again on rich's stream)."""
    from runner.backtest.progress import TerminalBar, wants_progress

    if not wants_progress(as_json=as_json):
        yield None
        return
    def relog() -> None:
        setup_logging(log_level)

    with TerminalBar(description, on_show=relog, on_close=relog) as bar:
        yield bar


def parse_date(value: Optional[str], option: str) -> Optional[datetime]:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail([f"{option}: expected a date like 2022-01-15 or 2022-01-15T12:00, got {value!r}"])
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
