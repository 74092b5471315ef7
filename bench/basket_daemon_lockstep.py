"""Daemon candles per second of a sim basket's legs stepped in lockstep (`runner.basket.lockstep`),
against the same legs each at its own pace (the daemon before lockstep), alternated in one process.

    python bench/basket_daemon_lockstep.py [--bars 20000] [--repeat 3]

configs/bots/synthetic-basket.yaml (5 symbols, 15m) with `bars` candles a leg, run to its end
under a BotManager at full speed (no `speed`), journal and snapshots on disk in a temporary
folder (its drawdown kill at 90%, not 30%: see `main`); each figure is the best of `--repeat` runs. The unlocked runs end elsewhere (their trades
are printed too): the legs decide on moments that never existed, which is what lockstep fixes.
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


async def main(bars: int, repeat: int) -> None:
    logger.remove()
    # max_drawdown_pct 0.9: the unlocked legs trip the file's 0.3 kill (the bug), and a killed
    # basket keeps the daemon up, latched, until resumed: neither run must end so.
    text = (PROJECT / "configs/bots/synthetic-basket.yaml").read_text().replace("bars: 20000", f"bars: {bars}")
    text = text.replace("max_drawdown_pct: 0.3", "max_drawdown_pct: 0.9")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic-basket.yaml"
        path.write_text(text)
        best: dict[bool, tuple[float, int, int]] = {}
        for _ in range(repeat):
            for locked in (True, False):           # alternated: the machine's load hits both alike
                run = await run_once(path, locked)
                if locked not in best or run[0] < best[locked][0]:
                    best[locked] = run
    print(f"synthetic-basket.yaml in the daemon: 5 legs x {bars:,} 15m candles, best of {repeat}")
    for locked, label in ((True, "legs in lockstep"), (False, "legs each at its pace")):
        secs, candles, trades = best[locked]
        print(f"  {label:<24} {candles / secs:>10,.0f} candles/s   ({candles:,} candles in {secs:.3f} s, "
              f"~{trades:,} round trips)")
    print(f"  lockstep / own pace        {best[True][0] / best[False][0]:.2f}x the time")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.bars, args.repeat))
