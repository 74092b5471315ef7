"""A parameter search: proposals (grid, random, or Optuna's TPE) run as backtests on the pool,
judged by the objective and the constraints, each recorded as it finishes.

Grid and random searches propose a fixed sequence (every combination in order; `n_trials`
seeded draws), so a resumed search walks the same sequence and skips the values it has done.
TPE proposes from what it has seen: its own study (Optuna's SQLite storage in the state folder)
keeps the history, and trials left running by an interrupted search are marked failed there.
A set of values seen before in the study (TPE repeats itself on small integer grids) is not run
again: its recorded result is reused.
"""

from __future__ import annotations

import itertools
import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from runner.config.bot import bot_config_problems
from runner.research.objectives import Objective, score
from runner.research.params import ParamSpace, ParamSpec, apply_params
from runner.research.pool import BacktestPool, Window
from runner.research.store import TrialRecord, TrialState, TrialStore, params_key

__all__ = ["METHODS", "SearchOutcome", "SearchSettings", "run_search"]

METHODS = ("grid", "random", "tpe")

# (trials done, trials planned, best value so far)
SearchProgress = Callable[[int, int, float | None], None]


@dataclass(frozen=True, slots=True)
class SearchSettings:
    method: str = "grid"
    n_trials: int | None = None        # grid: every combination when None
    seed: int = 0
    min_trades: int = 0


@dataclass(slots=True)
class SearchOutcome:
    study: str
    trials: list[TrialRecord]
    ran: int                           # backtests run by this invocation (not resumed, not reused)
    elapsed_s: float
    repeated: int = 0                  # TPE's proposals of a set already tried: trials without a backtest
    best: TrialRecord | None = field(init=False)

    def __post_init__(self) -> None:
        complete = [t for t in self.trials if t.state is TrialState.COMPLETE]
        self.best = max(complete, key=lambda t: (t.value, -t.number)) if complete else None

    def top(self, count: int) -> list[TrialRecord]:
        complete = [t for t in self.trials if t.state is TrialState.COMPLETE]
        return sorted(complete, key=lambda t: (-t.value, t.number))[:count]


class Proposer(Protocol):
    planned: int
    lookahead: int        # tasks queued per process: more keeps workers busy, fewer keeps TPE's view fresh

    def propose(self) -> dict[str, Any] | None: ...
    def tell(self, params: dict[str, Any], record: TrialRecord) -> None: ...
    def abandon(self) -> None: ...


def run_search(
    *, study: str, pool: BacktestPool, space: ParamSpace, raw_config: dict[str, Any], config_path: Path,
    objective: Objective, settings: SearchSettings, store: TrialStore, window: Window = Window(),
    optuna_storage: str | None = None, progress: SearchProgress | None = None,
) -> SearchOutcome:
    """Run the study's remaining trials on `pool`; Ctrl-C stops it with every finished trial kept."""
    started = time.perf_counter()
    done = {t.key: t for t in store.trials(study)}
    proposer = _proposer(settings, space, study, done, optuna_storage)
    next_number = max((t.number for t in done.values()), default=-1) + 1
    in_flight: dict[Future, dict[str, Any]] = {}
    ran = repeated = 0
    best = max((t.value for t in done.values() if t.state is TrialState.COMPLETE), default=None)

    def finish(params: dict[str, Any], record: TrialRecord) -> None:
        nonlocal next_number, best
        store.add(study, record)
        done[record.key] = record
        next_number += 1
        proposer.tell(params, record)
        if record.state is TrialState.COMPLETE and (best is None or record.value > best):
            best = record.value
        if progress is not None:
            progress(len(done), max(proposer.planned, len(done)), best)

    try:
        while True:
            while len(in_flight) < pool.jobs * proposer.lookahead:
                params = proposer.propose()
                if params is None:
                    break
                record = _known_or_invalid(params, done, next_number, space, raw_config, config_path)
                if record is not None:
                    if record.key in done:                 # TPE proposed values it has seen
                        proposer.tell(params, record)
                        repeated += 1
                        continue
                    finish(params, record)
                    continue
                config = _config(raw_config, space, params, config_path)[0]
                future = pool.submit(config, window)
                in_flight[future] = params          # numbered when it finishes, in finishing order
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                params = in_flight.pop(future)
                ran += 1
                finish(params, _judged(next_number, params, future, objective, settings.min_trades))
    except BaseException:
        proposer.abandon()
        raise
    return SearchOutcome(study, store.trials(study), ran, time.perf_counter() - started, repeated)


def _config(raw_config: dict[str, Any], space: ParamSpace, params: dict[str, Any], config_path: Path):
    return bot_config_problems(config_path, apply_params(raw_config, space, params))


def _known_or_invalid(params: dict[str, Any], done: dict[str, TrialRecord], number: int, space: ParamSpace,
                      raw_config: dict[str, Any], config_path: Path) -> TrialRecord | None:
    if (key := params_key(params)) in done:
        return done[key]
    config, problems = _config(raw_config, space, params, config_path)
    if config is None:
        # The file's name starts each problem line; the values that caused it are what matter here.
        note = "; ".join(line.split(": ", 1)[-1] for line in problems)
        return TrialRecord(number, params, TrialState.INVALID, note=note)
    return None


