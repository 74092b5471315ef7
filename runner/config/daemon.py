"""The daemon's config folder: `daemon.yaml` plus one YAML file per bot in `bots/`.

```yaml
# daemon.yaml (every key optional)
state_dir: state                 # snapshots, journal, control socket; --state-dir wins
control:
  socket: null                   # default <state_dir>/botrunner.sock
  tcp: {host: 127.0.0.1, port: 8765, token_env: BOTRUNNER_TOKEN}   # optional, loopback only
log: {level: INFO, json: false, file: null, rotation: 50 MB, retention: 10}
stop_grace_secs: 10
snapshot_interval_secs: 5
supervisor: {max_restarts: 5, window_secs: 300, backoff_initial_secs: 1, backoff_max_secs: 60}
bot_defaults:                    # merged under every bot file; the bot file wins
  execution: {fee_rate: 0.001}
risk_groups:                     # limits across the bots naming the group (risk_group: majors)
  majors: {max_gross_exposure_pct: 0.8, max_symbol_exposure_pct: 0.5, max_open_positions: 3,
           max_entries_per_candle: 2}
account_limits:                  # limits across every paper/live bot of an exchange account
  binance/main: {max_gross_exposure_pct: 0.9}
notifications:                   # apprise URLs, read from these variables (see runner.notify.config)
  urls_env: [BOTRUNNER_NOTIFY_URL]
  events: [kill, failed, daemon, daily]
cluster:                         # several daemons sharing the bots (see runner.cluster.config)
  node: node-a
  redis_url_env: BOTRUNNER_REDIS_URL
  postgres_url_env: BOTRUNNER_POSTGRES_URL
  lease_secs: 10
```

`load_config_dir` validates the daemon file and every bot file before anything starts, and
reports every problem of every file at once.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from market.limits import Flag, Number, WholeNumber
from market.strict import StrictModel
from risk.group import RiskGroupLimits
from runner.config.backoff import BackoffSettings
from runner.config.basket import basket_config_problems, is_basket
from runner.config.bot import BotConfig, ConfigError, bot_config_problems, read_yaml_mapping
from runner.config.errors import describe_errors
from runner.config.shown_path import config_path
from runner.cluster.config import ClusterConfig
from runner.notify.config import NotificationsConfig


class TcpControl(StrictModel):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[WholeNumber, Field(ge=1, le=65535)]
    token_env: str = "BOTRUNNER_TOKEN"


# sockaddr_un.sun_path holds 108 bytes on Linux, one the terminating NUL (as
# runner.control.endpoints.MAX_SOCKET_PATH_BYTES, not imported: config models import no control code).
_MAX_SOCKET_PATH_BYTES = 107


class ControlConfig(StrictModel):
    socket: Path | None = None
    tcp: TcpControl | None = None

    @field_validator("socket", mode="before")
    @classmethod
    def _socket_is_named(cls, value: Any) -> Any:
        # Checked before conversion: Path("") is ".", a folder no socket can be bound at.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a socket file, e.g. /run/botrunner/botrunner.sock")
        return value

    @field_validator("socket")
    @classmethod
    def _socket_path_fits(cls, path: Path | None) -> Path | None:
        # Refused here, with exit 2 and the field named, not when the daemon binds it.
        if path is not None and (size := len(os.fsencode(path))) > _MAX_SOCKET_PATH_BYTES:
            raise ValueError(f"{size} bytes long; a Unix socket's path holds at most {_MAX_SOCKET_PATH_BYTES}: "
                             "choose a shorter one, e.g. /run/botrunner/botrunner.sock")
        return path


class LogConfig(StrictModel):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    json_lines: Annotated[Flag, Field(alias="json")] = False
    file: Path | None = None
    rotation: str = "50 MB"
    retention: Annotated[WholeNumber, Field(ge=1)] = 10

    @field_validator("rotation", mode="before")
    @classmethod
    def _rotation_is_text(cls, value: Any) -> Any:
        # A number is loguru's size in bytes; "must be text, got 720" would not say what text.
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(f'must be text such as "50 MB", "1 day" or "12:00"; got {value}')
        return value


class SupervisorConfig(BackoffSettings):
    max_restarts: Annotated[WholeNumber, Field(ge=0, le=1000)] = 5
    window_secs: Annotated[Number, Field(gt=0, le=86_400)] = 300.0


GroupName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="lower-case letters, digits, - and _")]
AccountName = Annotated[str, Field(pattern=r"^[a-z0-9]+/[a-z0-9][a-z0-9_-]{0,31}$",
                                   description="exchange/account, e.g. binance/main")]


class DaemonConfig(StrictModel):
    state_dir: Path = Path("state")
    control: ControlConfig = ControlConfig()
    log: LogConfig = LogConfig()
    stop_grace_secs: Annotated[Number, Field(gt=0, le=3600)] = 10.0
    # At least 0.1 s: a snapshot is a file write and an fsync per bot; 1e-9 would do nothing else.
    snapshot_interval_secs: Annotated[Number, Field(ge=0.1, le=3600)] = 5.0
    # The event loop not turning for this long (a bot's strategy in an endless loop or a blocking
    # call holds every bot) is logged as an ERROR naming the bot and its code (runner.daemon.loop_watchdog).
    loop_blocked_secs: Annotated[Number, Field(ge=0.1, le=3600)] = 10.0
    supervisor: SupervisorConfig = SupervisorConfig()
    bot_defaults: dict[str, Any] = {}
    risk_groups: dict[GroupName, RiskGroupLimits] = {}
    """Limits across the bots that name the group (`risk_group:` in a bot file), in any mode."""
    account_limits: dict[AccountName, RiskGroupLimits] = {}
    """Limits across every paper or live bot of an exchange account, keyed `exchange/account`
    (e.g. `binance/main`); a bot naming a `risk_group` is in that group instead."""
    notifications: NotificationsConfig | None = None
    """Kill switches, failed bots, the daemon's start and stop, fills, a daily summary, sent
    through apprise to the URLs in the environment variables it names."""
    cluster: ClusterConfig | None = None
    """Cluster mode: bots shared with other daemons through Redis leases, their journal and
    snapshots in PostgreSQL. None: this daemon alone, SQLite and JSON files."""

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_is_named(cls, value: Any) -> Any:
        # Checked before conversion: Path("") is ".", the folder the daemon was started in.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder, e.g. state or /var/lib/botrunner")
        return value

    def socket_path(self) -> Path:
        return self.control.socket or self.state_dir / "botrunner.sock"


def load_config_dir(config_dir: Path | str) -> tuple[DaemonConfig, list[BotConfig]]:
    """Read `daemon.yaml` (optional) and `bots/*.yaml`; ConfigError lists every problem."""
    config_dir = config_path(config_dir)      # a name with a line break is quoted in messages
    if not config_dir.is_dir():
        raise ConfigError([f"{config_dir}: no such folder; expected a folder with daemon.yaml and bots/*.yaml"])
    problems: list[str] = []
    daemon = DaemonConfig()
    daemon_file = config_dir / "daemon.yaml"
    if daemon_file.exists():
        try:
            daemon = DaemonConfig.model_validate(read_yaml_mapping(daemon_file, empty_is_defaults=True))
        except ConfigError as exc:
            problems.extend(exc.problems)
        except ValidationError as exc:
            problems.extend(f"{daemon_file}: {line}" for line in describe_errors(exc, DaemonConfig))
    bots, bot_problems = load_bot_folder(config_dir / "bots", daemon.bot_defaults)
    problems.extend(bot_problems)
    for bot in bots:
        if bot.risk_group is not None and bot.risk_group not in daemon.risk_groups:
            known = ", ".join(sorted(daemon.risk_groups)) or "none (add risk_groups to daemon.yaml)"
            problems.append(f"{config_dir / 'bots'}: bot {bot.id}: risk_group: no group {bot.risk_group!r} in "
                            f"daemon.yaml; groups: {known}")
    if problems:
        raise ConfigError(problems)
    return daemon, bots


def load_bot_folder(folder: Path, defaults: dict[str, Any]) -> tuple[list[BotConfig], list[str]]:
    """Every bot file in `folder` with `defaults` merged under it, and the problems found."""
    folder = config_path(folder)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if folder.exists() and not folder.is_dir():
        return [], [f"{folder}: is a file; expected a folder holding one YAML file per bot"]
    problems: list[str] = unread_yaml_files(folder)
    if not files:
        return [], [*problems, f"{folder}: no bot configs (*.yaml) found"]
    bots: list[BotConfig] = []
    ids: list[str] = []                      # each bot's, and each basket's own: `status pair` names one thing
    files_of: dict[str, list[str]] = {}      # bot id -> the files that define it
    for file in files:
        try:
            own = read_yaml_mapping(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        raw = deep_merge(defaults, own)
        if is_basket(raw):                   # symbols: [...]: a bot per symbol, its legs (runner.config.basket)
            config, file_problems = basket_config_problems(file, raw)
            found = config.legs() if config is not None else []
            if config is not None:           # its legs' ids (pair.btc-usdt) cannot be a bot's; its own can
                ids.append(config.id)
                files_of.setdefault(config.id, []).append(file.name)
        else:
            config, file_problems = bot_config_problems(file, raw)
            found = [config] if config is not None else []
        problems.extend(_name_defaults(line, file, defaults, own) for line in file_problems)
        for bot in found:
            files_of.setdefault(bot.id, []).append(file.name)
        ids.extend(bot.id for bot in found)
        bots.extend(found)
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        where = "; ".join(f"{i} in {', '.join(sorted(set(files_of[i])))}" for i in repeated)
        problems.append(f"{folder}: bot ids must be unique; repeated: {where}")
    return bots, problems


def _name_defaults(problem: str, file: Path, defaults: dict[str, Any], own: dict[str, Any]) -> str:
    """`problem` (a line about `file`), saying so when its field comes from daemon.yaml's
    `bot_defaults` and not from the file: there is nothing to fix in the file it names."""
    field = problem.removeprefix(f"{file}: ").split(": ", 1)[0]
    keys = [key.split("[", 1)[0] for key in field.split(".")]
    if _has(defaults, keys) and not _has(own, keys):
        return f"{problem} (set in daemon.yaml's bot_defaults)"
    return problem


def _has(mapping: dict[str, Any], keys: list[str]) -> bool:
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return False
        mapping = mapping[key]
    return True


def unread_yaml_files(folder: Path) -> list[str]:
    """A problem for each file of `folder` named like YAML in another case (`BTC.YAML`): only
    `*.yaml` and `*.yml` are read, and such a bot would be left out without a word."""
    if not folder.is_dir():
        return []
    return [f"{path}: not read: a bot file's name ends in .yaml or .yml, in lower case"
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in (".yaml", ".yml") and path.suffix not in (".yaml", ".yml")]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, merging nested mappings key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
