"""What the command line's commands share: exit codes, logging, bad-input exits, dates, progress.

Each command is kept beside its package (`runner.backtest.commands`, `runner.control.commands`,
`runner.daemon.commands`, `runner.research.commands`, ...) and `main.py` adds them to its app."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Optional

import typer

EXIT_BAD_INPUT = 2


def setup_logging(level: str = "INFO", **options) -> None:
    from runner.daemon.logging_setup import setup_logging as configure

    configure(level=level, **options)


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
