"""`botrunner backtest BASKET.yaml`: every symbol's leg over its candles, on one clock, one cash.

The legs are built by the composition root with the basket's `BasketGroup` (shared cash,
stake, `max_open_positions`, kill switch) and step through their candles in close-time order
(`runner.basket.stepping`, the order of `runner.backtest.lockstep`'s clock in one task): on a
candle that closes for several symbols at once, the legs decide in the order of the basket's
symbols, so which entry takes the last open position or the last of the cash is the same on
every run. Every leg runs over the span
all of them have candles for.

The result is one `BacktestResult` for the basket (its equity curve is the basket's equity
after each close time, its trades every leg's), so the text and JSON reports, the HTML report
and the CSV files are a single bot's; `BasketResult` adds the figures of each symbol.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from market.errors import MarketDataError
from market.models import Candle, timeframe_ms
from runner.assembly.compose import compose_runner
from runner.backtest.run import BacktestResult, load_bot_candles, max_drawdown, sharpe_ratio
from runner.basket.group import BasketGroup
from runner.basket.stepping import SteppedReplay, step_legs
from runner.bot.strategy_runner import StrategyRunner
from runner.config.basket import BasketConfig
from runner.config.bot import BotConfig, ConfigError
from runner.state.journal import MemoryJournal

__all__ = ["BasketResult", "format_basket_report", "run_basket_backtest"]


@dataclass(slots=True)
class BasketResult:
    """The basket as one bot (`result`), and each symbol's own figures."""

    result: BacktestResult
    legs: dict[str, dict[str, Any]]           # symbol -> its figures
    refusals: int                             # entries the basket refused (max_open_positions, cash)
    max_open_positions: int | None
    cash: float                               # the basket's one cash balance at the end
    journal: MemoryJournal = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """`backtest --json`: a bot's figures, plus `cash`, `symbols`, `max_open_positions` and `refusals`."""
        return {**self.result.summary(), "cash": self.cash, "symbols": self.legs,
                "max_open_positions": self.max_open_positions, "refusals": self.refusals}


def basket_legs(basket: BasketConfig) -> list[BotConfig]:
    legs = basket.legs()
    if not legs:
        provider = basket.fields.symbol_provider
        why = (f"{provider.path} lists none" if provider is not None and provider.source == "file" else
               "the top-volume provider asks a live exchange (give symbols: [...] or a file provider)")
        raise ConfigError([f"{basket.path}: symbol_provider: a backtest needs symbols to replay; {why}"])
    return legs


async def run_basket_backtest(basket: BasketConfig, *, start: datetime | None = None, end: datetime | None = None,
                              progress: Callable[[int, int, float], None] | None = None) -> BasketResult:
    """Load every leg's candles (not timed), cut them to the span all legs have, and run the
    legs together (timed). Raises MarketDataError when a leg's data is unusable, ValueError
    when the legs' data have no span in common."""
    legs = basket_legs(basket)
    loaded = {leg.id: load_bot_candles(leg, start=start, end=end) for leg in legs}
    first_ms, end_ms = _common_span(basket, legs, loaded)
    bar_ms = timeframe_ms(basket.template.timeframe)
    candles = {leg.id: [c for c in loaded[leg.id] if first_ms <= c.ts_ms and c.ts_ms + bar_ms <= end_ms] for leg in legs}
    group = BasketGroup(legs[0].basket, basket.template.capital)
    group.expect({leg.symbol for leg in legs})
    journal = MemoryJournal()
    feeds = [SteppedReplay(leg.symbol, leg.timeframe, candles[leg.id]) for leg in legs]
    runners = [compose_runner(leg, feed, journal=journal, record_equity=True, risk_group=group)
               for leg, feed in zip(legs, feeds)]
    total = sum(map(len, candles.values()))
    started = time.perf_counter()
    reporter = None if progress is None else asyncio.create_task(_report(runners, total, progress, started))
    try:
        await step_legs(runners, feeds)
    finally:
        for runner in runners:
            await runner.aclose()
        elapsed_s = time.perf_counter() - started
        if reporter is not None:
            reporter.cancel()
    return _result(basket, legs, runners, candles, group, journal, elapsed_s)


async def _report(runners: list[StrategyRunner], total: int, progress: Callable[[int, int, float], None],
                  started: float) -> None:
    while True:
        await asyncio.sleep(0.25)
        progress(sum(r.bars for r in runners), total, time.perf_counter() - started)


