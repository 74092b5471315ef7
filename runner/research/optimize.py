"""`botrunner optimize`: one request in (config, ranges, method, objective...), a search or a
walk-forward run on a process pool out, with the best values as a bot config mapping."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from runner.config.bot import BotConfig, bot_config_problems, read_yaml_mapping, ConfigError
from runner.research.objectives import resolve_objective, score
from runner.research.params import ParamSpace, apply_params
from runner.research.pool import BacktestPool, CandleSource, Window
from runner.research.search import SearchOutcome, SearchProgress, SearchSettings, run_search
from runner.research.store import TrialRecord, TrialStore
from runner.research.walk_forward import FoldResult, split_folds

__all__ = ["OptimizeRequest", "OptimizeResult", "run_optimize", "TRIALS_FILE", "OPTUNA_FILE"]

TRIALS_FILE = "optimize.sqlite"
OPTUNA_FILE = "optuna.sqlite"


@dataclass(frozen=True, slots=True)
class OptimizeRequest:
    config_path: Path
    space: ParamSpace
    settings: SearchSettings
    objective: str = "sharpe"
    jobs: int = 1
    state_dir: Path = Path("state")
    study: str | None = None                  # default: the bot, method and a digest of the settings
    data_path: Path | None = None
    start: datetime | None = None
    end: datetime | None = None
    walk_forward: int = 0                     # folds; 0: one search over every candle
    anchored: bool = False
    log_level: str = "WARNING"


@dataclass(slots=True)
class OptimizeResult:
    request: OptimizeRequest
    bot: BotConfig
    raw_config: dict[str, Any]                # as the file has it (a paper or live bot stays one)
    searches: list[SearchOutcome]             # one, or one per fold
    folds: list[FoldResult] = field(default_factory=list)
    candles: int = 0
    elapsed_s: float = 0.0

    @property
    def study(self) -> str:
        return self.searches[0].study if not self.folds else self.searches[0].study.rsplit("/", 1)[0]

    @property
    def best(self) -> TrialRecord | None:
        """The best trial of the search; with folds, the last fold's (the most recent data)."""
        return self.searches[-1].best

    @property
    def ran(self) -> int:
        return sum(s.ran for s in self.searches)

    def best_config(self) -> dict[str, Any] | None:
        """The config mapping with the best values set: what `--out` writes."""
        if self.best is None:
            return None
        return apply_params(self.raw_config, self.request.space, self.best.params)


def run_optimize(request: OptimizeRequest, *, progress: Callable[[str], SearchProgress | None] = lambda s: None
                 ) -> OptimizeResult:
    """Run the request; ConfigError for a bad config, ValueError (StudyMismatch, too many folds,
    an unknown method) for bad settings, `market.errors.MarketDataError` for unusable candles.

    `progress(study)` gives the callback of each search (None: no progress shown)."""
    started = time.perf_counter()
    raw = original = read_yaml_mapping(request.config_path)
    bot, problems = bot_config_problems(request.config_path, raw)
    if bot is None:
        raise ConfigError(problems)
    if bot.mode != "sim":
        raw = {**raw, "mode": "sim"}          # searched as a backtest, whatever the bot trades in
        raw.pop("exchange", None)
        bot, problems = bot_config_problems(request.config_path, raw)
        if bot is None:
            raise ConfigError(problems)
    if unknown := _unknown_searched_fields(raw, request.space, request.config_path):
        raise ConfigError(unknown)
    objective = resolve_objective(request.objective)
    source = CandleSource(bot, request.data_path, request.start, request.end)
    study = request.study or _default_study(bot, request, raw)
    settings = _study_settings(request, raw)
    request.state_dir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(request.state_dir / OPTUNA_FILE).resolve()}" if request.settings.method == "tpe" else None
    with TrialStore(request.state_dir / TRIALS_FILE) as store, \
            BacktestPool(source, jobs=request.jobs, log_level=request.log_level) as pool:
        candles = len(pool.candles())

        def search(name: str, window: Window) -> SearchOutcome:
            store.open_study(name, {**settings, "window": [window.first, window.stop]})
            return run_search(study=name, pool=pool, space=request.space, raw_config=raw,
                              config_path=request.config_path, objective=objective, settings=request.settings,
                              store=store, window=window, optuna_storage=storage, progress=progress(name))

        if not request.walk_forward:
            outcome = search(study, Window())
            return OptimizeResult(request, bot, original, [outcome], candles=candles,
                                  elapsed_s=time.perf_counter() - started)
        searches, folds = [], []
        for fold in split_folds(candles, request.walk_forward, anchored=request.anchored):
            outcome = search(f"{study}/fold-{fold.index + 1}", fold.in_sample)
            searches.append(outcome)
            folds.append(_test_out_of_sample(fold, outcome, pool, raw, request, objective))
        return OptimizeResult(request, bot, original, searches, folds, candles=candles,
                              elapsed_s=time.perf_counter() - started)


def _unknown_searched_fields(raw: dict[str, Any], space: ParamSpace, config_path: Path) -> list[str]:
    """A line per searched name the config has no field for (`slwo`, `risk.stop_los_pct`). Each
    trial would be recorded invalid with the same note and the search end with no best, exit 0:
    a typo is said once, before anything runs. Each name is tried alone at its first value."""
    problems = []
    for spec in space.specs:
        first = spec.low if spec.choices is None and spec.step is None else spec.grid_values()[0]
        _, lines = bot_config_problems(config_path, apply_params(raw, ParamSpace((spec,)), {spec.name: first}))
        dotted = ".".join(spec.path)
        for line in lines:
            where, _, what = line.removeprefix(f"{config_path}: ").partition(": ")
            if what.startswith("unknown field") and (dotted == where or dotted.startswith(where + ".")):
                problems.append(f"searched parameter {spec.name}: {line}")
    return problems


def _test_out_of_sample(fold, outcome: SearchOutcome, pool: BacktestPool, raw: dict[str, Any],
                        request: OptimizeRequest, objective) -> FoldResult:
    if outcome.best is None:
        return FoldResult(fold, outcome.study, None, None, None)
    config, _ = bot_config_problems(request.config_path, apply_params(raw, request.space, outcome.best.params))
    summary = pool.submit(config, fold.out_of_sample).result()
    return FoldResult(fold, outcome.study, outcome.best, score(objective, summary), summary)


def _study_settings(request: OptimizeRequest, raw: dict[str, Any]) -> dict[str, Any]:
    """What makes two searches the same search (the trial count is not: a resumed search may
    be asked for more trials)."""
    return {
        "config": json.dumps(raw, sort_keys=True, default=str), "params": request.space.describe(),
        "method": request.settings.method, "seed": request.settings.seed, "objective": request.objective,
        "min_trades": request.settings.min_trades, "data": str(request.data_path) if request.data_path else None,
        "from": str(request.start), "to": str(request.end),
        "walk_forward": request.walk_forward, "anchored": request.anchored,
    }


def _default_study(bot: BotConfig, request: OptimizeRequest, raw: dict[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(_study_settings(request, raw), sort_keys=True).encode()).hexdigest()[:8]
    return f"{bot.id}-{request.settings.method}-{digest}"
