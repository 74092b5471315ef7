"""A bot's YAML config: the schema, and a loader that reports every problem at once.

```yaml
id: btc-sma-cross
mode: sim
symbol: BTC/USD
timeframe: 1m
capital: 100000
market: {source: csv, path: ../shared/data/BTC_USD-1m-2022-01.csv}
strategy: {name: sma_cross, params: {fast: 10, slow: 30}}
risk: {stake_pct: 0.99, stop_loss_pct: 0.05}
execution: {fee_rate: 0.001, slippage_bps: 0}
```

`load_bot_config(path)` raises `ConfigError` whose `problems` are lines like
`configs/bots/x.yaml: risk.stake_pct: must be > 0 and <= 1, got 1.5`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import yaml
from pydantic import Field, ValidationError, model_validator

from execution.config import ExecutionConfig
from execution.exchange_config import ExchangeConfig
from market.config import MarketConfig, SyntheticSource
from market.file_kind import special_file_kind
from market.limits import MAX_CAPITAL, Flag, Number
from market.models import timeframe_ms
from market.strict import StrictModel
from risk.config import RiskConfig
from risk.governance.config import GovernanceConfig
from runner.config.basket_leg import BasketLeg
from runner.config.errors import describe_errors
from runner.config.regime import AllowedRegimes, RegimeConfig
from runner.config.session import SessionConfig, session_fits_timeframe
from runner.config.shown_path import config_path
from runner.config.timeframes import higher_timeframe_problems
from runner.config.yaml_loader import StrictSafeLoader
from runner.forecast.config import ModelConfig
from runner.forecast.triggers import TriggerConfig
from runner.plugins.config import PluginConfig
from runner.plugins.registry import plugin_problems
from strategies.registry import strategy_class

MAX_CONFIG_BYTES = 1_000_000
"""Largest config file read. A bot's file is some hundreds of bytes, a daemon's or a basket's of a
thousand symbols some kilobytes, and aliases may expand to 10,000 values at most; a file past a
megabyte is some other file, and reading it only costs time and memory before saying so."""

# 1s: Binance spot serves one-second klines (ccxt refuses it where an exchange does not).
Timeframe = Literal["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"]


class StrategyConfig(StrictModel):
    name: str
    params: dict[str, Any] = {}     # checked by the strategy's own Params model


class SafeMode(StrictModel):
    size_multiplier: Annotated[Number, Field(gt=0, le=1)] = 0.1
    symbols: list[str] = []


class BotConfig(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                             description="lower-case letters, digits, '-' and '_', up to 63 characters")]
    mode: Literal["sim", "paper", "live"] = "sim"
    enabled: Flag = True
    symbol: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$",
                                 description="BASE/QUOTE in capitals, e.g. BTC/USDT")]
    timeframe: Timeframe = "1m"
    capital: Annotated[Number, Field(gt=0, le=MAX_CAPITAL)]
    market: MarketConfig = SyntheticSource(source="synthetic")
    speed: Annotated[Number, Field(gt=0, le=1e9)] | None = None
    """Sim under the daemon: replay pace, 1 = real time, 60 = a 1m candle per second; unset =
    as fast as the CPU allows. Ignored by `backtest`, which always runs at full speed."""
    strategy: StrategyConfig
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    exchange: ExchangeConfig | None = None
    """Paper and live: the exchange account whose prices (and, live, orders) the bot uses."""
    on_restart: Literal["resume", "flatten", "halt"] = "halt"
    """Live: what to do when the exchange disagrees with the bot's state on start."""
    safe_mode: SafeMode | None = None
    """Live: trade a fraction of the computed size, and only listed symbols."""
    model: ModelConfig | None = None
    """A prediction model the bot asks (`runner.forecast`); its forecast reaches the strategy
    as `MarketView.forecast`."""
    triggers: list[TriggerConfig] = []
    """When the model is asked; none: on every candle (`runner.forecast.triggers`)."""
    risk_group: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] | None = Field(
        None, description="a risk group's name: lower-case letters, digits, '-' and '_', up to 63 characters")
    """A risk group of daemon.yaml's `risk_groups`: limits across the bots that name it."""
    run_strategy: Literal["every_candle", "on_trigger"] = "every_candle"
    """`on_trigger`: the strategy runs only on the candles where a trigger fired."""
    regimes: AllowedRegimes | None = None
    """The market regimes the strategy may enter in (exits never wait); unset: any, `unknown` included."""
    regime: RegimeConfig | None = None
    """The regime detector's settings (`runner.config.regime`); `regimes` alone uses the defaults."""
    governance: GovernanceConfig = GovernanceConfig()
    """Off unless `enabled`: the maturity ladder, health score and drift check (`risk.governance`)."""
    session: SessionConfig | None = None
    """Trading hours in a time zone (`runner.config.session`); unset: around the clock, UTC days."""
    plugins: list[PluginConfig] = []
    """Installed packages' plugins, hooks around the loop (`runner.plugins`): `[{name: x, params: {...}}]`."""
    basket: Annotated[BasketLeg | None, Field(exclude=True)] = None
    """Set on each leg of a basket file (`symbols:`, see `runner.config.basket`); never written by hand."""

    @property
    def regime_history_candles(self) -> int:
        """Candles of history the regime detector needs for its first fit; 0 without one."""
        if self.regimes is None and self.regime is None:
            return 0
        return (self.regime or RegimeConfig()).history_candles

    @model_validator(mode="after")
    def _model_answers_within_the_candle(self) -> Self:
        if self.model is not None and self.model.timeout_secs * 1000 >= timeframe_ms(self.timeframe):
            raise ValueError(f"model.timeout_secs ({self.model.timeout_secs:g}) must fit inside the {self.timeframe} "
                             "candle: the bot waits that long at worst before it decides")
        return self

    @model_validator(mode="after")
    def _synthetic_series_ends_in_time(self) -> Self:
        if isinstance(self.market, SyntheticSource) and (problem := self.market.series_end_problem(self.timeframe)):
            raise ValueError(f"market: {problem}")
        return self

    @model_validator(mode="after")
    def _session_holds_a_candle(self) -> Self:
        if self.session is not None and (problem := session_fits_timeframe(self.session, timeframe_ms(self.timeframe))):
            raise ValueError(f"{problem} ({self.timeframe}); widen the session or shorten the timeframe")
        return self

    @model_validator(mode="after")
    def _governance_start_fits_the_mode(self) -> Self:
        if self.governance.enabled and self.mode == "paper" and self.governance.start_level > 1:
            raise ValueError(f"governance.start_level {self.governance.start_level}: a paper bot climbs to L1 "
                             "(paper) at most; levels 2 to 4 trade live")
        return self

    @model_validator(mode="after")
    def _triggers_ask_a_model(self) -> Self:
        if self.model is None and (self.triggers or self.run_strategy == "on_trigger"):
            raise ValueError("triggers ask the bot's model: add a model block (e.g. model: {url: "
                             "http://127.0.0.1:8780/forecast}) or remove triggers and run_strategy")
        return self

    @model_validator(mode="after")
    def _stop_on_exchange_is_live(self) -> Self:
        if self.execution.stop_on_exchange and self.mode != "live":
            raise ValueError(f"execution.stop_on_exchange: a {self.mode} bot sends no orders to rest a stop on; "
                             "it is for live bots (set mode: live, or remove it)")
        if self.execution.stop_on_exchange and self.risk.stop_loss_pct is None:
            raise ValueError("execution.stop_on_exchange: rests the fixed stop-loss on the exchange, and "
                             "risk.stop_loss_pct is not set (set it, e.g. 0.02, or remove stop_on_exchange)")
        return self

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> Self:
        if self.mode == "sim":
            if self.exchange is not None and self.exchange.api_key_env:
                raise ValueError("a sim bot sends no orders: remove exchange.api_key_env")
            if self.exchange is not None and self.exchange.candles_from == "trades":
                raise ValueError("a sim bot reads its market block, not the exchange: remove exchange.candles_from "
                                 "(for trades in a backtest: market: {source: ticks, path: ...})")
            return self
        if self.exchange is None:
            raise ValueError(f"a {self.mode} bot needs an exchange block, e.g. exchange: {{id: binance}}")
        if "market" in self.model_fields_set:
            raise ValueError(f"a {self.mode} bot reads candles from its exchange: remove the market block")
        if self.mode == "live" and not (self.exchange.api_key_env and self.exchange.secret_env):
            raise ValueError("a live bot needs exchange.api_key_env and exchange.secret_env "
                             "(the names of the environment variables holding its key and secret)")
        if self.safe_mode is not None and self.safe_mode.symbols and self.symbol not in self.safe_mode.symbols:
            raise ValueError(f"safe_mode.symbols does not allow {self.symbol}")
        return self