def _judged(number: int, params: dict[str, Any], future: Future, objective: Objective,
            min_trades: int) -> TrialRecord:
    try:
        summary = future.result()
    except Exception as exc:     # one broken trial is recorded; the search goes on
        return TrialRecord(number, params, TrialState.FAILED, note=f"{type(exc).__name__}: {exc}")
    if summary["trades"] < min_trades:
        return TrialRecord(number, params, TrialState.INFEASIBLE, summary=summary,
                           note=f"{summary['trades']} {'trade' if summary['trades'] == 1 else 'trades'}, "
                                f"fewer than --min-trades {min_trades}")
    value = score(objective, summary)
    if value is None:
        return TrialRecord(number, params, TrialState.INFEASIBLE, summary=summary,
                           note="the objective is not a finite number")
    return TrialRecord(number, params, TrialState.COMPLETE, value=value, summary=summary)


def _proposer(settings: SearchSettings, space: ParamSpace, study: str, done: dict[str, TrialRecord],
              optuna_storage: str | None) -> Proposer:
    if settings.method == "grid":
        combos = [dict(zip(space.names, values))
                  for values in itertools.product(*(spec.grid_values() for spec in space.specs))]
        if settings.n_trials is not None:
            combos = combos[:settings.n_trials]
        return SequenceProposer(combos, done)
    if settings.method == "random":
        return SequenceProposer(list(_random_draws(space, settings.n_trials or 100, settings.seed)), done)
    if settings.method == "tpe":
        if optuna_storage is None:
            raise ValueError("a TPE search needs its Optuna storage")
        return TpeProposer(space, study, optuna_storage, settings.n_trials or 100, settings.seed)
    raise ValueError(f"unknown search method {settings.method!r}; use one of {', '.join(METHODS)}")


def _random_draws(space: ParamSpace, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` different sets of values drawn with `seed` (fewer when the space has fewer)."""
    rng = random.Random(seed)
    seen: set[tuple] = set()
    finite = all(spec.choices is not None or spec.step is not None for spec in space.specs)
    limit = min(count, space.grid_size()) if finite else count
    misses = 0
    while len(seen) < limit and misses < 100 * count:
        values = tuple(spec.sample(rng) for spec in space.specs)
        if values in seen:
            misses += 1
            continue
        seen.add(values)
        yield dict(zip(space.names, values))


class SequenceProposer:
    """Proposes a fixed list in order, skipping the values already done."""

    lookahead = 2         # a second task queued per worker: it never waits while this process records a trial

    def __init__(self, candidates: list[dict[str, Any]], done: dict[str, TrialRecord]) -> None:
        self.planned = len(candidates)
        self._todo = iter([c for c in candidates if params_key(c) not in done])

    def propose(self) -> dict[str, Any] | None:
        return next(self._todo, None)

    def tell(self, params: dict[str, Any], record: TrialRecord) -> None:
        pass

    def abandon(self) -> None:
        pass


class TpeProposer:
    """Optuna's TPE sampler through its ask-and-tell interface, with the study in `storage`.

    Optuna is imported here, lazily: grid and random searches (and everything else) run
    without it installed; it comes with the `research` extra."""

    lookahead = 1         # each proposal is made knowing every result but those still running

    def __init__(self, space: ParamSpace, study: str, storage: str, n_trials: int, seed: int) -> None:
        try:
            import optuna
        except ImportError:
            raise RuntimeError("a TPE search needs Optuna: pip install -e '.[research]' "
                               "(grid and random searches do without it)") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._study = optuna.create_study(study_name=study, storage=storage, direction="maximize",
                                          sampler=optuna.samplers.TPESampler(seed=seed), load_if_exists=True)
        states = optuna.trial.TrialState
        for trial in self._study.get_trials(deepcopy=False, states=(states.RUNNING, states.WAITING)):
            self._study.tell(trial.number, state=states.FAIL)      # left running by an interrupted search
        finished = self._study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED))
        self._remaining = max(0, n_trials - len(finished))
        self.planned = n_trials
        self._distributions = {spec.name: _distribution(optuna, spec) for spec in space.specs}
        self._asked: dict[str, list[int]] = {}

    def propose(self) -> dict[str, Any] | None:
        if self._remaining <= 0:
            return None
        self._remaining -= 1
        trial = self._study.ask(self._distributions)
        params = dict(trial.params)
        self._asked.setdefault(params_key(params), []).append(trial.number)
        return params

    def tell(self, params: dict[str, Any], record: TrialRecord) -> None:
        numbers = self._asked.get(record.key)
        if not numbers:
            return
        number = numbers.pop(0)
        states = self._optuna.trial.TrialState
        if record.state is TrialState.COMPLETE:
            self._study.tell(number, record.value)
        elif record.state is TrialState.FAILED:
            self._study.tell(number, state=states.FAIL)
        else:
            # Pruned, with no value: TPE ranks such trials below every complete one, which is
            # what a broken constraint or a refused config should be.
            self._study.tell(number, state=states.PRUNED)

    def abandon(self) -> None:
        states = self._optuna.trial.TrialState
        for numbers in self._asked.values():
            for number in numbers:
                self._study.tell(number, state=states.FAIL)
        self._asked.clear()


def _distribution(optuna: Any, spec: ParamSpec) -> Any:
    distributions = optuna.distributions
    if spec.choices is not None:
        return distributions.CategoricalDistribution(spec.choices)
    if spec.integer:
        high = int(spec.grid_values()[-1])      # Optuna wants HIGH on the step grid
        return distributions.IntDistribution(int(spec.low), high, step=int(spec.step))
    if spec.step is not None:
        return distributions.FloatDistribution(spec.low, spec.grid_values()[-1], step=spec.step)
    return distributions.FloatDistribution(spec.low, spec.high)
