"""What a trading session costs a backtest: one bot on the same candles with no session, with
an around-the-clock session (every candle through the session check and zoned days, nothing
refused), and with New York's equities hours and `flatten_at_close`; and the daily rule's day
number per call, UTC (integer division) against zoned (`TradingSession.day_of`).

    python bench/sessions.py [--repeat 7]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic
candles; every bot has `daily_max_loss_pct`, so its days are counted on every candle. The
three bots take turns, `--repeat` rounds, and each figure is its best round.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from market.session import TradingSession  # noqa: E402
from real_candles import btc_candles  # noqa: E402
from risk.rules import DailyMaxLoss  # noqa: E402
from runner.assembly.compose import sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from sim_throughput import interleaved_best  # noqa: E402

SESSIONS = {
    "no session (UTC days)": None,
    "session around the clock (zoned days)": {"time_zone": "America/New_York"},
    "New York 09:30-16:00 mon-fri, flatten": {"time_zone": "America/New_York", "open": "09:30", "close": "16:00",
                                              "days": ["mon", "tue", "wed", "thu", "fri"], "flatten_at_close": True},
}


def day_number_ns(day_of, candles, rounds: int = 5) -> float:
    """Best nanoseconds per `DailyMaxLoss.check` over the candles' open times."""
    times = [c.ts_ms for c in candles]
    best = float("inf")
    for _ in range(rounds):
        rule = DailyMaxLoss(0.5, day_of)
        started = time.perf_counter()
        for ts in times:
            rule.check(ts, 1_000.0)
        best = min(best, (time.perf_counter() - started) / len(times))
    return best * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    results: dict[str, tuple[int, int, int]] = {}

    def bot(name: str):
        config = BotConfig.model_validate({
            "id": "bench", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
            "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
            "risk": {"stake_pct": 0.99, "daily_max_loss_pct": 0.5}, "session": SESSIONS[name]})

        def run() -> None:
            runner = sim_runner(config, candles)
            asyncio.run(runner.run())
            closes = sum(1 for o in runner.journal.of_kind("order") if o.data["reason"] == "session close")
            results[name] = (len(runner.portfolio.trades), runner.risk_blocks.get("session", 0), closes)
        return run

    best = interleaved_best({name: bot(name) for name in SESSIONS}, args.repeat)
    n, base = len(candles), best["no session (UTC days)"]
    print(f"data: {source} ({n:,} candles), sma_cross 10/30 with daily_max_loss_pct, best of {args.repeat} rounds")
    for name, secs in best.items():
        trades, refused, closes = results[name]
        print(f"  {name:<40} {n / secs:>9,.0f} candles/s  {(secs - base) / n * 1e9:>+6,.0f} ns/candle  "
              f"{trades:>4} trades, {refused:>4} entries refused, {closes:>3} session closes")
    zoned = TradingSession("America/New_York", 570, 960, range(5))
    print(f"  day number per candle: UTC {day_number_ns(None, candles):.0f} ns, "
          f"zoned {day_number_ns(zoned.day_of, candles):.0f} ns (DailyMaxLoss.check)")
    for name in list(SESSIONS)[1:]:
        print(f"  session check per candle, no signal ({name}): {session_check_ns(name, candles):.0f} ns")


def session_check_ns(name: str, candles, rounds: int = 5) -> float:
    """Best nanoseconds per `_session_acts` (the runner's per-candle question) on a flat bot."""
    config = BotConfig.model_validate({"id": "bench", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
                                       "strategy": {"name": "sma_cross"}, "session": SESSIONS[name]})
    runner = sim_runner(config, candles[:10])
    closes = [c.ts_ms + 60_000 for c in candles]
    best = float("inf")
    for _ in range(rounds):
        acts = runner._session_acts
        started = time.perf_counter()
        for close_ms in closes:
            acts(None, close_ms)
        best = min(best, (time.perf_counter() - started) / len(closes))
    return best * 1e9


if __name__ == "__main__":
    main()
