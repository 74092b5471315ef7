"""A basket bot's YAML: one strategy over several symbols, one cash balance, a position per symbol.

```yaml
id: majors
symbols: [BTC/USDT, ETH/USDT, SOL/USDT]     # instead of symbol:
max_open_positions: 2                       # at most two symbols hold a position at a time
stake_amount: 2500                          # each entry spends 2,500 of the quote currency, or
# stake_fraction: 0.25                      #   a quarter of the basket's equity at the entry
on_retire: exit                             # a symbol leaving the list is sold (hold: kept until it exits)
capital: 10000
market: {source: synthetic, seed: 7}        # each symbol its own series (seed mixed with the symbol)
markets:                                    # or a market per symbol (a file each)
  BTC/USDT: {source: csv, path: data/btc-usdt-1m.csv}
strategy: {name: ema_cross, params: {fast: 12, slow: 26}}
```

or `symbol_provider:` instead of `symbols:` (see `SymbolProviderConfig`). Everything else is a
bot's (`runner.config.bot`) and applies to each symbol's leg. A basket becomes one `BotConfig`
per symbol (`BasketConfig.legs`), id `<basket>.<base>-<quote>`, each with its `basket` block
(`runner.config.basket_leg`): the legs are ordinary bots to the composition root, the daemon
and the journal, which is why sessions, timeframes, limit orders and plugins apply per leg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import Field, ValidationError, model_validator

from market.config import SYNTHETIC_BYTES_PER_CANDLE, MarketConfig, SyntheticSource
from market.file_kind import special_file_kind
from market.limits import MAX_CAPITAL, Number, WholeNumber
from market.strict import StrictModel
from runner.config.basket_leg import BasketLeg, OnRetire
from runner.config.bot import MAX_CONFIG_BYTES, BotConfig, ConfigError, bot_config_problems, read_yaml_mapping
from runner.config.errors import describe_errors
from runner.config.shown_path import config_path

__all__ = ["BASKET_KEYS", "BasketConfig", "SymbolProviderConfig", "basket_config_problems", "is_basket",
           "leg_id", "load_bot_or_basket", "read_symbol_file"]

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$",
                              description="BASE/QUOTE in capitals, e.g. BTC/USDT")]
BASKET_KEYS = ("symbols", "symbol_provider", "max_open_positions", "stake_amount", "stake_fraction",
               "on_retire", "markets")
_MAX_SYMBOL_PROBLEMS = 5     # lines of a symbol file named one by one
_PLACEHOLDER = "BASKET/LEG"     # the symbol the shared fields are checked with, before the legs get theirs
MAX_BASKET_SYNTHETIC_BARS = 5_000_000
"""Most synthetic candles a sim basket's legs may hold in all: each leg's series is kept whole
(market.config.MAX_SYNTHETIC_BARS bounds one), so five million is some 3 GB."""


class FileSymbols(StrictModel):
    """The symbols of a file, one a line (`#` starts a comment) or a YAML list, read again
    every `refresh_secs`."""

    source: Literal["file"]
    path: Path
    refresh_secs: Annotated[Number, Field(ge=1, le=86_400)] = 300.0


class TopVolumeSymbols(StrictModel):
    """The exchange's `count` symbols quoted in `quote` with the most quote volume over 24 hours
    (ccxt `fetch_tickers`), at least `min_quote_volume`, asked every `refresh_secs`. Needs the
    basket's `exchange` block."""

    source: Literal["top_volume"]
    quote: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]
    count: Annotated[WholeNumber, Field(ge=1, le=500)]
    min_quote_volume: Annotated[Number, Field(ge=0, le=MAX_CAPITAL)] = 0.0
    refresh_secs: Annotated[Number, Field(ge=1, le=86_400)] = 300.0


SymbolProviderConfig = Annotated[FileSymbols | TopVolumeSymbols, Field(discriminator="source")]


