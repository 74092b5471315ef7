"""What a bot's recovery costs as the daemon builds it: `recover` for a bot that re-runs its
candles (sim: it also reads the kills, resumes and governance decisions of its whole journal,
`runner.state.rerun_decisions`) against one that does not (paper, live), and that whole-journal
read through the (bot, kind, key) index against the same rows found by reading every row of the
bot in seq order.

    python bench/recover_cost.py [--bots 200] [--rows 300] [--repeat 15]

A real SqliteJournal and snapshot folder in a temporary folder; each bot journals `--rows` orders
and as many fills, and a snapshot at its end. The variants alternate in one process; best of
`--repeat`, per bot.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.state.journal import JournalEvent, SqliteJournal  # noqa: E402
from runner.state.recovery import recover  # noqa: E402
from runner.state.snapshots import SnapshotStore  # noqa: E402

_SCAN = ("SELECT seq, bot_id, kind, key, bar, ts_ms, data FROM events WHERE bot_id = ? AND seq > 0"
         " AND kind IN ('kill', 'resume', 'governance') ORDER BY seq")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=200)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        journal, snapshots = SqliteJournal(root / "journal.sqlite3"), SnapshotStore(root / "bots")
        bots = [f"bot-{n}" for n in range(args.bots)]
        handles = {bot: journal.for_bot(bot) for bot in bots}
        for bot, handle in handles.items():
            for n in range(args.rows):
                handle.record(JournalEvent(bot, "order", n, {"order_id": f"o{n}"}, f"o{n}", n))
                handle.record(JournalEvent(bot, "fill", n, {"fill_id": f"t{n}"}, f"t{n}", n))
            snapshots.write(bot, {"bars": args.rows, "state": "running", "journal_seq": handle.last_seq,
                                  "kill_switch": {"tripped": False, "reason": "", "ts_ms": 0}})
        journal.commit()
        variants = {
            "recover, re-runs (sim)": lambda bot: recover(bot, snapshots, handles[bot], reruns=True),
            "recover, no re-run (paper, live)": lambda bot: recover(bot, snapshots, handles[bot], reruns=False),
            "whole-journal decisions, index": lambda bot: handles[bot].events(kinds=("kill", "resume", "governance")),
            "whole-journal decisions, scan": lambda bot: journal._db.execute(_SCAN, (bot,)).fetchall(),
        }
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(args.repeat):
            for name, call in variants.items():
                started = time.perf_counter()
                for bot in bots:
                    call(bot)
                best[name] = min(best[name], (time.perf_counter() - started) / len(bots))
        journal.close()
    for name, secs in best.items():
        print(f"{name:<36} {secs * 1e6:8.1f} us a bot")
    print(f"re-runs / no re-run: {best['recover, re-runs (sim)'] / best['recover, no re-run (paper, live)']:.2f}x; "
          f"scan / index: {best['whole-journal decisions, scan'] / best['whole-journal decisions, index']:.1f}x")


if __name__ == "__main__":
    main()
