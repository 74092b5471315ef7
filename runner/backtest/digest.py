"""A backtest's outcome as a canonical record, and what changed between two records.

The golden runs (`tests/golden/`) keep one record per representative config: headline figures
a person can read, a sha256 of the trades and one of the equity curve, the trades themselves
(to show the first that differs) and every `EQUITY_SAMPLE_EVERY`th equity point (to show where
the curve first parts). Floats are written by `repr` through `json`, which reads back to the
same bits, so two records are equal exactly when the runs were.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from portfolio.trades import Trade
from runner.backtest.run import BacktestResult

__all__ = ["EQUITY_SAMPLE_EVERY", "backtest_record", "dumps_record", "record_changes"]

EQUITY_SAMPLE_EVERY = 250
TRADE_FIELDS = ("entry_ts_ms", "exit_ts_ms", "quantity", "entry_price", "exit_price", "pnl", "fees", "exit_reason")
# Sharpe is numpy's mean and std of the returns, whose summation order can follow the CPU's
# vector width: the same run may differ in its last bits on another machine. Everything else
# is pure Python arithmetic in a fixed order and is compared exactly.
_CLOSE_ENOUGH = {"sharpe": 1e-9}
_HEADLINE = ("bars", "trades", "final_equity", "return_pct", "max_drawdown_pct", "sharpe", "fees",
             "win_rate_pct", "state", "stop_reason")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def trade_row(trade: Trade) -> list[Any]:
    return [getattr(trade, name) for name in TRADE_FIELDS]


def backtest_record(result: BacktestResult) -> dict[str, Any]:
    """The record of one bot's backtest: headline, digests, trades and sampled equity."""
    summary = result.summary()
    trades = [trade_row(t) for t in result.trades]
    return {
        "headline": {key: summary[key] for key in _HEADLINE},
        "digests": {"trades_sha256": hashlib.sha256(_canonical(trades)).hexdigest(),
                    "equity_sha256": hashlib.sha256(_canonical(result.equity_curve)).hexdigest(),
                    "equity_points": len(result.equity_curve)},
        "equity_sampled": result.equity_curve[::EQUITY_SAMPLE_EVERY],
        "trades": trades,
    }


def dumps_record(record: dict[str, Any]) -> str:
    """The record as JSON for a person: two-space indents, one trade or one sample per line."""
    lines = ["{"]
    items = list(record.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            rows = [f"    {json.dumps(v, allow_nan=False)}" for v in value]
            lines.append(f'  "{key}": [\n' + ",\n".join(rows) + f"\n  ]{comma}")
        elif isinstance(value, dict):
            inner = json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n  ")
            lines.append(f'  "{key}": {inner}{comma}')
        else:
            lines.append(f'  "{key}": {json.dumps(value, allow_nan=False)}{comma}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def record_changes(expected: dict[str, Any], actual: dict[str, Any], *, name: str = "") -> list[str]:
    """What differs from `expected` to `actual`, one readable line each; empty when equal. A
    record may hold records of its own (a portfolio: one per bot and the whole)."""
    prefix = f"{name}: " if name else ""
    changes: list[str] = []
    if "headline" not in expected:
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                changes.append(f"{prefix}{key}: {'added' if key in actual else 'gone'}")
            elif isinstance(expected[key], dict) and isinstance(actual[key], dict):
                changes.extend(record_changes(expected[key], actual[key], name=f"{name}.{key}" if name else key))
            elif expected[key] != actual[key]:
                changes.append(f"{prefix}{key}: {expected[key]!r} -> {actual[key]!r}")
        return changes
    for key in sorted(set(expected["headline"]) | set(actual["headline"])):
        was, now = expected["headline"].get(key), actual["headline"].get(key)
        if not _same(key, was, now):
            changes.append(f"{prefix}{key}: {was!r} -> {now!r}")
    if expected["digests"] != actual["digests"]:
        changes.extend(_first_difference(prefix, "trade", expected["trades"], actual["trades"]))
        changes.extend(_first_difference(prefix, f"equity sample (every {EQUITY_SAMPLE_EVERY}th point)",
                                         expected["equity_sampled"], actual["equity_sampled"]))
        if not changes:
            changes.append(f"{prefix}the equity curve changed between its samples "
                           f"({expected['digests']['equity_sha256'][:12]} -> {actual['digests']['equity_sha256'][:12]})")
    return changes


def _same(key: str, was: Any, now: Any) -> bool:
    tolerance = _CLOSE_ENOUGH.get(key)
    if tolerance is not None and isinstance(was, float) and isinstance(now, float):
        return math.isclose(was, now, rel_tol=tolerance, abs_tol=tolerance)
    return was == now


def _first_difference(prefix: str, what: str, expected: list[Any], actual: list[Any]) -> list[str]:
    for index, (was, now) in enumerate(zip(expected, actual)):
        if was != now:
            return [f"{prefix}first differing {what} #{index}:", f"    was {was}", f"    now {now}"]
    if len(expected) != len(actual):
        return [f"{prefix}{what}s: {len(expected)} -> {len(actual)} (the first {min(len(expected), len(actual))} agree)"]
    return []
