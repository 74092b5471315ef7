"""Turn a bot's `market:` config into its candles."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from market.config import CsvSource, JsonSource, MarketConfig, SyntheticSource, TicksSource
from market.errors import MarketDataError
from market.file_kind import special_file_kind
from market.files import load_candles
from market.models import Candle, iso_utc, timeframe_ms
from market.tick_header import is_tick_file


def load_market(
    config: MarketConfig,
    *,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    path_override: Path | None = None,
) -> list[Candle]:
    """The candles `config` names for a bot trading `symbol` on `timeframe`, within [start, end).

    `start`, `end` and `path_override` (say, from the command line) win over the config's; the
    override's extension picks its format, whatever the config's source says, and a CSV whose
    header names the tick columns is read as ticks (`market.ticks`). A relative path
    is taken from the current working directory. Synthetic candles are the config's series
    (`timeframe` apart from its `start`), cut to [start, end) as a file's are.

    Raises MarketDataError when the data is unusable as a whole (see `market.files`), or the path
    names a pipe or device (`market.file_kind`), which is refused before it is opened.
    """
    named = path_override if path_override is not None else getattr(config, "path", None)
    if named is not None and (kind := special_file_kind(named)) is not None:
        raise MarketDataError(f"{_absolute(named)}: is {kind}, not a file; expected a candle file")
    if path_override is not None:
        if is_tick_file(_absolute(path_override)):
            file_symbol = config.symbol if isinstance(config, TicksSource) and config.symbol else symbol
            return _ticks(path_override, file_symbol, timeframe, start, end)
        return _from_file(path_override, timeframe, start, end)
    if isinstance(config, TicksSource):
        return _ticks(config.path, config.symbol or symbol, timeframe, start or config.start, end or config.end)
    if isinstance(config, SyntheticSource):
        return _synthetic(config, timeframe, start, end)
    suffix = {CsvSource: ".csv", JsonSource: ".json"}[type(config)]
    if Path(config.path).suffix.lower() != suffix:
        raise MarketDataError(f"{_absolute(config.path)}: the market source is {config.source!r}, "
                              f"so expected a {suffix} file")
    return _from_file(config.path, timeframe, start or config.start, end or config.end)


def _from_file(path: Path, timeframe: str, start: datetime | None, end: datetime | None) -> list[Candle]:
    # `symbol` is not checked against the file: candle files do not say what they hold.
    return load_candles(_absolute(path), start=start, end=end, timeframe=timeframe).candles


def _ticks(path: Path, symbol: str, timeframe: str, start: datetime | None, end: datetime | None) -> list[Candle]:
    from market.ticks import load_tick_candles   # numpy: imported by the sources that use it, as below

    return load_tick_candles(_absolute(path), symbol=symbol, timeframe=timeframe, start=start, end=end).candles


def _absolute(path: Path) -> Path:
    # abspath, not resolve(): messages show the path as configured, minus the "..", not
    # wherever symlinks lead.
    return Path(os.path.abspath(path))


def _synthetic(config: SyntheticSource, timeframe: str,
               start: datetime | None, end: datetime | None) -> list[Candle]:
    """The config's series, from its own start, cut to [start, end) as a file's candles are:
    a window of a seeded series holds the same candles whichever window is asked. (Generated
    from `start` instead, `--from 2030-01-01` re-dated the whole series to 2030, and two
    windows held the same prices.)"""
    from market.synthetic import generate_candles

    if start is not None and end is not None and end <= start:
        raise MarketDataError(f"synthetic market: end {end} is not after start {start}")
    step_ms, first_ms = timeframe_ms(timeframe), _ms(config.start)
    bars, skip = config.bars, 0
    if end is not None:
        bars = min(bars, max(0, -(-(_ms(end) - first_ms) // step_ms)))
    if start is not None:
        skip = max(0, -(-(_ms(start) - first_ms) // step_ms))
    if skip >= bars:
        last_ms = first_ms + (config.bars - 1) * step_ms
        raise MarketDataError(f"synthetic market: no candles from {start or config.start} to {end or 'its end'}; "
                              f"the series covers {iso_utc(first_ms)} .. {iso_utc(last_ms)} (market.start, market.bars)")
    # All of it, then cut: the draws for wicks and volume come after every close's, so a
    # shorter series is not a prefix of a longer one.
    candles = generate_candles(count=config.bars, seed=config.seed, timeframe=timeframe, start_ms=first_ms,
                               start_price=config.start_price, volatility=config.volatility)
    return candles[skip:bars] if skip or bars < config.bars else candles


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
