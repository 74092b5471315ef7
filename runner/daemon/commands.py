"""`botrunner run` (the daemon) and `botrunner journal` (what it recorded, read from its state
folder or a cluster's PostgreSQL, with or without the daemon running); added to `main.py`'s app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from runner.cli_common import fail, setup_logging


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
    # What can be refused is checked first, each with only what it needs imported: the configs,
    # the log file, the state folder, the control socket and port. The daemon's stack (bots,
    # exchange clients, the control server: a second of imports) comes after, so a typo is
    # refused in the time it takes to read the files, for a person and for a restart loop alike.
    from runner.config.bot import ConfigError
    from runner.control.endpoints import ControlEndpointUnusable, ControlSocketInUse, check_control_endpoints
    from runner.daemon.logging_setup import LogSetupError
    from runner.daemon.plan import LiveTradingNotAllowed, plan_daemon
    from runner.state.state_dir import StartupError, StateDirLock

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
        state_lock = StateDirLock.acquire(plan.state_dir, setting=plan.state_dir_setting)
    except StartupError as exc:             # names --state-dir or daemon.yaml's state_dir itself
        fail([str(exc)])
    try:
        # Before the bots are built and the journal opened: a port or socket in use was found
        # only when the server started, seconds later with a thousand bots. The server binds
        # with the same checks, so one taken in between is refused with the same message.
        check_control_endpoints(plan.socket_path, plan.tcp_address)
    except ControlEndpointUnusable as exc:
        fail([f"{daemon_file}{exc}"])
    except (ControlSocketInUse, ValueError) as exc:
        fail([str(exc)], code=1)
    from runner.daemon.process import format_summary, run_daemon

    try:
        statuses = asyncio.run(run_daemon(plan, state_lock=state_lock))
    except StartupError as exc:             # a cluster's database, say
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


def _no_events_of_kind(bot: str, kinds: list[str], has: set[str], path: Path) -> str:
    """Why `journal --kind` shows nothing: the bot has none of those kinds (a typo'd `fills`, or
    no fill yet), or no events at all; the kinds it does have are the ones to ask for."""
    if not has:
        return f"no journal events for bot {bot!r} in {path}"
    return (f"no {' or '.join(kinds)} events for bot {bot!r} in {path}; its journal has "
            f"{', '.join(sorted(has))} events")


def journal(
    bot: Annotated[str, typer.Argument(help="The bot's id; a basket's id shows every leg's events.")],
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The daemon's state folder.")] = Path("state"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the last N events.")] = 50,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="Only these kinds: order, fill, cancel, kill, resume, lifecycle, error, risk, governance, cluster.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    postgres_url_env: Annotated[Optional[str], typer.Option(
        "--postgres-url-env", metavar="NAME", help="A cluster's journal: the variable holding its PostgreSQL URL.")] = None,
) -> None:
    """Print a bot's journal (orders, fills, kill switch, lifecycle); works with or without the daemon."""
    from market.models import iso_utc
    from runner.state.journal import SqliteJournal
    from runner.state.state_dir import JOURNAL_FILE, StateFileUnreadable

    path, basket = state_dir / JOURNAL_FILE, False
    if postgres_url_env:
        from runner.cluster.postgres.reader import read_events
        events, path, basket = read_events(bot, postgres_url_env, kinds=tuple(kind) if kind else None, fail=fail)
        events = events[-limit:]
    else:
        if not path.exists():
            fail([f"no journal at {path}; is --state-dir the daemon's state folder?"], code=1)
        try:
            store = SqliteJournal(path)
        except StateFileUnreadable as exc:
            fail([str(exc)], code=1)
        try:
            # A basket's id (no bot of its own, as `kill` and `resume` take it): its legs' events,
            # each line naming its leg.
            basket = "." not in bot and not store.last_seq(bot) and bool(store.basket_events(bot, limit=1))
            read = store.basket_events if basket else store.events
            events = read(bot, kinds=tuple(kind) if kind else None)[-limit:]
            if not events and kind:
                fail([_no_events_of_kind(bot, kind, {e.kind for e in read(bot)}, path)], code=1)
        finally:
            store.close()
    if not events:
        fail([f"no journal events for bot {bot!r} in {path}"], code=1)
    leg_width = max(len(e.bot_id) for e in events)
    for e in events:
        if as_json:
            typer.echo(json.dumps({**({"bot": e.bot_id} if basket else {}), "seq": e.seq, "ts_ms": e.ts_ms,
                                   "kind": e.kind, "key": e.key, "bar": e.bar, "data": e.data}))
        else:
            detail = " ".join(f"{k}={v}" for k, v in e.data.items() if v is not None)
            leg = f"{e.bot_id:<{leg_width}} " if basket else ""
            typer.echo(f"{e.seq:>7} {iso_utc(e.ts_ms)} {leg}{e.kind:<9} {e.key or '-':<16} {detail}")