class BasketFields(StrictModel):
    """The keys a basket file has beyond a bot's."""

    symbols: Annotated[Annotated[list[Symbol], Field(min_length=1, max_length=1000)] | None,
                       Field(description="BASE/QUOTE in capitals, e.g. BTC/USDT")] = None
    symbol_provider: SymbolProviderConfig | None = None
    max_open_positions: Annotated[WholeNumber, Field(ge=1, le=10_000)] | None = None
    """Legs that may hold a position (or have an entry on its way) at once; unset: every leg."""
    stake_amount: Annotated[Number, Field(gt=0, le=MAX_CAPITAL)] | None = None
    """Quote currency each entry spends (freqtrade's `stake_amount`)."""
    stake_fraction: Annotated[Number, Field(gt=0, le=1)] | None = None
    """Share of the basket's equity each entry spends. Neither: equity / max_open_positions
    (or / the number of symbols), freqtrade's `unlimited`."""
    on_retire: OnRetire = "exit"
    """A symbol dropped from the list while its leg holds a position: `exit` sells it at once
    (a symbol falls out of a top-volume list for a reason, and nobody watches a position whose
    symbol the basket no longer follows); `hold` keeps the leg, entering nothing, until it exits."""
    markets: dict[Symbol, MarketConfig] = {}
    """Sim: a market per symbol (a candle file each); a symbol not named reads `market`."""

    @model_validator(mode="after")
    def _one_source_of_symbols(self) -> Self:
        if (self.symbols is None) == (self.symbol_provider is None):
            raise ValueError("a basket names its symbols once: symbols: [BTC/USDT, ETH/USDT] or symbol_provider: "
                             "{source: file, path: symbols.txt}, not both")
        if self.symbols is not None and len(set(self.symbols)) != len(self.symbols):
            repeated = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
            raise ValueError(f"symbols: each symbol once; repeated: {', '.join(repeated)}")
        if self.stake_amount is not None and self.stake_fraction is not None:
            raise ValueError("stake_amount (quote currency) and stake_fraction (of equity) are two ways to size an "
                             "entry: set one of them")
        return self


@dataclass(frozen=True, slots=True)
class BasketConfig:
    """A checked basket file: the bot fields every leg shares, and the basket's own."""

    template: BotConfig           # the shared fields, with a placeholder symbol
    fields: BasketFields
    path: Path

    @property
    def id(self) -> str:
        return self.template.id

    @property
    def timeframe(self) -> str:
        return self.template.timeframe

    @property
    def market(self) -> MarketConfig:
        """The market of the symbols `markets` does not name."""
        return self.template.market

    def symbols(self) -> list[str]:
        """The symbols as configured: the list, or the provider's file read now. ConfigError
        for a file that cannot be read; [] for a top-volume provider (it asks the exchange)."""
        if self.fields.symbols is not None:
            return list(self.fields.symbols)
        provider = self.fields.symbol_provider
        if isinstance(provider, FileSymbols):
            return read_symbol_file(provider.path)
        return []

    def legs(self, symbols: list[str] | None = None, *, retiring: frozenset[str] = frozenset()) -> list[BotConfig]:
        """One bot config per symbol (`symbols()` unless given; a live basket in safe mode, only
        those its `safe_mode.symbols` allows), plus the `retiring` legs kept until they exit."""
        wanted = self.symbols() if symbols is None else symbols
        if (allowed := _safe_symbols(self.template)) is not None:     # a live provider's list, in safe mode
            wanted = [s for s in wanted if s in allowed]
        return [self.leg(s) for s in wanted] + [self.leg(s, retiring=True) for s in sorted(retiring - set(wanted))]

    def leg(self, symbol: str, *, retiring: bool = False) -> BotConfig:
        fields, template = self.fields, self.template
        market = fields.markets.get(symbol, template.market)
        if isinstance(market, SyntheticSource) and symbol not in fields.markets:
            from market.synthetic import symbol_seed   # here: market.synthetic imports numpy

            market = market.model_copy(update={"seed": symbol_seed(market.seed, symbol)})
        basket = BasketLeg(basket=self.id, stake_amount=fields.stake_amount, stake_fraction=fields.stake_fraction,
                           max_open_positions=fields.max_open_positions, on_retire=fields.on_retire,
                           retiring=retiring)
        # Copied, not validated again: the template passed every check with a placeholder symbol.
        # A sim leg replays its market: the exchange block is the symbol provider's, not the leg's
        # (with it, the leg would take its replayed candles for late exchange ones and act on none).
        exchange = None if template.mode == "sim" else template.exchange
        return template.model_copy(update={"id": leg_id(self.id, symbol), "symbol": symbol, "market": market,
                                           "exchange": exchange, "basket": basket})


