"""`botrunner backtest DIR`: every bot of a daemon folder over the same period, on one clock.

The folder is read as `botrunner run` reads it (`daemon.yaml`, `bots/*.yaml` with `bot_defaults`
merged under each, risk groups that exist) and checked as `botrunner validate` checks it. Every
enabled bot is built by the composition root, as the daemon builds it, with the daemon's risk
groups (`risk_groups`, `account_limits`), and trades its own candles, cut to the span every bot
has data for. The bots of a risk group step through their candles in close-time order on one
`CandleClock` (`runner.backtest.lockstep`), so a group limit binds the same way on every run
and at every batch size; a bot in no group cannot see the others and runs alone, in batches,
at a single backtest's speed. The entry a group refuses is journalled (`risk` events with the
rule `risk_group:<name>`) and counted per bot in the report.

The whole is the bots summed: capital, final equity, fees, trades; its equity curve is the
bots' equity added up at every close time of any bot (a bot counts its last equity between
its candles, its capital before its first), and its drawdown and Sharpe are that curve's.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from market.errors import MarketDataError
from market.models import Candle, iso_utc, timeframe_ms
from portfolio.trades import Trade
from runner.assembly.compose import compose_runner
from runner.backtest.lockstep import CandleClock
from runner.backtest.run import BacktestResult, load_bot_candles, max_drawdown, sharpe_ratio, summarize
from runner.bot.strategy_runner import StrategyRunner
from runner.config.bot import BotConfig, ConfigError
from runner.config.daemon import DaemonConfig, load_config_dir
from runner.config.validate import validate_paths
from runner.daemon.services import RiskGroups
from runner.state.journal import JournalEvent, MemoryJournal

__all__ = ["PortfolioResult", "load_portfolio", "run_portfolio"]

GROUP_RULE_PREFIX = "risk_group:"


@dataclass(slots=True)
class PortfolioResult:
    """Each bot's `BacktestResult`, the refusals of its risk group, and the whole."""

    bots: dict[str, BacktestResult]
    group_refusals: dict[str, int]             # bot id -> entries its risk group refused
    groups: dict[str, dict[str, Any]]          # group name -> its bots, limits and refusals
    first_ts_ms: int
    end_ts_ms: int                             # the span's end, exclusive
    elapsed_s: float
    journal: MemoryJournal = field(repr=False)
    equity_curve: list[float] = field(repr=False, default_factory=list)
    timestamps_ms: list[int] = field(repr=False, default_factory=list)     # close times of the curve

    @property
    def trades(self) -> list[Trade]:
        return sorted((t for r in self.bots.values() for t in r.trades), key=lambda t: (t.exit_ts_ms, t.entry_ts_ms))

    def total(self) -> dict[str, Any]:
        """The whole, in the units of a bot's `summary()`."""
        results = list(self.bots.values())
        capital = sum(r.initial_capital for r in results)
        final = sum(r.final_equity for r in results)
        trades = [t for r in results for t in r.trades]
        bars = sum(r.bars for r in results)
        bar_ms = min((timeframe_ms(r.timeframe) for r in results), default=60_000)
        return {
            "bots": len(results), "bars": bars, "trades": len(trades),
            "win_rate_pct": round(100.0 * sum(t.is_win for t in trades) / len(trades), 4) if trades else 0.0,
            "initial_capital": capital, "final_equity": final,
            "return_pct": (final / capital - 1.0) * 100.0 if capital > 0 else 0.0,
            "max_drawdown_pct": max_drawdown(self.equity_curve, capital) * 100.0,
            "sharpe": sharpe_ratio(self.equity_curve, bar_ms, capital),
            "fees": sum(r.fees for r in results),
            "group_refusals": sum(self.group_refusals.values()),
            "elapsed_s": self.elapsed_s, "bars_per_sec": bars / self.elapsed_s if self.elapsed_s > 0 else 0.0,
        }

    def as_backtest(self) -> BacktestResult:
        """The whole as one `BacktestResult`, for the HTML report: the summed equity (each point
        stamped at the open of the shortest timeframe's candle that closes then) and every
        bot's trades; no price chart, as the bots trade different markets."""
        results = list(self.bots.values())
        total = self.total()
        bar_ms = min(timeframe_ms(r.timeframe) for r in results)
        timeframe = min((r.timeframe for r in results), key=timeframe_ms)
        return BacktestResult(
            bot=f"portfolio of {len(results)} bots", symbol=", ".join(sorted({r.symbol for r in results})),
            timeframe=timeframe, strategy=", ".join(sorted({r.strategy for r in results})), state="finished",
            stop_reason="", bars=total["bars"], first_ts_ms=self.first_ts_ms,
            last_ts_ms=self.timestamps_ms[-1] - bar_ms if self.timestamps_ms else self.first_ts_ms,
            initial_capital=total["initial_capital"], final_equity=total["final_equity"], fees=total["fees"],
            max_drawdown_pct=total["max_drawdown_pct"] / 100.0, sharpe=total["sharpe"], elapsed_s=self.elapsed_s,
            trades=self.trades, equity_curve=self.equity_curve,
            timestamps_ms=[ts - bar_ms for ts in self.timestamps_ms])

    def summary(self) -> dict[str, Any]:
        """The object of `backtest DIR --json`."""
        return {
            "period": {"from": iso_utc(self.first_ts_ms), "to": iso_utc(self.end_ts_ms)},
            "bots": {bot_id: {**r.summary(), "group_refusals": self.group_refusals[bot_id]}
                     for bot_id, r in self.bots.items()},
            "risk_groups": self.groups,
            "total": self.total(),
        }


