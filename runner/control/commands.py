"""The control commands: `botrunner status`, `start`, `stop`, `kill`, `resume`, `move`, `trigger`,
`reload`, `promote`, `demote` and `governance` talk to a running daemon (`botrunner run`) over
its control socket, or its loopback TCP port with `--url`; added to `main.py`'s app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from runner.cli_common import EXIT_BAD_INPUT, fail, setup_logging

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
        lines = [exc.message, *exc.problems]
        if exc.status == 401:        # the server speaks to any HTTP client; this one reads the variable
            lines.append("BOTRUNNER_TOKEN here is not the daemon's token" if os.environ.get("BOTRUNNER_TOKEN")
                         else "BOTRUNNER_TOKEN is not set here: set it to the daemon's token to act over --url")
        fail(lines, code=EXIT_BAD_INPUT if exc.status in (400, 422) else 1)
    except ControlClientError as exc:
        if not_running is not None and isinstance(exc, not_running):
            raise
        fail([str(exc)], code=1)


def _echo_outcomes(statuses, asked: str | None = None) -> None:
    from runner.control.status_table import format_outcome

    for bot_status in statuses if isinstance(statuses, list) else [statuses]:
        typer.echo(format_outcome(bot_status, asked))


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


def start(bot: Annotated[str, typer.Argument(help="The bot's id; a basket's id starts every leg stopped.")],
          state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Start a stopped bot in the running daemon (a killed bot needs `resume` first)."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.start(bot)), bot)


def stop(bot: Annotated[str, typer.Argument(help="The bot's id; a basket's id stops every leg.")],
         state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Stop a running bot after its current step; `start` runs it again."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.stop(bot)), bot)


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
        _echo_outcomes(_control(state_dir, url, lambda client: client.kill(bot, reason)), bot)


def resume(bot: Annotated[Optional[str], typer.Argument(help="The bot's id; or use --all.")] = None,
           all_bots: Annotated[bool, typer.Option("--all", help="Cluster: release the global kill switch.")] = False,
           state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Release a killed bot's kill switch and start it again (--all: the cluster's global one)."""
    if (bot is None) != all_bots:
        fail(["resume: give either a BOT id or --all, not both" if bot else "resume: give a BOT id, or --all"])
    call = (lambda client: client.resume_all()) if all_bots else (lambda client: client.resume(bot))
    _echo_outcomes(_control(state_dir, url, call), bot)


def move(bot: Annotated[str, typer.Argument(help="The bot's id.")],
         node: Annotated[str, typer.Argument(help="The cluster node to run it on.")],
         state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Cluster: run BOT on NODE; its owner stops it at a candle boundary and NODE takes it."""
    moved = _control(state_dir, url, lambda client: client.move(bot, node))
    typer.echo(f"{moved['bot']}: {moved['from'] or 'no node'} -> {moved['to']} ({moved['note']})")


def trigger(bot: Annotated[str, typer.Argument(help="The bot's id.")],
            state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Ask a bot's prediction model at its next candle, whatever its triggers say."""
    _echo_outcomes(_control(state_dir, url, lambda client: client.trigger(bot)))


def reload(state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Re-read the daemon's config folder: add, remove and restart changed bots (exit 2 on problems)."""
    from runner.control.status_table import format_reload

    typer.echo(format_reload(_control(state_dir, url, lambda client: client.reload())))


def promote(bot: Annotated[str, typer.Argument(help="The bot's id.")],
            state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Move a governed bot one level up (past L2 only a person does); refused, with the reason,
    until its promotion rule holds."""
    from runner.control.governance_status import format_governance

    typer.echo(format_governance([_control(state_dir, url, lambda client: client.promote(bot))]))


def demote(bot: Annotated[str, typer.Argument(help="The bot's id.")],
           state_dir: StateDirOption = DEFAULT_STATE_DIR, url: UrlOption = None) -> None:
    """Move a governed bot one level down."""
    from runner.control.governance_status import format_governance

    typer.echo(format_governance([_control(state_dir, url, lambda client: client.demote(bot))]))


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
    from runner.state.state_dir import StateFileUnreadable

    try:
        statuses = _control(state_dir, url, lambda client: client.governance(bot), not_running=DaemonNotRunning)
    except DaemonNotRunning:
        if url is not None:
            raise
        try:
            statuses = from_state_folder(state_dir, bot)
        except FileNotFoundError as exc:
            fail([f"no botrunner daemon is running, and {exc}"], code=1)
        except StateFileUnreadable as exc:
            fail([f"no botrunner daemon is running, and {exc}"], code=1)
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in statuses], indent=2))
    else:
        typer.echo(format_governance(statuses))
