"""An optimisation's result for people (the best trials as a table; per fold, in-sample against
out-of-sample), as one JSON object, and the best values as a bot config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runner.research.optimize import OptimizeResult
from runner.research.store import TrialRecord, TrialState

__all__ = ["format_optimize_report", "optimize_json", "write_best_config"]


def format_optimize_report(result: OptimizeResult, *, top: int = 10) -> str:
    request = result.request
    names = request.space.names
    lines = [
        f"Optimize  {result.bot.id}  ({result.bot.strategy.name} on {result.bot.symbol} {result.bot.timeframe}, "
        f"{result.candles:,} candles)",
        f"  study     {result.study}  ({request.settings.method}, objective {request.objective}"
        + (f", at least {request.settings.min_trades} trade{'' if request.settings.min_trades == 1 else 's'}"
           if request.settings.min_trades else "") + ")",
        f"  params    {'  '.join(request.space.describe())}",
        f"  trials    {_counts(result)}; {result.ran:,} run now on {request.jobs} "
        f"process{'es' if request.jobs > 1 else ''} in {result.elapsed_s:.1f} s ({_per_minute(result):,.0f} a minute)"
        + _repeats(result),
    ]
    if result.folds:
        lines += ["", f"Walk-forward, {len(result.folds)} folds ({'anchored' if request.anchored else 'rolling'}):",
                  *_fold_table(result)]
    for outcome in result.searches[-1:]:
        title = "Best trials" + (" of the last fold" if result.folds else "")
        lines += ["", f"{title}:", *_trial_table(outcome.top(top), names)]
    if result.best is None:
        lines += ["", "No trial met the constraints" + _why_none(result.searches[-1].trials) + "."]
    return "\n".join(lines)


def _repeats(result: OptimizeResult) -> str:
    """TPE's trials that proposed a set already tried: counted as trials, but not in the study
    (200 asked, 151 in the study would otherwise read as trials lost)."""
    repeated = sum(outcome.repeated for outcome in result.searches)
    trials = "trial" if repeated == 1 else "trials"
    return f"; {repeated:,} more {trials} proposed a set already tried" if repeated else ""


def _why_none(trials: list[TrialRecord]) -> str:
    """Each state's count and its first note (`4 invalid, e.g. fast must be below slow`): the
    report shows no trial otherwise, and the reason is what the next command changes."""
    first: dict[TrialState, TrialRecord] = {}
    counts: dict[TrialState, int] = {}
    for trial in trials:
        first.setdefault(trial.state, trial)
        counts[trial.state] = counts.get(trial.state, 0) + 1
    parts = [f"{n:,} {state.value}" + (f", e.g. {first[state].note}" if first[state].note else "")
             for state, n in counts.items()]
    return f": {'; '.join(parts)}" if parts else ""


def optimize_json(result: OptimizeResult, *, top: int = 10) -> dict[str, Any]:
    request = result.request
    payload: dict[str, Any] = {
        "bot": result.bot.id, "study": result.study, "method": request.settings.method,
        "objective": request.objective, "min_trades": request.settings.min_trades,
        "params": request.space.describe(), "candles": result.candles, "jobs": request.jobs,
        "trials": _count_dict(result), "ran": result.ran, "elapsed_s": result.elapsed_s,
        "trials_per_min": _per_minute(result),
        "best": _trial_json(result.best) if result.best else None,
        "top": [_trial_json(t) for t in result.searches[-1].top(top)],
    }
    if result.folds:
        payload["walk_forward"] = {
            "mode": "anchored" if request.anchored else "rolling",
            "folds": [{
                "fold": f.fold.index + 1, "study": f.study,
                "in_sample": [f.fold.in_sample.first, f.fold.in_sample.stop],
                "out_of_sample": [f.fold.out_of_sample.first, f.fold.out_of_sample.stop],
                "params": f.best.params if f.best else None,
                "in_sample_value": f.in_sample_value, "out_of_sample_value": f.out_of_sample_value,
                "ratio": f.ratio,
                "in_sample_return_pct": f.best.summary["return_pct"] if f.best else None,
                "out_of_sample_return_pct": f.out_of_sample["return_pct"] if f.out_of_sample else None,
                "out_of_sample_trades": f.out_of_sample["trades"] if f.out_of_sample else None,
            } for f in result.folds],
        }
    return payload


def write_best_config(result: OptimizeResult, path: Path) -> bool:
    """Write the best values as a bot config YAML (the searched config with them set); False
    when there is no best trial."""
    config = result.best_config()
    if config is None:
        return False
    best = result.best
    header = (f"# Written by botrunner optimize: study {result.study}, trial {best.number}, "
              f"{result.request.objective} {best.value:.4g}\n")
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return True


def _trial_table(trials: list[TrialRecord], names: list[str]) -> list[str]:
    if not trials:
        return []
    headers = ["#", "trial", *names, "objective", "return %", "sharpe", "max dd %", "trades"]
    rows = [[str(rank), str(t.number), *(_value_text(t.params[n]) for n in names), f"{t.value:.4g}",
             f"{t.summary['return_pct']:.2f}", f"{t.summary['sharpe']:.2f}",
             f"{t.summary['max_drawdown_pct']:.2f}", str(t.summary["trades"])]
            for rank, t in enumerate(trials, 1)]
    return _aligned(headers, rows)


def _fold_table(result: OptimizeResult) -> list[str]:
    names = result.request.space.names
    headers = ["fold", "in-sample", "out-of-sample", *names, "IS value", "OOS value", "OOS/IS", "IS ret %",
               "OOS ret %"]
    rows = []
    for f in result.folds:
        params = [_value_text(f.best.params[n]) if f.best else "-" for n in names]
        rows.append([str(f.fold.index + 1), _span(f.fold.in_sample), _span(f.fold.out_of_sample), *params,
                     _number(f.in_sample_value), _number(f.out_of_sample_value), _number(f.ratio),
                     _number(f.best.summary["return_pct"] if f.best else None),
                     _number(f.out_of_sample["return_pct"] if f.out_of_sample else None)])
    return _aligned(headers, rows)


def _aligned(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return [line(headers), *map(line, rows)]


def _trial_json(trial: TrialRecord) -> dict[str, Any]:
    return {"number": trial.number, "params": trial.params, "value": trial.value, "state": trial.state.value,
            "summary": trial.summary}


def _count_dict(result: OptimizeResult) -> dict[str, int]:
    counts = {state.value: 0 for state in TrialState}
    for outcome in result.searches:
        for trial in outcome.trials:
            counts[trial.state.value] += 1
    return counts


def _counts(result: OptimizeResult) -> str:
    counts = _count_dict(result)
    total = sum(counts.values())
    return f"{total:,} in the study" + "".join(f", {n:,} {state}" for state, n in counts.items() if n)


def _per_minute(result: OptimizeResult) -> float:
    return result.ran / result.elapsed_s * 60.0 if result.elapsed_s > 0 else 0.0


def _span(window) -> str:
    return f"{window.first}..{window.stop}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