def _result(basket: BasketConfig, legs: list[BotConfig], runners: list[StrategyRunner],
            candles: dict[str, list[Candle]], group: BasketGroup, journal: MemoryJournal,
            elapsed_s: float) -> BasketResult:
    template, capital = basket.template, float(basket.template.capital)
    timestamps, curve = _basket_equity(legs, runners, candles)
    states = {r.state.value for r in runners}
    state = next((s for s in ("failed", "killed", "stopped") if s in states), "finished")
    trades = sorted((t for r in runners for t in r.portfolio.trades), key=lambda t: (t.exit_ts_ms, t.entry_ts_ms))
    figures = {}
    for leg, runner in zip(legs, runners):
        p = runner.portfolio
        figures[leg.symbol] = {
            "bot": leg.id, "bars": runner.bars, "trades": p.trade_count, "fills": runner.fills,
            "realized_pnl": p.realized_pnl, "fees": p.fees_paid, "position": p.quantity, "state": runner.state.value,
            "refused": sum(1 for e in journal.events
                           if e.bot_id == leg.id and e.kind == "risk" and e.data["rule"] == f"risk_group:{group.name}")}
    result = BacktestResult(
        bot=basket.id, symbol=",".join(leg.symbol for leg in legs), timeframe=template.timeframe,
        strategy=template.strategy.name, state=state,
        stop_reason=group.kill_switch.reason or next((r.last_error for r in runners if r.last_error), ""),
        bars=sum(r.bars for r in runners), first_ts_ms=timestamps[0] if timestamps else 0,
        last_ts_ms=timestamps[-1] if timestamps else 0, initial_capital=capital,
        final_equity=curve[-1] if curve else capital, fees=sum(r.portfolio.fees_paid for r in runners),
        max_drawdown_pct=max_drawdown(curve, capital),
        sharpe=sharpe_ratio(curve, timeframe_ms(template.timeframe), capital), elapsed_s=elapsed_s,
        trades=trades, equity_curve=curve, timestamps_ms=timestamps)
    return BasketResult(result, figures, group.refusals, group.basket.max_open_positions, group.ledger.cash, journal)


def _basket_equity(legs: list[BotConfig], runners: list[StrategyRunner],
                   candles: dict[str, list[Candle]]) -> tuple[list[int], list[float]]:
    """The basket's equity after each candle time: every leg marks the basket's equity, and of
    the legs on one candle time the last to step (the last in the list) saw every mark."""
    points: dict[int, float] = {}
    for leg, runner in zip(legs, runners):
        for candle, equity in zip(candles[leg.id], runner.equity_curve or []):
            points[candle.ts_ms] = equity
    timestamps = sorted(points)
    return timestamps, [points[ts] for ts in timestamps]


def format_basket_report(basket: BasketResult) -> str:
    """The single-bot report, then a line per symbol."""
    from runner.backtest.report import format_report

    lines = [format_report(basket.result)]
    limit = basket.max_open_positions
    lines.append(f"  basket         {len(basket.legs):>14} symbols, max open positions {limit or 'all'}, "
                 f"{basket.refusals} entries refused")
    lines.append(f"  {'symbol':<14} {'candles':>9} {'trades':>7} {'realized pnl':>13} {'fees':>10} "
                 f"{'position':>12} {'refused':>8}  state")
    for symbol, f in basket.legs.items():
        lines.append(f"  {symbol:<14} {f['bars']:>9,} {f['trades']:>7,} {f['realized_pnl']:>13,.2f} {f['fees']:>10,.2f} "
                     f"{f['position']:>12.6g} {f['refused']:>8}  {f['state']}")
    return "\n".join(lines)


def _common_span(basket: BasketConfig, legs: list[BotConfig], candles: dict[str, list[Candle]]) -> tuple[int, int]:
    """[first open, last close) in ms that every leg has candles for. (`runner.backtest.portfolio`
    has its twin; importing it would import the daemon's services, and ccxt with them.)"""
    if empty := [leg.symbol for leg in legs if not candles[leg.id]]:
        raise MarketDataError(f"{basket.path}: no candles in the period for {', '.join(empty)}")
    bar_ms = timeframe_ms(basket.timeframe)
    first_ms = max(candles[leg.id][0].ts_ms for leg in legs)
    end_ms = min(candles[leg.id][-1].ts_ms + bar_ms for leg in legs)
    if end_ms <= first_ms:
        raise MarketDataError(f"{basket.path}: the symbols' candles have no period in common; give their markets "
                              "the same start, or --from/--to inside every symbol's data")
    return first_ms, end_ms

