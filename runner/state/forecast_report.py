"""`botrunner forecasts`: how right each model has been, per model and symbol, and the export
that `model: {replay: PATH}` reads.

Works on the daemon's `ForecastStore` or, without a daemon, on the file (or the state folder
holding it), opened read-only: SQLite lets a WAL reader in while the daemon writes, and it sees
what the daemon has committed.

The figures, over the forecasts selected (`bot`, `model`, `symbol` filters), grouped per
(model, symbol) across bots; "directional" means scored with a direction of +1 or -1 (see
`runner.state.forecasts` for how a forecast is scored):

- `count` every forecast, `scored` those whose horizon has passed and got a price;
- `hit_rate` = hits / directional forecasts (direction 0 is left out);
- `mae` the mean `abs_error` (quote currency), `mape` the mean `pct_error` (a fraction: the
  error relative to the price when the forecast was made), both over scored forecasts;
- `mean_confidence` over every forecast; `mean_trade_return` the mean `direction * return`
  over directional forecasts, before fees;
- `calibration`: the hit rate of directional forecasts per confidence bucket [0, 0.5),
  [0.5, 0.6), ... [0.8, 0.9), [0.9, 1.0]. A calibrated model hits about as often as it says.

The export is JSON lines, one forecast per line with exactly the fields of
`market.forecast.Forecast` in its order (model, symbol, ts_ms, horizon_ms, price,
predicted_return, direction, confidence, trigger), oldest first (by ts_ms, then model, symbol,
bot). It has no bot field: exported without `bot`, a candle at which several bots asked one
model gives one line per bot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runner.state.forecasts import FORECAST_COLUMNS, FORECASTS_FILE, ForecastStore, where_clause

__all__ = ["CONFIDENCE_EDGES", "CalibrationBucket", "ModelSummary", "export_forecasts", "format_table",
           "open_store", "summarize", "to_json"]

# Upper edges of the calibration buckets below 1.0: [0, 0.5), [0.5, 0.6), ..., [0.9, 1.0].
CONFIDENCE_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9)
_BUCKET_BOUNDS = tuple(zip((0.0, *CONFIDENCE_EDGES), (*CONFIDENCE_EDGES, 1.0)))
# Compared in SQL against the stored doubles: the literal 0.6 is the same double as Python's
# 0.6, so a confidence of exactly 0.6 falls in [0.6, 0.7) (scaling by 10 would misplace 0.7).
_BUCKET_SQL = ("CASE " + " ".join(f"WHEN confidence < {edge!r} THEN {i}" for i, edge in enumerate(CONFIDENCE_EDGES))
               + f" ELSE {len(CONFIDENCE_EDGES)} END")

ForecastSource = ForecastStore | Path | str


@dataclass(slots=True, frozen=True)
class CalibrationBucket:
    """Directional scored forecasts with `low <= confidence < high` (`<= 1.0` for the last)."""

    low: float
    high: float
    count: int
    hits: int

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.count if self.count else None


@dataclass(slots=True, frozen=True)
class ModelSummary:
    """One model's record on one symbol; see the module docstring for each figure. Figures
    over no forecasts are None."""

    model: str
    symbol: str
    count: int
    scored: int
    directional: int
    hits: int
    mae: float | None
    mape: float | None
    mean_confidence: float
    mean_trade_return: float | None
    calibration: tuple[CalibrationBucket, ...]

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.directional if self.directional else None

    @property
    def pending(self) -> int:
        return self.count - self.scored


@contextmanager
def open_store(source: ForecastSource) -> Iterator[ForecastStore]:
    """`source` itself when it is a store (left open); else the file at `source`, or
    `forecasts.sqlite3` in the folder `source`, opened read-only and closed on exit. Raises
    `ForecastStoreMissing` when there is no such file."""
    if isinstance(source, ForecastStore):
        yield source
        return
    path = Path(source)
    store = ForecastStore(path / FORECASTS_FILE if path.is_dir() else path, read_only=True)
    try:
        yield store
    finally:
        store.close()


def summarize(source: ForecastSource, *, bot: str | None = None, model: str | None = None,
              symbol: str | None = None) -> list[ModelSummary]:
    """Per (model, symbol), sorted by both, the figures of the forecasts matching the filters.
    One pass of SQL aggregates for the figures and one for the calibration, so it stays cheap on
    a large store."""
    where, args = where_clause(bot=bot, model=model, symbol=symbol)
    directional_only = f"{where} AND hit IS NOT NULL" if where else " WHERE hit IS NOT NULL"
    with open_store(source) as store:
        buckets: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for m, s, bucket, n, hits in store.query(
                f"SELECT model, symbol, {_BUCKET_SQL} AS bucket, COUNT(*), SUM(hit) FROM forecasts"
                f"{directional_only} GROUP BY model, symbol, bucket", args):
            buckets.setdefault((m, s), [(0, 0)] * len(_BUCKET_BOUNDS))[bucket] = (n, hits)
        rows = store.query(
            "SELECT model, symbol, COUNT(*), COUNT(scored_ts_ms), COUNT(hit), TOTAL(hit), AVG(abs_error), "
            "AVG(pct_error), AVG(confidence), AVG(CASE WHEN hit IS NOT NULL THEN trade_return END) "
            f"FROM forecasts{where} GROUP BY model, symbol ORDER BY model, symbol", args).fetchall()
    empty = [(0, 0)] * len(_BUCKET_BOUNDS)
    return [ModelSummary(m, s, count, scored, directional, int(hits), mae, mape, confidence, trade_return,
                         tuple(CalibrationBucket(low, high, n, h)
                               for (low, high), (n, h) in zip(_BUCKET_BOUNDS, buckets.get((m, s), empty))))
            for m, s, count, scored, directional, hits, mae, mape, confidence, trade_return in rows]


def to_json(summaries: list[ModelSummary]) -> str:
    """The summaries as a JSON array of objects: every field, `hit_rate` and `pending` too, and
    `calibration` as a list of {low, high, count, hits, hit_rate}. Rates and returns are
    fractions; undefined figures are null."""
    return json.dumps([_summary_dict(s) for s in summaries], allow_nan=False)


def format_table(summaries: list[ModelSummary]) -> str:
    """The summaries as aligned text: one line per model and symbol, then the calibration table."""
    if not summaries:
        return "no forecasts"
    figures = _aligned(
        ("model", "symbol", "forecasts", "scored", "hit rate", "MAE", "MAPE", "mean conf", "trade return"),
        [(s.model, s.symbol, str(s.count), str(s.scored), _hit_rate(s.hit_rate, s.directional),
          _or_dash(s.mae, "{:.6g}"), _or_dash(s.mape, "{:.3%}"), f"{s.mean_confidence:.3f}",
          _or_dash(s.mean_trade_return, "{:+.3%}")) for s in summaries])
    calibration = _aligned(
        ("model", "symbol", *(f"{low:.1f}-{high:.1f}" for low, high in _BUCKET_BOUNDS)),
        [(s.model, s.symbol, *(_hit_rate(b.hit_rate, b.count) for b in s.calibration)) for s in summaries])
    return f"{figures}\n\nhit rate by confidence (forecasts with a direction, scored)\n{calibration}"


def export_forecasts(source: ForecastSource, out_path: Path | str, *, bot: str | None = None,
                     model: str | None = None, symbol: str | None = None) -> int:
    """Write the forecasts matching the filters to `out_path` as JSON lines (see the module
    docstring), replacing it whole once written; return how many lines."""
    out_path = Path(out_path)
    where, args = where_clause(bot=bot, model=model, symbol=symbol)
    partial = out_path.with_name(f".{out_path.name}.partial")
    lines = 0
    with open_store(source) as store:
        cursor = store.query(f"SELECT {', '.join(FORECAST_COLUMNS)} FROM forecasts{where} "
                             "ORDER BY ts_ms, model, symbol, bot", args)
        try:
            with partial.open("w", encoding="utf-8") as out:
                for row in cursor:
                    out.write(json.dumps(dict(zip(FORECAST_COLUMNS, row)), allow_nan=False, separators=(",", ":")))
                    out.write("\n")
                    lines += 1
            os.replace(partial, out_path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return lines


def _summary_dict(s: ModelSummary) -> dict:
    return {"model": s.model, "symbol": s.symbol, "count": s.count, "scored": s.scored, "pending": s.pending,
            "directional": s.directional, "hits": s.hits, "hit_rate": s.hit_rate, "mae": s.mae, "mape": s.mape,
            "mean_confidence": s.mean_confidence, "mean_trade_return": s.mean_trade_return,
            "calibration": [{"low": b.low, "high": b.high, "count": b.count, "hits": b.hits, "hit_rate": b.hit_rate}
                            for b in s.calibration]}


def _hit_rate(rate: float | None, count: int) -> str:
    return "-" if rate is None else f"{rate:.1%} of {count}"


def _or_dash(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def _aligned(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Text columns left-aligned (the first two: model and symbol), figures right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return "\n".join(
        "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in (header, *rows))
