"""`botrunner run`'s plan: the config folder read and checked, before any of the daemon is imported.

Everything here runs before the daemon's stack (`runner.daemon.process`: bots, exchange clients,
the control server) is loaded, so a typo in a config, a live bot without its gates, an unset
variable, is refused in the time it takes to read the files, not after a second of imports.
Keep the imports of this module to config models and checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner.basket.provider import provider_baskets
from runner.cluster.config import cluster_problems
from runner.config.bot import BotConfig, ConfigError
from runner.config.daemon import DaemonConfig, load_config_dir
from runner.config.defaults import DEMO_BOTS, DEMO_DASHBOARD_PORT
from runner.control.endpoints import SOCKET_NAME
from runner.daemon.startup_heap import collector_paused
from runner.notify.apprise_target import url_problems

__all__ = ["LIVE_ENV", "DaemonPlan", "LiveTradingNotAllowed", "check_live_gates", "demo_daemon_config", "plan_daemon"]

LIVE_ENV = "I_UNDERSTAND_LIVE_TRADING"

MIN_TOKEN_CHARS = 16
"""The shortest TCP control token taken: it is all that stands between a local process (or a page
open in the browser) and kill, resume and reload."""


@dataclass(slots=True, frozen=True)
class DaemonPlan:
    """Everything `run` needs, validated before anything starts."""

    daemon: DaemonConfig
    bots: list[BotConfig]
    config_dir: Path | None
    state_dir: Path
    token: str | None
    state_dir_setting: str = "state_dir"
    """How the state folder was given, for messages: `--state-dir` or `<dir>/daemon.yaml: state_dir`."""

    @property
    def socket_path(self) -> Path:
        """Where the control API listens: control.socket, or botrunner.sock in the state folder."""
        return self.daemon.control.socket or self.state_dir / SOCKET_NAME

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        """control.tcp's (host, port), or None."""
        tcp = self.daemon.control.tcp
        return (tcp.host, tcp.port) if tcp is not None else None


class LiveTradingNotAllowed(Exception):
    """Live bots are configured but the two safety gates are not both open."""


def check_live_gates(bots: list[BotConfig], *, live_flag: bool, environ: dict[str, str]) -> None:
    """Live mode needs both `--live` and I_UNDERSTAND_LIVE_TRADING=true; say which is missing."""
    live = sorted(b.id for b in bots if b.mode == "live" and b.enabled)
    if not live:
        return
    missing = []
    if not live_flag:
        missing.append("--live on the command line")
    if environ.get(LIVE_ENV, "").lower() != "true":
        missing.append(f"{LIVE_ENV}=true in the environment")
    if missing:
        who = f"bot {live[0]} trades" if len(live) == 1 else f"bots {', '.join(live)} trade"
        raise LiveTradingNotAllowed(
            f"refusing to start: {who} real money (mode: live). Live trading needs "
            f"both --live on the command line and {LIVE_ENV}=true in the environment; missing: "
            f"{' and '.join(missing)}. Use mode: paper to trade on live prices without orders.")


def demo_daemon_config(environ: dict[str, str]) -> DaemonConfig:
    """The demo's daemon settings: every default, plus the dashboard on 127.0.0.1:DEMO_DASHBOARD_PORT
    when BOTRUNNER_TOKEN is set (a TCP port needs a token to guard its actions with; without
    one the demo listens on its socket only, as before)."""
    if not environ.get("BOTRUNNER_TOKEN"):
        return DaemonConfig()
    return DaemonConfig.model_validate({"control": {"tcp": {"port": DEMO_DASHBOARD_PORT}}})


def plan_daemon(config_dir: Path | None, state_dir: Path | None, *, live_flag: bool = False,
                environ: dict[str, str] | None = None) -> DaemonPlan:
    """Read and check the config folder (or take the demo bots, `DEMO_BOTS`, when there is none).
    Raises ConfigError with every problem found, LiveTradingNotAllowed when live bots are
    configured without both safety gates."""
    environ = dict(os.environ) if environ is None else environ
    if config_dir is None:
        daemon, bots = demo_daemon_config(environ), list(DEMO_BOTS)
    else:
        with collector_paused():     # see runner.daemon.startup_heap: ten thousand files, no garbage
            daemon, bots = load_config_dir(config_dir)
    check_live_gates(bots, live_flag=live_flag, environ=environ)
    if daemon.notifications is not None:
        # Checked here, not when the first kill needs it: a typo in a variable's name must stop
        # the start, not surface at 3 a.m. as a notification that never left.
        if problems := url_problems(daemon.notifications.urls_env, environ):
            where = config_dir / "daemon.yaml" if config_dir else "daemon.yaml"
            raise ConfigError([f"{where}: notifications.urls_env: {p}" for p in problems])
    if daemon.cluster is not None and (problems := cluster_problems(
            daemon.cluster, environ, str(config_dir / "daemon.yaml" if config_dir else "daemon.yaml"))):
        raise ConfigError(problems)        # the URLs' variables, checked before anything opens
    if daemon.cluster is not None and config_dir is not None and (moving := provider_baskets(config_dir)):
        # A basket is leased whole (runner.cluster.coordinator), but each node would fetch its
        # own symbol list, and legs a refresh adds are known to no node's leases.
        raise ConfigError([f"{config_dir / 'daemon.yaml'}: cluster: baskets with a symbol_provider cannot run in "
                           f"cluster mode yet ({', '.join(moving)}): each node would fetch its own symbols; "
                           "list the symbols in the file, or run them on a daemon of their own"])
    token = None
    if daemon.control.tcp is not None:
        token = environ.get(daemon.control.tcp.token_env)
        if not token:
            where = config_dir / "daemon.yaml" if config_dir else "daemon.yaml"
            raise ConfigError([f"{where}: control.tcp: set the token in the environment variable "
                               f"{daemon.control.tcp.token_env} (the TCP control API needs one)"])
        where = f"{config_dir / 'daemon.yaml'}: control.tcp" if config_dir else "the demo's dashboard"
        if not (token.isascii() and token.isprintable() and token == token.strip()):
            # A client cannot send other characters in a header as they are (the CLI's raised
            # UnicodeEncodeError; latin-1 bytes read back otherwise), and the server strips the value.
            raise ConfigError([f"{where}: the token in {daemon.control.tcp.token_env} must be printable ASCII with "
                               "no space at either end (an HTTP header carries it): make one with python3 -c "
                               "'import secrets; print(secrets.token_urlsafe(24))'"])
        if len(token) < MIN_TOKEN_CHARS:        # its length only: the token itself is never shown
            raise ConfigError([f"{where}: the token in {daemon.control.tcp.token_env} has "
                               f"{len(token)} characters; at least {MIN_TOKEN_CHARS} are needed (it guards kill, "
                               "resume and live orders' bots): make one with python3 -c 'import secrets; "
                               "print(secrets.token_urlsafe(24))'"])
    if state_dir is not None:
        setting = "--state-dir"
    else:
        setting = f"{config_dir / 'daemon.yaml'}: state_dir" if config_dir else "state_dir"
    return DaemonPlan(daemon, bots, config_dir, state_dir or daemon.state_dir, token, setting)
