"""Recorded forecasts: the file `botrunner forecasts --export` writes and a backtest with
`model: {replay: PATH}` reads, so a model-driven backtest is reproducible without the model.

The file is JSON lines, UTF-8, one forecast per line with exactly the fields of
`market.forecast.Forecast` (blank lines are skipped):

```json
{"model":"ar5","symbol":"BTC/USDT","ts_ms":1700000060000,"horizon_ms":3600000,"price":37005.2,"predicted_return":0.0042,"direction":1,"confidence":0.61,"trigger":"interval"}
```

`ts_ms` is the close time of the candle the forecast was asked at; `direction` is +1, -1 or 0.
Floats are written with `repr` precision, so what is read back equals what was written.

A forecast is looked up by (model, symbol, ts_ms). When a file holds that key twice (two bots
asked the same model at the same candle), the first line wins and the load logs how many were
dropped: the answer stays deterministic whatever order the bots ran in live.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from loguru import logger
from pydantic import Field, Strict, ValidationError

from market.forecast import Forecast
from market.limits import MAX_PRICE, MIN_PRICE, Number
from market.models import Candle
from market.strict import StrictModel
from runner.forecast.contract import MAX_PREDICTED_RETURN, describe

__all__ = ["ReplayFileError", "ReplayModel", "read_forecasts", "write_forecasts"]

_Int = Annotated[int, Strict()]


class ReplayFileError(ValueError):
    """A forecast file that cannot be replayed: missing, unreadable, or a line that is not a
    forecast (the message names the file and line)."""


class _Record(StrictModel):
    model: Annotated[str, Field(min_length=1)]
    symbol: Annotated[str, Field(min_length=1)]
    ts_ms: Annotated[_Int, Field(ge=0)]
    horizon_ms: Annotated[_Int, Field(gt=0)]
    price: Annotated[Number, Field(ge=MIN_PRICE, le=MAX_PRICE)]
    predicted_return: Annotated[Number, Field(ge=-MAX_PREDICTED_RETURN, le=MAX_PREDICTED_RETURN)]
    direction: Annotated[_Int, Field(ge=-1, le=1)]
    confidence: Annotated[Number, Field(ge=0, le=1)]
    trigger: str


def write_forecasts(path: str | Path, forecasts: Iterable[Forecast]) -> int:
    """Write `forecasts` to `path` in the replay format, in the order given; returns how many.
    The file appears whole or not at all (a temporary file beside it, then a rename)."""
    path = Path(path)
    count = 0
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            for forecast in forecasts:
                out.write(json.dumps(asdict(forecast), allow_nan=False, separators=(",", ":")))
                out.write("\n")
                count += 1
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return count


def read_forecasts(path: str | Path) -> list[Forecast]:
    """Every forecast in the file at `path`, in file order. Raises `ReplayFileError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ReplayFileError(f"{path}: cannot read the forecast file: {reason}") from None
    forecasts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = _Record.model_validate_json(line)
        except ValidationError as exc:
            what = describe(exc) if exc.errors()[0]["type"] != "json_invalid" else "not a JSON object"
            raise ReplayFileError(f"{path} line {number}: {what}") from None
        forecasts.append(Forecast(**record.model_dump()))
    return forecasts


class ReplayModel:
    """Answers with the recorded forecast for (symbol, ts_ms) of one model, or None: the same
    answer every run. Shaped like `ModelClient.forecast`, so a bot cannot tell them apart.

    `model` picks one model's forecasts from a file holding several; without it the file must
    hold exactly one model's."""

    available = True            # a recording never goes down

    def __init__(self, forecasts: Iterable[Forecast], *, model: str | None = None, source: str = "forecasts") -> None:
        everything = list(forecasts)
        models = sorted({f.model for f in everything})
        if not everything:
            raise ReplayFileError(f"{source}: holds no forecasts")
        if model is None:
            if len(models) > 1:
                raise ReplayFileError(f"{source}: holds forecasts of {len(models)} models ({', '.join(models)}); "
                                      "set the model's name to pick one")
            model = models[0]
        elif model not in models:
            raise ReplayFileError(f"{source}: holds no forecasts of model {model!r}; it has {', '.join(models)}")
        self.model = model
        self.source = source
        self._by_key: dict[tuple[str, int], Forecast] = {}
        dropped = 0
        for forecast in everything:
            if forecast.model == model:
                if (forecast.symbol, forecast.ts_ms) in self._by_key:
                    dropped += 1
                else:
                    self._by_key[(forecast.symbol, forecast.ts_ms)] = forecast
        if dropped:
            logger.info("{}: {} forecasts of model {} repeat a (symbol, time) already read; the first of each is used",
                        source, dropped, model)
        self.misses = 0
        """Calls for which the file holds no forecast (the model was not asked at that candle)."""

    @classmethod
    def load(cls, path: str | Path, *, model: str | None = None) -> ReplayModel:
        """The replay of the file at `path`. Raises `ReplayFileError`."""
        return cls(read_forecasts(path), model=model, source=str(path))

    @property
    def name(self) -> str:
        return self.model

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, symbol: str, ts_ms: int) -> Forecast | None:
        """The recorded forecast for `symbol` at `ts_ms`, or None."""
        found = self._by_key.get((symbol, ts_ms))
        if found is None:
            self.misses += 1
        return found

    async def forecast(self, *, symbol: str, ts_ms: int, timeframe: str = "", candles: Sequence[Candle] = (),
                       features: Mapping[str, float | None] | None = None, trigger: str = "") -> Forecast | None:
        """The recorded forecast, exactly as written (its own trigger included), or None."""
        return self.lookup(symbol, ts_ms)

    async def aclose(self) -> None:
        """Nothing to release; here so a replay fits wherever a client does."""
