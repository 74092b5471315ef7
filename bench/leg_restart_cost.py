"""What a basket leg's restart reads of its journal to re-run its orders as journalled, as its
history grows: every order it ever journalled (before), against its events past the last order
its snapshot holds (`runner.bot.journal_follow.journal_past_snapshot`), each with `recover` in
front, as the daemon builds the leg.

    python bench/leg_restart_cost.py [--orders 1000 10000 50000] [--past 4] [--repeat 7]

A real SqliteJournal and snapshot folder in a temporary folder; the leg journals `--orders`
orders with a fill each (real order and fill fields), a snapshot holding all but the last
`--past` of them, and the events past it. The variants alternate in one process; best of `--repeat`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.order_ids import client_order_id, order_id_prefix  # noqa: E402
from runner.bot.journal_follow import journal_past_snapshot  # noqa: E402
from runner.state.journal import JournalEvent, SqliteJournal  # noqa: E402
from runner.state.recovery import recover  # noqa: E402
from runner.state.snapshots import SnapshotStore  # noqa: E402

LEG = "majors.btc-usdt"


def order(order_id: str, n: int) -> dict:
    return {"created_ts_ms": n * 60_000, "oco_group": None, "order_id": order_id, "price": None, "quantity": None,
            "quote_amount": 1500.0, "reason": "enter long", "side": "buy" if n % 2 == 0 else "sell",
            "stop_loss_pct": 0.01, "stop_price": None, "symbol": "BTC/USDT", "take_profit_pct": None, "type": "market"}


def fill(order_id: str, n: int) -> dict:
    return {"base_fee": 0.0, "cash": 8441.23, "fee": 1.5, "fill_id": "", "fill_ts_ms": n * 60_000 + 60_000,
            "flow": -1558.77, "order_id": order_id, "position": 14.72, "price": 101.87, "quantity": 14.72,
            "reason": "enter long", "side": "buy", "symbol": "BTC/USDT"}


def journalled(root: Path, orders: int, past: int) -> tuple[SqliteJournal, SnapshotStore]:
    journal, snapshots = SqliteJournal(root / "journal.sqlite3"), SnapshotStore(root / "bots")
    handle, prefix = journal.for_bot(LEG), order_id_prefix(LEG)
    for n in range(1, orders + 1):
        if n == orders - past + 1:      # the snapshot: every order and fill so far
            journal.commit()
            snapshots.write(LEG, {"bars": 3 * n, "state": "running", "order_seq": n - 1, "journal_seq": handle.last_seq,
                                  "kill_switch": {"tripped": False, "reason": "", "ts_ms": 0}})
        order_id = client_order_id(prefix, n)
        handle.record(JournalEvent(LEG, "order", n * 60_000, order(order_id, n), order_id, 3 * n))
        handle.record(JournalEvent(LEG, "fill", n * 60_000, fill(order_id, n), order_id, 3 * n))
        if n % 50 == 0:
            handle.record(JournalEvent(LEG, "risk", n * 60_000, {"rule": "risk_group:majors"}, None, 3 * n + 1))
    journal.commit()
    return journal, snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--past", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    prefix = order_id_prefix(LEG)
    for orders in args.orders:
        with tempfile.TemporaryDirectory() as folder:
            journal, snapshots = journalled(Path(folder), orders, args.past)
            handle = journal.for_bot(LEG)

            def whole_history() -> None:
                state = recover(LEG, snapshots, handle).state
                assert state is not None
                [(e.bar, e.data) for e in handle.events(kinds=("order",))]   # the read before

            def past_snapshot() -> None:
                state = recover(LEG, snapshots, handle).state
                found, _ = journal_past_snapshot(handle, prefix, state["order_seq"])
                assert len(found) == args.past

            variants = {"every order (before)": whole_history, "past the snapshot (now)": past_snapshot}
            best = dict.fromkeys(variants, float("inf"))
            for _ in range(args.repeat):
                for name, call in variants.items():
                    started = time.perf_counter()
                    call()
                    best[name] = min(best[name], time.perf_counter() - started)
            journal.close()
        before, now = best["every order (before)"], best["past the snapshot (now)"]
        print(f"{orders:>7} orders: every order {before * 1e3:8.2f} ms, past the snapshot {now * 1e3:6.3f} ms "
              f"({before / now:.0f}x)")


if __name__ == "__main__":
    main()
