"""Where a bot's candles come from: the `market:` block of a bot config.

```yaml
market: {source: csv, path: ../shared/data/BTC_USD-1m-2022-01.csv, start: 2022-01-10}
market: {source: json, path: data/btc-1m.json}
market: {source: synthetic, seed: 7, bars: 45000, start_price: 30000}
market: {source: ticks, path: data/btc-ticks.csv}     # trades made into candles (`market.ticks`)
```

Paths stay as written; `market.factory` resolves a relative one against the working directory
when it loads, so a config checked on one machine means the same file when run from the same
place. Naive datetimes are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from market.limits import MAX_PRICE, MAX_TS_MS, MIN_PRICE, MIN_TS_MS, Number, WholeNumber
from market.models import iso_utc, timeframe_ms
from market.strict import StrictModel


def _as_utc(moment: datetime | None) -> datetime | None:
    # Comparing a naive and an aware datetime raises, so both become aware here.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _FileSource(StrictModel):
    """A candle file, optionally cut to [start, end)."""

    source: str  # narrowed to one Literal by each subclass; declared here so it prints first
    path: Path
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None

    @field_validator("path", mode="before")
    @classmethod
    def _path_is_named(cls, value: Any) -> Any:
        # Checked before conversion: Path("") is ".", the folder botrunner runs in.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a candle file, e.g. data/BTC_USDT-1m.csv")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self


class CsvSource(_FileSource):
    """A CSV file with header timestamp,open,high,low,close,volume (see `market.files`)."""

    source: Literal["csv"]


class JsonSource(_FileSource):
    """A JSON file holding ccxt's OHLCV list, [[ms, open, high, low, close, volume], ...]."""

    source: Literal["json"]


class TicksSource(_FileSource):
    """A tick file, header datetime,symbol,price,volume (see `market.ticks`): the trades of the
    bot's symbol made into candles of its timeframe; `start`/`end` cut by candle open time."""

    source: Literal["ticks"]
    symbol: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    """The file's name for the bot's symbol, when it differs (say `XBTUSD`); unset: the bot's
    symbol, written `BTC/USDT` or `BTCUSDT`."""


MAX_SYNTHETIC_BARS = 1_000_000
"""Most candles a synthetic series may have. The series is generated whole (its wicks' and volumes'
draws come after every close's, so it cannot be streamed and stay the same series) and kept as
Candle tuples: about 580 bytes a candle at the peak of a backtest (1,000,000 candles: 640 MB of
RSS against 180 MB for 200,000, measured 2026-12-02), so the 10,000,000 allowed before was some
6 GB for one bot. A million is two years of 1m candles, eleven days of 1s ones."""
SYNTHETIC_BYTES_PER_CANDLE = 580
"""Memory a synthetic candle takes at the peak of a backtest (measured, as above)."""


class SyntheticSource(StrictModel):
    """Seeded random-walk candles with regime changes (see `market.synthetic`); same seed, same
    candles. Candles are one bot timeframe apart from `start`."""

    source: Literal["synthetic"]
    seed: Annotated[WholeNumber, Field(ge=0, le=2**63 - 1)] = 42     # numpy refuses negative seeds
    bars: Annotated[WholeNumber, Field(gt=0, le=MAX_SYNTHETIC_BARS)] = 45_000
    start_price: Annotated[Number, Field(ge=MIN_PRICE, le=MAX_PRICE)] = 100.0
    volatility: Annotated[Number, Field(gt=0, lt=0.5, description="std dev of one candle's log return")] = 0.002
    start: UtcDatetime = datetime(2024, 1, 1, tzinfo=UTC)
    """The first candle's open time, within the candle times a file may hold (`market.limits`:
    1970 to 2200). The series may run on past 2200 (45,000 weekly candles from 2024 reach 2886),
    not past the year 9999, where a date can no longer be written: checked against the bot's
    timeframe by its config."""

    @field_validator("start")
    @classmethod
    def _start_within_candle_times(cls, start: datetime) -> datetime:
        if not MIN_TS_MS <= _epoch_ms(start) < MAX_TS_MS:
            raise ValueError(f"the series must start from {_FIRST_DAY} and before {_END_DAY}, got {iso_utc(_epoch_ms(start))}")
        return start

    def series_end_problem(self, timeframe: str) -> str | None:
        """Why the series, its candles `timeframe` apart, runs past the year 9999; None when it does not."""
        if _epoch_ms(self.start) + (self.bars - 1) * timeframe_ms(timeframe) < _LAST_WRITABLE_MS:
            return None
        return (f"{self.bars} {timeframe} candles from {iso_utc(_epoch_ms(self.start))} run past the year 9999, "
                "where a date can no longer be written; start earlier or make bars fewer")


_FIRST_DAY, _END_DAY = iso_utc(MIN_TS_MS)[:10], iso_utc(MAX_TS_MS)[:10]


def _epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


_LAST_WRITABLE_MS = _epoch_ms(datetime(9999, 1, 1, tzinfo=UTC))     # a year's room for the last candle to close


MarketConfig = Annotated[CsvSource | JsonSource | TicksSource | SyntheticSource, Field(discriminator="source")]
