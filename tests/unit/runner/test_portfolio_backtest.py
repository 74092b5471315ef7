"""Portfolio backtests: every bot of a daemon folder on one clock, with the daemon's risk groups."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.models import Candle
from runner.backtest.lockstep import CandleClock
from runner.backtest.portfolio import load_portfolio, run_portfolio
from runner.backtest.portfolio_report import format_portfolio_report
from runner.backtest.run import run_backtest
from runner.config.bot import ConfigError, load_bot_config

BOT = """\
id: {id}
symbol: {symbol}
timeframe: {timeframe}
capital: 1000
market: {{source: synthetic, seed: {seed}, bars: {bars}, start: 2024-01-01}}
strategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}
risk: {{stake_pct: 0.5}}
{extra}
"""


def write_folder(root: Path, daemon: str, bots: list[dict]) -> Path:
    (root / "bots").mkdir(parents=True)
    (root / "daemon.yaml").write_text(daemon)
    for bot in bots:
        fields = {"symbol": "BTC/USD", "timeframe": "1m", "seed": 5, "bars": 2000, "extra": "", **bot}
        (root / "bots" / f"{bot['id']}.yaml").write_text(BOT.format(**fields))
    return root


def pair_in_one_group(root: Path) -> Path:
    """Two bots on different data in a group where only one may hold a position."""
    return write_folder(root, "risk_groups:\n  pair: {max_open_positions: 1}\n", [
        {"id": "bot-a", "seed": 5, "extra": "risk_group: pair"},
        {"id": "bot-b", "seed": 9, "symbol": "ETH/USD", "extra": "risk_group: pair"}])


def entries(result, bot_id: str) -> set[int]:
    return {e.ts_ms for e in result.journal.events
            if e.bot_id == bot_id and e.kind == "order" and e.data["quote_amount"] is not None}


def group_refused(result, bot_id: str) -> set[int]:
    return {e.ts_ms for e in result.journal.events
            if e.bot_id == bot_id and e.kind == "risk" and e.data["rule"] == "risk_group:pair"}


async def test_the_group_refuses_an_entry_that_the_bot_alone_would_have_taken(tmp_path):
    folder = pair_in_one_group(tmp_path)
    daemon, bots = load_portfolio(folder)
    result = await run_portfolio(daemon, bots)

    (folder / "bots" / "bot-a.yaml").unlink()            # bot-b alone, in no group
    (folder / "bots" / "bot-b.yaml").write_text((folder / "bots" / "bot-b.yaml").read_text().replace(
        "risk_group: pair", ""))
    alone = await run_portfolio(*load_portfolio(folder))
    refused = group_refused(result, "bot-b")
    assert refused and result.group_refusals["bot-b"] == len(refused)
    # Every entry the group refused is one the bot alone made, on the same candle.
    assert refused <= entries(alone, "bot-b")
    assert len(result.bots["bot-b"].trades) < len(alone.bots["bot-b"].trades)
    # Never both in a position: every refusal came while the other bot held one or entered.
    for bot_id, other in (("bot-a", "bot-b"), ("bot-b", "bot-a")):
        for trade in result.bots[bot_id].trades:
            assert not any(t.entry_ts_ms < trade.exit_ts_ms and trade.entry_ts_ms < t.exit_ts_ms
                           for t in result.bots[other].trades)
    assert result.groups["pair"]["refusals"] == sum(result.group_refusals.values())
    assert "risk group pair (bot-a, bot-b)" in format_portfolio_report(result)


async def test_the_total_is_the_bots_summed(tmp_path):
    daemon, bots = load_portfolio(pair_in_one_group(tmp_path))
    result = await run_portfolio(daemon, bots)
    total, parts = result.total(), [r.summary() for r in result.bots.values()]

    for key in ("bars", "trades", "initial_capital"):
        assert total[key] == sum(p[key] for p in parts)
    for key in ("final_equity", "fees"):
        assert math.isclose(total[key], math.fsum(p[key] for p in parts), rel_tol=1e-12)
    assert total["group_refusals"] == sum(result.group_refusals.values())
    assert math.isclose(result.equity_curve[-1], total["final_equity"], rel_tol=1e-12)
    assert total["bots"] == 2 and total["max_drawdown_pct"] >= 0


async def test_what_the_group_refuses_does_not_depend_on_the_batch_size(tmp_path):
    daemon, bots = load_portfolio(pair_in_one_group(tmp_path))
    runs = [await run_portfolio(daemon, bots, batch_size=size) for size in (1, 7, 4096)]
    first = runs[0]
    for other in runs[1:]:
        for bot_id in ("bot-a", "bot-b"):
            assert other.bots[bot_id].trades == first.bots[bot_id].trades
            assert other.bots[bot_id].equity_curve == first.bots[bot_id].equity_curve
            assert group_refused(other, bot_id) == group_refused(first, bot_id)


async def test_a_bot_in_no_group_trades_as_it_does_alone(tmp_path):
    folder = write_folder(tmp_path, "risk_groups:\n  pair: {max_open_positions: 1}\n", [
        {"id": "bot-a", "extra": "risk_group: pair"}, {"id": "bot-free", "seed": 9}])
    daemon, bots = load_portfolio(folder)
    result = await run_portfolio(daemon, bots)
    alone = await run_backtest(load_bot_config(folder / "bots" / "bot-free.yaml"))

    assert result.bots["bot-free"].trades == alone.trades
    assert result.bots["bot-free"].equity_curve == alone.equity_curve
    assert result.group_refusals["bot-free"] == 0


async def test_the_bots_run_over_the_span_they_all_have_candles_for(tmp_path):
    folder = write_folder(tmp_path, "", [
        {"id": "bot-minutes", "bars": 500}, {"id": "bot-hourly", "timeframe": "1h", "bars": 5, "seed": 3}])
    daemon, bots = load_portfolio(folder)
    result = await run_portfolio(daemon, bots)

    assert result.bots["bot-minutes"].bars == 300          # the 1h bot's five hours
    assert result.bots["bot-hourly"].bars == 5
    assert result.end_ts_ms - result.first_ts_ms == 5 * 3_600_000


async def test_candles_of_many_feeds_come_out_in_close_time_order_ties_by_place():
    def candles(start_ms: int, step_ms: int, n: int) -> list[Candle]:
        return [Candle(start_ms + i * step_ms, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(n)]

    clock = CandleClock(batch_size=3)
    feeds = [clock.replay("A/B", "1m", candles(0, 60_000, 30)),
             clock.replay("C/D", "5m", candles(0, 300_000, 6)),
             clock.replay("E/F", "1m", candles(600_000, 60_000, 10))]
    seen: list[tuple[int, int]] = []

    async def consume(place: int, stop_after: int | None = None) -> None:
        count = 0
        async for batch in feeds[place].stream():
            seen.extend((c.ts_ms + (300_000 if place == 1 else 60_000), place) for c in batch)
            count += len(batch)
            if stop_after is not None and count >= stop_after:
                break
        await feeds[place].aclose()          # a bot that stops early gives up its turns

    await asyncio.wait_for(asyncio.gather(consume(0), consume(1), consume(2, stop_after=4)), timeout=5)
    assert seen == sorted(seen)
    assert len(seen) == 30 + 6 + 4
    assert clock.turns > 3


feeds_spec = st.lists(st.tuples(st.sampled_from(["1m", "5m", "15m", "1h"]), st.integers(0, 30), st.integers(0, 40),
                                st.one_of(st.none(), st.integers(0, 40))), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(specs=feeds_spec, batch_size=st.integers(1, 50))
def test_any_feeds_give_every_candle_once_in_close_time_order(specs, batch_size):
    """Feeds of any timeframes, starts and lengths, some stopping early: each candle is handed
    out once, and all of them in (close time, feed place) order."""
    clock = CandleClock(batch_size=batch_size)
    feeds, expected = [], []
    for place, (timeframe, start_bars, bars, stop_after) in enumerate(specs):
        step = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}[timeframe]
        start = start_bars * 300_000
        feeds.append(clock.replay("X/Y", timeframe, [Candle(start + i * step, 1.0, 1.0, 1.0, 1.0, 1.0)
                                                      for i in range(bars)]))
        expected.append((step, min(bars, stop_after) if stop_after is not None else bars))
    seen: list[tuple[int, int]] = []

    async def consume(place: int) -> None:
        step, wanted = expected[place]
        taken = 0
        async for batch in feeds[place].stream():
            seen.extend((c.ts_ms + step, place) for c in batch[:wanted - taken])
            taken += len(batch)
            if taken >= wanted:
                break
        await feeds[place].aclose()

    async def consume_all() -> None:
        await asyncio.wait_for(asyncio.gather(*(consume(p) for p in range(len(feeds)))), timeout=10)

    asyncio.run(consume_all())
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == sum(wanted for _, wanted in expected)


def test_a_bad_bot_file_is_refused_naming_the_file_and_field(tmp_path):
    folder = write_folder(tmp_path, "", [{"id": "bot-a"}, {"id": "bot-b"}])
    bad = folder / "bots" / "bot-b.yaml"
    bad.write_text(bad.read_text().replace("capital: 1000", "capital: -5"))
    with pytest.raises(ConfigError) as raised:
        load_portfolio(folder)
    assert any(str(bad) in p and "capital" in p for p in raised.value.problems)


def test_a_bot_naming_a_group_the_daemon_lacks_is_refused(tmp_path):
    folder = write_folder(tmp_path, "", [{"id": "bot-a", "extra": "risk_group: majors"}])
    with pytest.raises(ConfigError) as raised:
        load_portfolio(folder)
    assert any("risk_group" in p and "majors" in p for p in raised.value.problems)


def test_a_paper_bot_is_refused_naming_its_file_and_mode(tmp_path):
    folder = write_folder(tmp_path, "", [{"id": "bot-a"}])
    (folder / "bots" / "bot-p.yaml").write_text(
        "id: bot-p\nmode: paper\nsymbol: BTC/USDT\ntimeframe: 1m\ncapital: 1000\nexchange: {id: binance}\n"
        "strategy: {name: sma_cross, params: {fast: 3, slow: 8}}\n")
    with pytest.raises(ConfigError) as raised:
        load_portfolio(folder)
    assert any("bot-p" in p and "mode: paper" in p for p in raised.value.problems), raised.value.problems
