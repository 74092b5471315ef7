"""What notifications cost the bots: time per journal event with no listener, with the
notifications' listener filtering it out, and with it formatting and queueing a fill notice;
and how long a bot's `offer()` takes when the target hangs and the queue is full (dropping).

    python bench/notify_overhead.py [--events 20000] [--repeat 5]

Fill events into a real SqliteJournal in a temporary folder; the sender is never started, so
no network is involved: this is the part that runs on a bot's task. Median of `--repeat`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from runner.notify.config import NotificationsConfig  # noqa: E402
from runner.notify.daemon import DaemonNotifications  # noqa: E402
from runner.notify.events import Notice  # noqa: E402
from runner.notify.sender import NotificationSender  # noqa: E402
from runner.state.journal import JournalEvent, SqliteJournal  # noqa: E402


class NeverSends:
    name = "BENCH_URL"

    async def send(self, notice: Notice) -> None:
        await asyncio.Event().wait()


def fills(count: int, run: int) -> list[JournalEvent]:
    return [JournalEvent("btc", "fill", i, {"order_id": f"o-{i}", "symbol": "BTC/USDT", "side": "buy",
                                            "quantity": 0.0123, "price": 42_000.5 + i, "fee": 0.52,
                                            "fill_ts_ms": i, "reason": "enter long", "fill_id": f"f-{i}",
                                            "base_fee": 0.0, "cash": 100.0, "position": 0.0123},
                         key=f"{run}-{i}") for i in range(count)]


def per_event_us(listener, count: int, run: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        journal = SqliteJournal(Path(folder) / "journal.sqlite3")
        if listener is not None:
            journal.subscribe(listener)
        events = fills(count, run)
        start = time.perf_counter()
        for event in events:
            journal.record(event)
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed / count * 1e6


async def main(count: int, repeat: int) -> None:
    logger.remove()
    sender = NotificationSender(NeverSends(), queue_size=100)
    cases = {
        "no listener": None,
        "listener, fill not enabled": DaemonNotifications(
            NotificationsConfig(urls_env=["BENCH_URL"]), [sender], statuses=list, mode_of=lambda _: "live",
            host="bench").on_journal_event,
        "listener, live fill sent (queue full: dropped)": DaemonNotifications(
            NotificationsConfig(urls_env=["BENCH_URL"], events=["fill"]), [sender], statuses=list,
            mode_of=lambda _: "live", host="bench").on_journal_event,
    }
    per_event_us(None, count, -1)            # warm up: SQLite's first file and page cache
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for run in range(repeat):                # interleaved, so a busy moment of the machine hits every case
        for name, listener in cases.items():
            figures[name].append(per_event_us(listener, count, run))
    for name in cases:
        print(f"journal.record per fill event, {name:<48} {statistics.median(figures[name]):6.2f} us")
    notice = Notice("fill", "btc: buy", "body")
    start = time.perf_counter()
    for _ in range(count):
        sender.offer(notice)
    print(f"offer() with the queue full (dropping)                                   "
          f"{(time.perf_counter() - start) / count * 1e6:6.2f} us; dropped {sender.stats().dropped:,}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.repeat))
