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
```

`load_config_dir` validates the daemon file and every bot file before anything starts, and
reports every problem of every file at once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.config import BotConfig, ConfigError, bot_config_problems, read_yaml_mapping
from runner.config_errors import describe_errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TcpControl(_Strict):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)]
    token_env: str = "BOTRUNNER_TOKEN"


class ControlConfig(_Strict):
    socket: Path | None = None
    tcp: TcpControl | None = None


class LogConfig(_Strict):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    json_lines: Annotated[bool, Field(alias="json")] = False
    file: Path | None = None
    rotation: str = "50 MB"
    retention: Annotated[int, Field(ge=1)] = 10


class SupervisorConfig(_Strict):
    max_restarts: Annotated[int, Field(ge=0, le=1000)] = 5
    window_secs: Annotated[float, Field(gt=0)] = 300.0
    backoff_initial_secs: Annotated[float, Field(ge=0)] = 1.0
    backoff_max_secs: Annotated[float, Field(ge=0)] = 60.0


class DaemonConfig(_Strict):
    state_dir: Path = Path("state")
    control: ControlConfig = ControlConfig()
    log: LogConfig = LogConfig()
    stop_grace_secs: Annotated[float, Field(gt=0, le=3600)] = 10.0
    snapshot_interval_secs: Annotated[float, Field(gt=0, le=3600)] = 5.0
    supervisor: SupervisorConfig = SupervisorConfig()
    bot_defaults: dict[str, Any] = {}

    def socket_path(self) -> Path:
        return self.control.socket or self.state_dir / "botrunner.sock"


def load_config_dir(config_dir: Path | str) -> tuple[DaemonConfig, list[BotConfig]]:
    """Read `daemon.yaml` (optional) and `bots/*.yaml`; ConfigError lists every problem."""
    config_dir = Path(config_dir)
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
    if problems:
        raise ConfigError(problems)
    return daemon, bots


def load_bot_folder(folder: Path, defaults: dict[str, Any]) -> tuple[list[BotConfig], list[str]]:
    """Every bot file in `folder` with `defaults` merged under it, and the problems found."""
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if not files:
        return [], [f"{folder}: no bot configs (*.yaml) found"]
    bots: list[BotConfig] = []
    problems: list[str] = []
    for file in files:
        try:
            raw = deep_merge(defaults, read_yaml_mapping(file))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        config, file_problems = bot_config_problems(file, raw)
        problems.extend(file_problems)
        if config is not None:
            bots.append(config)
    repeated = sorted(i for i, n in Counter(b.id for b in bots).items() if n > 1)
    if repeated:
        problems.append(f"{folder}: bot ids must be unique; repeated: {', '.join(repeated)}")
    return bots, problems


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, merging nested mappings key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