def is_daemon_folder(path: Path) -> bool:
    """A folder `botrunner run` would read: with `daemon.yaml` or `bots/`."""
    return path.is_dir() and ((path / "daemon.yaml").is_file() or (path / "bots").is_dir())


def load_portfolio(folder: Path) -> tuple[DaemonConfig, list[BotConfig]]:
    """The daemon settings and the enabled bots of `folder`. Raises ConfigError naming the file
    and field of every problem (as `botrunner validate` does), and for a bot that is not a sim
    bot (a paper or live bot's candles come from its exchange, which a backtest does not ask)."""
    valid, problems = validate_paths([folder], read_candles=False)     # run_portfolio reads them, once
    if problems:
        raise ConfigError(problems)
    daemon, bots = load_config_dir(folder)
    for source, bot in valid:
        if bot.mode != "sim" and bot.enabled:
            problems.append(f"{source}: bot {bot.id}: mode: {bot.mode}: a portfolio backtest runs sim bots only "
                            "(set mode: sim, or enabled: false to leave the bot out)")
    baskets = sorted({bot.basket.basket for _, bot in valid if bot.basket is not None and bot.enabled})
    if baskets:         # its legs' equity is the basket's: summed per bot it would count n times
        problems.append(f"{folder / 'bots'}: basket {', '.join(baskets)}: a portfolio backtest does not take baskets "
                        "yet; backtest a basket's file on its own (botrunner backtest FILE), or set enabled: false")
    enabled = [b for b in bots if b.enabled]
    if not enabled and not problems:
        problems.append(f"{folder / 'bots'}: no enabled bot to backtest")
    if problems:
        raise ConfigError(problems)
    return daemon, enabled