class ConfigError(Exception):
    """A config file is wrong; `problems` holds one line per problem, each naming the file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_bot_config(path: Path | str) -> BotConfig:
    """Read and validate one bot config file, strategy params included."""
    path = config_path(path)
    config, problems = bot_config_problems(path, read_yaml_mapping(path))
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def bot_config_problems(path: Path, raw: dict[str, Any]) -> tuple[BotConfig | None, list[str]]:
    """Validate the mapping read from `path`: the config, or None and the problems."""
    problems: list[str] = []
    config: BotConfig | None = None
    if "basket" in raw:
        return None, [f"{path}: basket: set on each leg of a basket file, not by hand; write symbols: [...] instead"]
    if "symbols" in raw or "symbol_provider" in raw:     # a basket file: runner.config.basket reads it
        return None, [f"{path}: symbols: this command takes one bot (symbol: BTC/USDT); a basket file "
                      "(symbols: [...]) is run by botrunner backtest, run and validate"]
    try:
        config = BotConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(f"{path}: {line}" for line in describe_errors(exc, BotConfig))
        if "symbol" not in raw:          # a basket's file names its symbols otherwise: say both ways
            problems = [p.replace("symbol: required field is missing", "symbol: required: one symbol "
                                  "(symbol: BTC/USDT), or a basket's (symbols: [BTC/USDT, ETH/USDT])") for p in problems]
    problems.extend(f"{path}: {line}" for line in _strategy_problems(raw.get("strategy")))
    problems.extend(f"{path}: {line}" for line in plugin_problems(raw.get("plugins")))
    if config is not None and not problems:        # the strategy's higher timeframes fit the bot's
        problems.extend(f"{path}: {line}" for line in higher_timeframe_problems(
            config.timeframe, config.strategy.name, config.strategy.params, get_args(Timeframe)))
    return (None if problems else config), problems


def read_yaml_mapping(path: Path, *, empty_is_defaults: bool = False) -> dict[str, Any]:
    """A YAML file's top-level mapping, or ConfigError saying why there is none. An empty file
    is an error, or with `empty_is_defaults` an empty mapping (a file whose every key is optional).
    A named pipe or device is refused unopened, a file past MAX_CONFIG_BYTES unread."""
    if (kind := special_file_kind(path)) is not None:
        raise ConfigError([f"{path}: is {kind}, not a file; expected a YAML file"])
    try:
        text = _read_config_text(path)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder; expected a YAML file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    try:
        raw = yaml.load(text, Loader=StrictSafeLoader)
    except RecursionError:
        raise ConfigError([f"{path}: invalid YAML: nested too deeply"]) from None
    except yaml.reader.ReaderError as exc:     # a control character; yaml's own text is two lines
        line, column = _line_and_column(text, exc.position)
        raise ConfigError([f"{path}: invalid YAML at line {line}, column {column}: control character "
                           f"#x{exc.character:04x} is not allowed"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            problem += " (a tab: YAML indents with spaces only)"
        raise ConfigError([f"{path}: invalid YAML{where}: {problem}"]) from None
    if raw is None and empty_is_defaults:
        return {}
    if raw is None:
        raise ConfigError([f"{path}: the file is empty; expected a mapping of fields such as id, symbol, strategy"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a mapping of fields at the top level, got {type(raw).__name__}"])
    return raw


def _read_config_text(path: Path) -> str:
    with path.open("rb") as file:
        data = file.read(MAX_CONFIG_BYTES + 1)      # at most this, whatever the file grows to
        size = os.fstat(file.fileno()).st_size
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: is {max(size, len(data)) / 1e6:.1f} MB; a config file is at most "
                           f"{MAX_CONFIG_BYTES // 1_000_000} MB (a bot's is under 2 KB): is this the file you meant?"])
    return data.decode("utf-8")


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of character `position` in `text`."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if line < len(lines) else ""


def _strategy_problems(raw_strategy: Any) -> list[str]:
    """Check a strategy's name and params. The shape of `strategy` itself is BotConfig's job."""
    if not isinstance(raw_strategy, dict) or not isinstance(raw_strategy.get("name"), str):
        return []
    try:
        cls = strategy_class(raw_strategy["name"])
    except LookupError as exc:        # unknown, or an installed package's that cannot be used
        return [f"strategy.name: {exc.args[0]}"]
    params = raw_strategy.get("params") or {}
    if not isinstance(params, dict):
        return []
    try:
        cls.Params.model_validate(params)
    except ValidationError as exc:
        return describe_errors(exc, cls.Params, prefix=("strategy", "params"))
    return []