def _safe_symbols(template: BotConfig) -> list[str] | None:
    """The symbols a live basket's safe mode allows; None: any."""
    safe = template.safe_mode
    return list(safe.symbols) if template.mode == "live" and safe is not None and safe.symbols else None


def leg_id(basket_id: str, symbol: str) -> str:
    """The id of `symbol`'s leg: `majors.btc-usdt` for BTC/USDT in `majors`."""
    return f"{basket_id}.{symbol.replace('/', '-').lower()}"


def is_basket(raw: dict[str, Any]) -> bool:
    return "symbols" in raw or "symbol_provider" in raw


def basket_config_problems(path: Path, raw: dict[str, Any]) -> tuple[BasketConfig | None, list[str]]:
    """Validate the mapping of a basket file: the basket, or None and every problem, each
    naming the file and the field."""
    problems: list[str] = []
    if "symbol" in raw:
        problems.append(f"{path}: symbol and symbols: a bot trades one symbol (symbol: BTC/USDT) or a basket "
                        "(symbols: [BTC/USDT, ETH/USDT]); set one of them")
    shared = {k: v for k, v in raw.items() if k not in BASKET_KEYS and k != "symbol"}
    template, bot_problems = bot_config_problems(path, {**shared, "symbol": _template_symbol(raw)})
    problems.extend(p for p in bot_problems)
    fields = None
    try:
        fields = BasketFields.model_validate({k: raw[k] for k in BASKET_KEYS if k in raw})
    except ValidationError as exc:
        problems.extend(f"{path}: {line}" for line in describe_errors(exc, BasketFields))
    if template is not None and fields is not None:
        problems.extend(f"{path}: {line}" for line in _basket_rules(template, fields))
    if problems:
        return None, problems
    basket = BasketConfig(template, fields, path)
    try:
        basket.symbols()
    except ConfigError as exc:
        return None, [f"{path}: symbol_provider.path: {p}" for p in exc.problems]
    return basket, []


def _synthetic_total_problem(template: BotConfig, fields: BasketFields) -> str | None:
    """Why the legs' synthetic series are too many candles to hold at once, or None. Each is
    within `market.bars`' bound; a basket multiplies it by its symbols."""
    bars = [market.bars for s in fields.symbols or [] if isinstance(market := fields.markets.get(s, template.market),
                                                                     SyntheticSource)]
    total = sum(bars)
    if total <= MAX_BASKET_SYNTHETIC_BARS:
        return None
    what = (f"{len(bars)} symbols of {bars[0]:,} synthetic candles" if len(set(bars)) == 1
            else f"the synthetic series of {len(bars)} symbols")
    return (f"market.bars: {what} are {total:,} candles, kept in memory at once (some "
            f"{total * SYNTHETIC_BYTES_PER_CANDLE / 1e9:.1f} GB); a basket holds at most {MAX_BASKET_SYNTHETIC_BARS:,}: "
            "make bars fewer, or list fewer symbols")


def _template_symbol(raw: dict[str, Any]) -> str:
    """The symbol the shared fields are checked with: the first listed (a live bot's safe mode
    names the symbols it allows), else one safe mode allows, else a placeholder."""
    listed = raw.get("symbols")
    if isinstance(listed, list) and listed and isinstance(listed[0], str):
        return listed[0]
    safe = raw.get("safe_mode")
    allowed = safe.get("symbols") if isinstance(safe, dict) else None
    if isinstance(allowed, list) and allowed and isinstance(allowed[0], str):
        return allowed[0]
    return _PLACEHOLDER