async def run_portfolio(daemon: DaemonConfig, bots: list[BotConfig], *, start: datetime | None = None,
                        end: datetime | None = None, batch_size: int = 4096) -> PortfolioResult:
    """Load every bot's candles (not timed), cut them to the span all bots have, and run the
    bots together on one clock (timed). Raises MarketDataError when a bot's data is unusable,
    ValueError when the bots' data have no span in common."""
    candles = {}
    for b in bots:
        try:
            candles[b.id] = load_bot_candles(b, start=start, end=end)
        except MarketDataError as exc:          # the folder's error would not say whose candles
            raise MarketDataError(f"bot {b.id}: {exc}") from None
    first_ms, end_ms = common_span(bots, candles)
    candles = {b.id: [c for c in candles[b.id] if c.ts_ms >= first_ms and c.ts_ms + timeframe_ms(b.timeframe) <= end_ms]
               for b in bots}
    groups = RiskGroups(daemon.risk_groups, daemon.account_limits)
    journal = MemoryJournal()
    clocks: dict[str, CandleClock] = {}
    members: dict[str, list[str]] = {}
    runners = []
    for b in bots:
        group = groups.for_bot(b)
        # Only bots that share a group can see each other, so only they need one clock; a bot
        # in no group gets a clock of its own and runs in batches of `batch_size` candles.
        clock = clocks.setdefault(group.name if group else f"bot:{b.id}", CandleClock(batch_size=batch_size))
        if group is not None:
            members.setdefault(group.name, []).append(b.id)
        runners.append(compose_runner(b, clock.replay(b.symbol, b.timeframe, candles[b.id]), journal=journal,
                                      record_equity=True, risk_group=group))
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_run_one(r) for r in runners))
    finally:
        elapsed_s = time.perf_counter() - started
    figures = {g.name: {"bots": members[g.name], "refusals": g.refusals,
                        "limits": g.limits.model_dump(mode="json", exclude_none=True)} for g in groups.groups()}
    results = {}
    for bot, runner in zip(bots, runners):
        run = candles[bot.id][:runner.bars]
        results[bot.id] = summarize(runner, bot, [c.ts_ms for c in run], elapsed_s, closes=[c.close for c in run])
    refusals = group_refusals(journal.events, [b.id for b in bots])
    timestamps, curve = combined_equity(bots, results)
    return PortfolioResult(results, refusals, figures, first_ms, end_ms, elapsed_s, journal, curve, timestamps)


async def _run_one(runner: StrategyRunner) -> None:
    try:
        await runner.run()
    finally:
        await runner.aclose()          # ends its feed's turns, so the other bots go on without it


def common_span(bots: list[BotConfig], candles: dict[str, list[Candle]]) -> tuple[int, int]:
    """[first open, last close) that every bot has candles for, in ms."""
    empty = [b.id for b in bots if not candles[b.id]]
    if empty:
        raise ValueError(f"no candles in the period for {', '.join(empty)}")
    first_ms = max(candles[b.id][0].ts_ms for b in bots)
    end_ms = min(candles[b.id][-1].ts_ms + timeframe_ms(b.timeframe) for b in bots)
    if end_ms <= first_ms:
        spans = ", ".join(f"{b.id} {iso_utc(candles[b.id][0].ts_ms)}..{iso_utc(candles[b.id][-1].ts_ms)}" for b in bots)
        raise ValueError(f"the bots' candles have no period in common ({spans}); give them the same "
                         "market start, or --from/--to inside every bot's data")
    return first_ms, end_ms


def group_refusals(events: list[JournalEvent], bot_ids: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(bot_ids, 0)
    for event in events:
        if event.kind == "risk" and event.data.get("rule", "").startswith(GROUP_RULE_PREFIX):
            counts[event.bot_id] += 1
    return counts


def combined_equity(bots: list[BotConfig], results: dict[str, BacktestResult]) -> tuple[list[int], list[float]]:
    """The bots' equity summed at every close time of any bot: (close times in ms, equity)."""
    points: dict[int, dict[int, float]] = {}
    for place, bot in enumerate(bots):
        r, bar_ms = results[bot.id], timeframe_ms(bot.timeframe)
        for ts_ms, equity in zip(r.timestamps_ms, r.equity_curve):
            points.setdefault(ts_ms + bar_ms, {})[place] = equity
    current = [results[b.id].initial_capital for b in bots]
    timestamps, curve = [], []
    for close_ms in sorted(points):
        for place, equity in points[close_ms].items():
            current[place] = equity
        timestamps.append(close_ms)
        curve.append(math.fsum(current))
    return timestamps, curve

