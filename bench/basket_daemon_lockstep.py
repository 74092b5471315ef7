"""Daemon candles per second of a sim basket's legs stepped in lockstep (`runner.basket.lockstep`),
against the same legs each at its own pace (the daemon before lockstep) and the basket's backtest
(`runner.basket.stepping`), alternated in one process.

    python bench/basket_daemon_lockstep.py [--bars 20000] [--repeat 3]

configs/bots/synthetic-basket.yaml (5 symbols, 15m) with `bars` candles a leg, run to its end
under a BotManager at full speed (no `speed`), journal and snapshots on disk in a temporary
folder (its drawdown kill at 90%, not 30%: see `main`); each figure is the best of `--repeat` runs. The unlocked runs end elsewhere (their trades
are printed too): the legs decide on moments that never existed, which is what lockstep fixes.
The backtest is timed as a whole call too (candles made, legs built, stepped, report figures),
as the daemon's runs are (legs built, stepped, journal and snapshots written).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from market.shared import FeedHub  # noqa: E402
from runner.basket.backtest import run_basket_backtest  # noqa: E402
from runner.bot.lockstep_flow import LockstepFlow  # noqa: E402
from runner.config.basket import load_bot_or_basket  # noqa: E402
from runner.daemon.manager import BotManager, DaemonServices  # noqa: E402
from runner.state.journal import SqliteJournal  # noqa: E402
from runner.state.snapshots import SnapshotStore  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
IN_LOCKSTEP = LockstepFlow.step_in_lockstep


async def run_once(path: Path, locked: bool) -> tuple[float, int, int]:
    """(seconds, candles, trades) of one daemon run of the basket file at `path`."""
    LockstepFlow.step_in_lockstep = IN_LOCKSTEP if locked else (lambda self: None)
    with tempfile.TemporaryDirectory() as folder:
        journal = SqliteJournal(Path(folder) / "journal.sqlite3")
        services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(Path(folder) / "bots"))
        try:
            manager = BotManager(load_bot_or_basket(path).legs(), services)
            started = time.perf_counter()
            await manager.run(asyncio.Event())
            elapsed = time.perf_counter() - started
            statuses = manager.statuses()
            return elapsed, sum(s.bars for s in statuses), sum(s.fills for s in statuses) // 2
        finally:
            services.close()
            journal.close()
            LockstepFlow.step_in_lockstep = IN_LOCKSTEP


async def backtest_once(path: Path) -> tuple[float, int, int]:
    """(seconds, candles, trades) of the basket's backtest, the whole call."""
    started = time.perf_counter()
    result = (await run_basket_backtest(load_bot_or_basket(path))).result
    return time.perf_counter() - started, result.bars, len(result.trades)


async def main(bars: int, repeat: int) -> None:
    logger.remove()
    # max_drawdown_pct 0.9: the unlocked legs trip the file's 0.3 kill (the bug), and a killed
    # basket keeps the daemon up, latched, until resumed: neither run must end so.
    text = (PROJECT / "configs/bots/synthetic-basket.yaml").read_text().replace("bars: 20000", f"bars: {bars}")
    text = text.replace("max_drawdown_pct: 0.3", "max_drawdown_pct: 0.9")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic-basket.yaml"
        path.write_text(text)
        best: dict[str, tuple[float, int, int]] = {}
        for _ in range(repeat):
            for kind in ("locked", "own pace", "backtest"):    # alternated: the machine's load hits all alike
                run = await (backtest_once(path) if kind == "backtest" else run_once(path, kind == "locked"))
                if kind not in best or run[0] < best[kind][0]:
                    best[kind] = run
    print(f"synthetic-basket.yaml in the daemon: 5 legs x {bars:,} 15m candles, best of {repeat}")
    for kind, label in (("locked", "legs in lockstep"), ("own pace", "legs each at its pace"),
                        ("backtest", "the basket's backtest")):
        secs, candles, trades = best[kind]
        print(f"  {label:<24} {candles / secs:>10,.0f} candles/s   ({candles:,} candles in {secs:.3f} s, "
              f"~{trades:,} round trips)")
    print(f"  lockstep / own pace        {best['locked'][0] / best['own pace'][0]:.2f}x the time")
    print(f"  lockstep / backtest        {best['locked'][0] / best['backtest'][0]:.2f}x the time")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.bars, args.repeat))