def _basket_rules(template: BotConfig, fields: BasketFields) -> list[str]:
    problems = []
    if (allowed := _safe_symbols(template)) is not None and fields.symbols is not None:
        if refused := [s for s in fields.symbols if s not in allowed]:
            problems.append(f"safe_mode.symbols does not allow {', '.join(refused)}")
    if template.risk_group is not None:
        problems.append("risk_group: a basket is a group of its own (max_open_positions, one cash balance); "
                        "risk groups across bots do not take baskets yet")
    if template.governance.enabled:
        problems.append("governance: not available for a basket yet (it sizes entries, which the basket's stake does)")
    if template.mode == "sim" and fields.symbols is not None and not isinstance(template.market, SyntheticSource):
        unnamed = [s for s in fields.symbols if s not in fields.markets]
        if unnamed:
            problems.append(f"markets: a sim basket reads a candle file per symbol; name one for {', '.join(unnamed)} "
                            "(markets: {SYMBOL: {source: csv, path: ...}}), or use market: {source: synthetic}")
    if template.mode == "sim" and fields.symbols is not None and (too_many := _synthetic_total_problem(template, fields)):
        problems.append(too_many)
    if fields.symbols is not None and (extra := sorted(set(fields.markets) - set(fields.symbols))):
        problems.append(f"markets: {', '.join(extra)} not in symbols")
    if isinstance(fields.symbol_provider, TopVolumeSymbols) and template.exchange is None:
        problems.append("symbol_provider: top_volume asks an exchange for its tickers: add an exchange block, "
                        "e.g. exchange: {id: binance}")
    return problems


def read_symbol_file(path: Path) -> list[str]:
    """The symbols in `path`: one a line (blank lines and `#` comments skipped) or a YAML list.
    ConfigError names the file and the line of a symbol that is not BASE/QUOTE."""
    if (kind := special_file_kind(path)) is not None:     # a pipe would hold the refresher for good
        raise ConfigError([f"{path}: is {kind}, not a file; expected one symbol a line (BTC/USDT) or a YAML list"])
    try:
        if (size := os.stat(path).st_size) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: is {size / 1e6:.1f} MB; a symbol file is at most "
                               f"{MAX_CONFIG_BYTES // 1_000_000} MB (a thousand symbols are some 20 KB): is this the "
                               "file you meant?"])
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text; expected one symbol a line (BTC/USDT) or a YAML list"]) from None
    if text.lstrip().startswith("["):
        try:
            items = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError([f"{path}: invalid YAML list{where}: {getattr(exc, 'problem', None) or exc}"]) from None
        lines = [(i + 1, str(s)) for i, s in enumerate(items or [])]
    else:
        lines = [(n, line.split("#", 1)[0].strip().lstrip("- ").strip()) for n, line in enumerate(text.splitlines(), 1)]
    symbols, problems = [], []
    for number, symbol in lines:
        if not symbol:
            continue
        if not _is_symbol(symbol):
            shown = repr(symbol) if len(symbol) <= 60 else repr(symbol[:57] + "...")    # not a 50 MB line
            problems.append(f"{path}: line {number}: {shown} is not a symbol; expected BASE/QUOTE in capitals, "
                            "e.g. BTC/USDT")
        elif symbol not in symbols:
            symbols.append(symbol)
    if len(problems) > _MAX_SYMBOL_PROBLEMS:      # not a symbol file at all (/etc/passwd, a CSV): a few say so
        problems[_MAX_SYMBOL_PROBLEMS:] = [f"{path}: and {len(problems) - _MAX_SYMBOL_PROBLEMS} more lines "
                                           "that are not symbols"]
    if problems:
        raise ConfigError(problems)
    return symbols


def _is_symbol(text: str) -> bool:
    base, _, quote = text.partition("/")
    return bool(base and quote) and all(p.isalnum() and p.upper() == p and len(p) <= 20 for p in (base, quote))


def load_bot_or_basket(path: Path | str) -> BotConfig | BasketConfig:
    """A bot file as `botrunner backtest` and `run` read it: one bot, or a basket."""
    path = config_path(path)
    raw = read_yaml_mapping(path)
    if not is_basket(raw):
        config, problems = bot_config_problems(path, raw)
    else:
        config, problems = basket_config_problems(path, raw)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config
