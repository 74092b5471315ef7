"""Trials per minute of `botrunner optimize` on the process pool, against a single backtest's
speed times the cores (what the pool loses), and the same search at freqtrade-like speed.

    python bench/optimize.py [--jobs 2] [--fast 6:14:2] [--slow 20:40:5] [--repeat 5]

Runs configs/bots/btc-sma-cross.yaml (SMA 10/30) on ../shared/data/BTC_USD-1m-2022-01.csv
where it exists, else on its own 44,640 synthetic candles. First one backtest of the config in
this process, best of `--repeat` (the whole trial: composing the bot, the run, the figures);
then every trial of the grid `--fast` x `--slow` one by one in this process (CPU-timed: the
baseline, since trials differ in cost with their trades); then the same grid as a search on
`--jobs` processes in a fresh state folder, timed from start to end, spawning the workers and
their loading the candles included.

"Ideal" is `jobs` times the one-by-one trials a minute; the search's share of it is what the
pool keeps in wall time, which on a shared machine mostly follows the load. The CPU line does
not: the search's CPU a trial (workers and parent, over the trials) against one by one is what
the pool costs in work. The freqtrade line is the same trials' candles at 7,000 candles/s (the
issue's figure for freqtrade's backtests), on one core and spread over `jobs`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from real_candles import DATA  # noqa: E402
from runner.config.bot import bot_config_problems, load_bot_config, read_yaml_mapping  # noqa: E402
from runner.research.optimize import OptimizeRequest, run_optimize  # noqa: E402
from runner.research.params import apply_params, make_space, parse_param  # noqa: E402
from runner.research.pool import CandleSource, Window, backtest_window  # noqa: E402
from runner.research.search import SearchSettings  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "bots" / "btc-sma-cross.yaml"
FREQTRADE_CANDLES_PER_SEC = 7_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fast", default="6:14:2")
    parser.add_argument("--slow", default="20:40:5")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    data = DATA if DATA.exists() else None
    config = load_bot_config(CONFIG)
    candles = CandleSource(config, data).load()
    single_s, single_cpu_s = [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        summary = backtest_window(config, candles, Window())
        single_s.append(time.perf_counter() - started)
        single_cpu_s.append(time.process_time() - started_cpu)
    trial_s, trial_cpu_s = min(single_s), min(single_cpu_s)

    space = make_space([parse_param(f"fast={args.fast}"), parse_param(f"slow={args.slow}")])
    raw = read_yaml_mapping(CONFIG)
    grid = [dict(zip(space.names, values)) for values in itertools.product(*(s.grid_values() for s in space.specs))]
    configs = [c for c in (bot_config_problems(CONFIG, apply_params(raw, space, p))[0] for p in grid) if c]
    # The same trials one after another in this process: the baseline the pool is held to.
    started_cpu = time.process_time()
    for trial_config in configs:
        backtest_window(trial_config, candles, Window())
    serial_cpu_s = (time.process_time() - started_cpu) / len(configs)

    children_before, main_before = _children_cpu_s(), time.process_time()
    with tempfile.TemporaryDirectory() as state:
        result = run_optimize(OptimizeRequest(
            config_path=CONFIG, space=space, settings=SearchSettings("grid"), jobs=args.jobs,
            state_dir=Path(state), data_path=data))
    # The workers have exited (the pool is shut down): their CPU time is in RUSAGE_CHILDREN.
    workers_cpu_s, main_cpu_s = _children_cpu_s() - children_before, time.process_time() - main_before
    ran, wall_s = result.ran, result.elapsed_s
    per_min = ran / wall_s * 60
    ideal = args.jobs * 60 / serial_cpu_s
    search_cpu_s = (workers_cpu_s + main_cpu_s) / ran
    freqtrade_s = ran * len(candles) / FREQTRADE_CANDLES_PER_SEC

    print(f"data: {data.name if data else 'the config own synthetic candles'} ({len(candles):,} candles), "
          f"grid fast={args.fast} x slow={args.slow}, {args.jobs} jobs, load average {os.getloadavg()[0]:.1f}")
    print(f"  one backtest, SMA 10/30           {trial_s * 1000:8.1f} ms   {len(candles) / trial_s:12,.0f} candles/s "
          f"(CPU {trial_cpu_s * 1000:.1f} ms; {summary['bars_per_sec']:,.0f}/s in the run alone; best of {args.repeat})")
    print(f"  the grid's trials one by one      {serial_cpu_s * 1000:8.1f} ms CPU a trial, "
          f"x {args.jobs} cores = {ideal:,.0f} trials/min (ideal)")
    print(f"  grid search on the pool, {ran} trials {per_min:8,.0f} trials/min   {wall_s:.2f} s wall, {per_min / ideal:.0%} "
          f"of ideal ({ran * len(candles) / wall_s:,.0f} candles/s)")
    print(f"  CPU a trial in the pool           {search_cpu_s * 1000:8.1f} ms   ({search_cpu_s / serial_cpu_s - 1:+.1%} on one "
          f"by one: workers {workers_cpu_s / ran * 1000:.1f} with their start and loading, parent {main_cpu_s / ran * 1000:.1f})")
    print(f"  at {FREQTRADE_CANDLES_PER_SEC:,} candles/s (freqtrade)      {freqtrade_s:8,.0f} s on one core, "
          f"{freqtrade_s / args.jobs:,.0f} s on {args.jobs}   ({freqtrade_s / args.jobs / wall_s:,.0f}x our wall time)")
    print(f"  best: {result.best.params} sharpe {result.best.value:.2f}")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
