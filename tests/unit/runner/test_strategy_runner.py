"""The loop as a whole, with the real sim parts and a scripted strategy."""

import asyncio

import pytest

from execution.sim import SimExecution
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.errors import StrategyError
from runner.state.journal import MemoryJournal
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from strategies.signal import GO_FLAT, GO_LONG
from tests.fakes import QueuedFeed, Scripted, candles_from, eventually

MIN = 60_000


def make_runner(candles, strategy, risk=None, fee_rate=0.0, capital=1_000.0, journal=None):
    return StrategyRunner(
        "bot-a", feed=ReplayProvider("BTC/USD", "1m", candles, batch_size=7), strategy=strategy,
        risk=RuleRiskEngine.from_config(risk or RiskConfig(stake_pct=1.0)),
        execution=SimExecution(fee_rate=fee_rate), portfolio=Portfolio("BTC/USD", capital),
        journal=journal or MemoryJournal(), record_equity=True, order_id_prefix="bot-a-")


async def test_signal_at_a_close_fills_at_the_next_open_and_the_exit_likewise():
    candles = candles_from([100, 101, 102, 103, 104, 105, 106])
    journal = MemoryJournal()
    runner = make_runner(candles, Scripted({1: GO_LONG, 4: GO_FLAT}), journal=journal)
    assert await runner.run() is RunnerState.FINISHED
    buy, sell = journal.of_kind("fill")
    assert (buy.data["price"], buy.data["fill_ts_ms"]) == (101.0, 2 * MIN)   # open of bar 2
    assert (sell.data["price"], sell.data["fill_ts_ms"]) == (104.0, 5 * MIN)
    [trade] = runner.portfolio.trades
    assert trade.pnl == pytest.approx(1_000 / 101 * 104 - 1_000)
    assert runner.bars == 7 and len(runner.equity_curve) == 7


async def test_the_strategy_sees_every_candle_once_in_order():
    candles = candles_from([float(x) for x in range(100, 130)])
    strategy = Scripted()
    await make_runner(candles, strategy).run()
    assert strategy.seen == [c.ts_ms for c in candles]


async def test_the_order_intent_is_journalled_before_its_fill():
    journal = MemoryJournal()
    await make_runner(candles_from([100, 101, 102]), Scripted({0: GO_LONG}), journal=journal).run()
    kinds = [e.kind for e in journal.events if e.kind in ("order", "fill")]
    assert kinds == ["order", "fill"]
    assert journal.of_kind("order")[0].data["order_id"] == "bot-a-1"


async def test_drawdown_kill_switch_flattens_at_the_next_open_and_stops():
    closes = [100, 100, 100, 90, 70, 60, 50, 40, 30]
    journal = MemoryJournal()
    runner = make_runner(candles_from(closes), Scripted({0: GO_LONG}),
                         risk=RiskConfig(stake_pct=1.0, max_drawdown_pct=0.25), journal=journal)
    assert await runner.run() is RunnerState.KILLED
    assert runner.portfolio.is_flat
    assert "drawdown" in runner.kill_switch.reason
    # Bought at 100 (bar 1 open); bar 4 closes at 70 (-30%), so the flatten fills at bar 5's open.
    flatten = journal.of_kind("fill")[-1]
    assert (flatten.data["reason"], flatten.data["price"]) == ("kill_switch", 70.0)
    assert runner.bars == 6                     # stopped: the last three candles were never read
    assert journal.of_kind("kill")[0].data["reason"] == runner.kill_switch.reason


async def test_kill_by_hand_while_flat_stops_before_the_next_candle_with_the_reason():
    candles = candles_from([100.0 + i for i in range(20)])
    journal = MemoryJournal()
    runner = make_runner(candles, Scripted({0: GO_LONG}), journal=journal)
    runner.request_kill("operator says stop")
    assert await runner.run() is RunnerState.KILLED
    assert runner.kill_switch.reason == "operator says stop"
    assert runner.bars == 0 and runner.orders == 0
    [kill] = journal.of_kind("kill")
    assert (kill.key, kill.data["source"]) == ("0", "manual")


async def test_kill_while_long_sells_everything_and_cancels_the_protective_orders():
    candles = candles_from([100.0 + i for i in range(20)])
    journal = MemoryJournal()
    runner = make_runner(candles, Scripted({0: GO_LONG}), journal=journal,
                         risk=RiskConfig(stake_pct=1.0, stop_loss_pct=0.5, take_profit_pct=1.0))

    class KillAfterEntry(Scripted):
        def generate_signal(self, market_data):
            if market_data.bar_index == 3:
                runner.request_kill("manual")
            return super().generate_signal(market_data)

    runner.strategy = KillAfterEntry({0: GO_LONG})
    assert await runner.run() is RunnerState.KILLED
    assert runner.portfolio.is_flat
    assert runner.execution.open_orders() == []
    assert {e.data["why"] for e in journal.of_kind("cancel")} == {"kill switch"}
    assert journal.of_kind("fill")[-1].data["reason"] == "kill_switch"


async def test_stop_loss_exits_inside_the_candle_that_reaches_it():
    closes = [100, 100, 100, 99, 80, 85]
    journal = MemoryJournal()
    runner = make_runner(candles_from(closes), Scripted({1: GO_LONG}), journal=journal,
                         risk=RiskConfig(stake_pct=1.0, stop_loss_pct=0.1))
    await runner.run()
    entry, stop = journal.of_kind("fill")
    assert entry.data["price"] == 100.0
    assert (stop.data["reason"], stop.data["price"], stop.data["fill_ts_ms"]) == ("stop_loss", 90.0, 4 * MIN)
    assert runner.portfolio.trades[0].exit_reason == "stop_loss"


async def test_a_strategy_that_raises_fails_the_bot_with_the_candle_named():
    runner = make_runner(candles_from([100.0] * 10), Scripted(fail_at=4))
    with pytest.raises(StrategyError, match=r"raised on the candle of 1970-01-01T00:04:00Z: ZeroDivisionError"):
        await runner.run()
    assert runner.state is RunnerState.FAILED
    assert "ZeroDivisionError" in runner.last_error


async def test_stop_request_finishes_the_current_candle_and_reads_no_more():
    runner = make_runner(candles_from([100.0] * 10), Scripted())

    class StopAtBar3(Scripted):
        def generate_signal(self, market_data):
            if market_data.bar_index == 3:
                runner.request_stop()
            return None

    runner.strategy = StopAtBar3()
    assert await runner.run() is RunnerState.STOPPED
    assert runner.bars == 4        # candle 3 finished; candle 4 is left for the next start


async def test_scheduled_kill_trips_before_the_named_candle():
    candles = candles_from([100.0 + i for i in range(20)])
    journal = MemoryJournal()
    runner = make_runner(candles, Scripted({0: GO_LONG}), journal=journal)
    runner.schedule_kill(6, "replayed kill")
    assert await runner.run() is RunnerState.KILLED
    flatten = journal.of_kind("fill")[-1]
    assert (flatten.data["reason"], flatten.data["fill_ts_ms"]) == ("kill_switch", 6 * MIN)
    assert journal.of_kind("kill")[0].key == "6"


async def test_restored_runner_continues_exactly_like_an_uninterrupted_one():
    candles = candles_from([100.0 + (i * 7919 % 13) - 6 for i in range(60)])
    script = {3: GO_LONG, 11: GO_FLAT, 20: GO_LONG, 41: GO_FLAT, 50: GO_LONG}
    whole = make_runner(candles, Scripted(script), risk=RiskConfig(stake_pct=0.9, stop_loss_pct=0.04))
    await whole.run()

    first = make_runner(candles[:25], Scripted(script), risk=RiskConfig(stake_pct=0.9, stop_loss_pct=0.04))
    await first.run()
    second = StrategyRunner(
        "bot-a", feed=ReplayProvider("BTC/USD", "1m", candles, warmup=25), strategy=Scripted(script),
        risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.9, stop_loss_pct=0.04)),
        execution=SimExecution(fee_rate=0.0), portfolio=Portfolio("BTC/USD", 1.0), warmup_bars=25)
    second.restore(first.snapshot())
    await second.run()
    expected, got = whole.snapshot(), second.snapshot()
    assert got["portfolio"] == expected["portfolio"]
    assert (got["bars"], got["order_seq"], got["counters"]) == (expected["bars"], expected["order_seq"], expected["counters"])


async def test_snapshot_holds_portfolio_risk_kill_switch_and_open_orders():
    runner = make_runner(candles_from([100, 101, 102]), Scripted({2: GO_LONG}))
    await runner.run()
    snap = runner.snapshot()
    assert snap["state"] == "finished" and snap["bars"] == 3 and snap["order_seq"] == 1
    assert [o["order_id"] for o in snap["open_orders"]] == ["bot-a-1"]   # decided on the last close
    assert snap["kill_switch"]["tripped"] is False
    assert snap["portfolio"]["cash"] == 1_000.0


class LiveLikeFeed:
    """One candle per batch, then nothing more until closed: the next candle is far away."""

    symbol, timeframe = "BTC/USD", "1m"

    def __init__(self, candles):
        self._candles = candles
        self._closed = asyncio.Event()

    async def history(self, limit):
        return []

    async def stream(self):
        for candle in self._candles:
            yield [candle]
        await self._closed.wait()

    async def aclose(self):
        self._closed.set()


class SlowExchange(SimExecution):
    """Sim fills, but the answer about candle `slow_at` takes until the test releases it."""

    def __init__(self, slow_at):
        super().__init__()
        self.slow_at, self.waiting, self.release = slow_at, asyncio.Event(), asyncio.Event()

    def on_candle_now(self, candle):
        return None                    # as paper and live: the runner awaits `on_candle`, the slow one

    async def on_candle(self, candle):
        if candle.ts_ms == self.slow_at * MIN:
            self.waiting.set()
            await self.release.wait()
        return await super().on_candle(candle)


async def test_a_kill_asked_for_while_a_candle_waits_on_the_exchange_acts_right_after_that_candle():
    candles = candles_from([100.0, 101.0, 102.0])
    journal, exchange, feed = MemoryJournal(), SlowExchange(slow_at=2), LiveLikeFeed(candles)
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted(), execution=exchange,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal)
    running = asyncio.create_task(runner.run())
    await asyncio.wait_for(exchange.waiting.wait(), 1)
    assert runner.busy
    runner.request_kill("operator says stop")
    exchange.release.set()

    assert await asyncio.wait_for(running, 1) is RunnerState.KILLED      # no next candle needed
    assert runner.bars == 3 and journal.of_kind("kill")[0].key == "3"
    await feed.aclose()


class SlowCancel(SimExecution):
    """Sim fills, but cancelling takes until the test releases it (a slow exchange)."""

    def __init__(self):
        super().__init__()
        self.cancelling, self.release = asyncio.Event(), asyncio.Event()

    async def cancel_all(self):
        self.cancelling.set()
        await self.release.wait()
        return await super().cancel_all()


async def test_a_candle_that_arrives_during_a_kill_by_hand_waits_until_the_flattening_is_done():
    candles = candles_from([100.0, 101.0, 102.0, 103.0])
    feed, exchange, journal = QueuedFeed(), SlowCancel(), MemoryJournal()
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=exchange,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal)
    running = asyncio.create_task(runner.run())
    for candle in candles[:2]:                          # long from candle 1's open
        feed.queue.put_nowait(candle)
    while runner.bars < 2 or runner.busy:
        await asyncio.sleep(0)
    killing = asyncio.create_task(runner.kill_now("operator says stop"))
    await asyncio.wait_for(exchange.cancelling.wait(), 1)
    feed.queue.put_nowait(candles[2])                   # a candle closes mid-kill
    for _ in range(20):
        await asyncio.sleep(0)
    assert runner.bars == 2                             # it waits for the kill
    exchange.release.set()
    await asyncio.wait_for(killing, 1)
    await asyncio.wait_for(running, 1)                  # the waiting candle fills the flatten order
    assert runner.state is RunnerState.KILLED and runner.portfolio.is_flat
    assert [f.data["reason"] for f in journal.of_kind("fill")][-1] == "kill_switch"
    await feed.aclose()


# -- late candles and unfinished flattens (paper and live behaviour, with sim parts) ----------


async def test_a_signal_on_a_candle_older_than_the_age_limit_updates_the_strategy_but_sends_nothing():
    from runner.bot.clock import ManualClock

    candles = candles_from([100.0 + i for i in range(10)])
    clock = ManualClock(candles[2].ts_ms + MIN + 5 * MIN)       # the backlog arrives 5 minutes late
    feed, strategy = QueuedFeed(), Scripted({0: GO_LONG, 1: GO_FLAT, 2: GO_LONG, 3: GO_LONG})
    runner = StrategyRunner("bot-a", feed=feed, strategy=strategy, execution=SimExecution(),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal(), clock=clock,
                            max_candle_age_ms=30_000)
    running = asyncio.create_task(runner.run())
    for c in candles[:3]:
        feed.queue.put_nowait(c)
    await eventually(lambda: runner.bars == 3)
    assert (len(strategy.seen), runner.orders, runner.late_signals) == (3, 0, 3)

    clock.advance_to(candles[9].ts_ms + MIN + 1_000)            # a fresh candle: one second after its close
    feed.queue.put_nowait(candles[9])
    await eventually(lambda: runner.bars == 4)
    assert runner.orders == 1 and runner.late_signals == 3
    await feed.aclose()
    await running


class RefusingExits(SimExecution):
    """Sim fills, but the exchange refuses the first `refusals` exits (dropped, as live does)."""

    def __init__(self, refusals: int):
        super().__init__()
        self.refusals = refusals
        self.exit_attempts_at: list[int] = []

    async def execute_signal(self, order):
        if order.side.value == "sell":
            self.exit_attempts_at.append(order.created_ts_ms)
            if self.refusals:
                self.refusals -= 1
                return []
        return await super().execute_signal(order)


async def test_a_kill_whose_flatten_is_refused_is_killed_at_once_and_retried_with_a_backoff():
    candles = candles_from([100.0 + i for i in range(12)])
    feed, exchange, journal = QueuedFeed(), RefusingExits(refusals=3), MemoryJournal()
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=exchange,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal)
    running = asyncio.create_task(runner.run())
    for c in candles[:2]:
        feed.queue.put_nowait(c)
    await eventually(lambda: runner.bars == 2 and runner.portfolio.quantity > 0)

    await runner.kill_now("by hand")
    assert runner.state is RunnerState.KILLED and runner.flatten_pending   # refused: killed all the same

    for c in candles[2:9]:
        feed.queue.put_nowait(c)
    await eventually(lambda: runner.bars == 9)
    # Sent at the kill (after candle 1), then after candles 2, 4 and 8: waits of 1, 2 and 4 candles.
    assert [ts // MIN - 1 for ts in exchange.exit_attempts_at] == [1, 2, 4, 8]
    assert runner.flatten_pending and runner.portfolio.quantity > 0     # the fourth fills at the next open
    feed.queue.put_nowait(candles[9])
    assert await asyncio.wait_for(running, 1) is RunnerState.KILLED
    assert not runner.flatten_pending and runner.portfolio.quantity == 0.0
    details = [e.data.get("detail") for e in journal.of_kind("lifecycle")]
    assert details[-2:] == ["by hand", "by hand; position closed"]


async def test_a_bot_stopped_before_its_flatten_completed_stays_killed_and_says_why():
    candles = candles_from([100.0, 101.0, 102.0])
    feed, journal = QueuedFeed(), MemoryJournal()
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=RefusingExits(99),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal)
    running = asyncio.create_task(runner.run())
    for c in candles[:2]:
        feed.queue.put_nowait(c)
    await eventually(lambda: runner.bars == 2)
    await runner.kill_now("by hand")

    runner.request_stop()
    await feed.aclose()

    assert await running is RunnerState.KILLED and runner.flatten_pending
    last = journal.of_kind("lifecycle")[-1].data
    assert last["detail"] == "by hand; stopped before the position was closed" and last["flatten_pending"]


class SlowRefusingExits(RefusingExits):
    """Refuses every exit, and holds each exit until the test releases it (a slow exchange)."""

    def __init__(self):
        super().__init__(refusals=10_000)
        self.sending, self.release = asyncio.Event(), asyncio.Event()

    async def execute_signal(self, order):
        if order.side.value == "sell":
            self.sending.set()
            await self.release.wait()
            self.release.clear()
        return await super().execute_signal(order)


async def test_a_resume_while_a_flatten_retry_is_in_flight_waits_for_it_and_the_bot_trades_on():
    candles = candles_from([100.0 + i for i in range(6)])
    feed, exchange = QueuedFeed(), SlowRefusingExits()
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=exchange,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal())
    running = asyncio.create_task(runner.run())
    for c in candles[:2]:
        feed.queue.put_nowait(c)
    await eventually(lambda: runner.bars == 2)
    killing = asyncio.create_task(runner.kill_now("by hand"))
    await asyncio.wait_for(exchange.sending.wait(), 1)
    exchange.release.set()                                    # the first flatten is refused
    await killing
    exchange.sending.clear()
    feed.queue.put_nowait(candles[2])                          # its retry goes out, and is held
    await asyncio.wait_for(exchange.sending.wait(), 1)

    resuming = asyncio.create_task(runner.resume_in_place())
    await asyncio.sleep(0)
    assert not resuming.done()                                 # it waits for the candle in flight
    exchange.release.set()
    assert await asyncio.wait_for(resuming, 1) is True

    assert runner.state is RunnerState.RUNNING and not runner.kill_switch.tripped and not runner.flatten_pending
    feed.queue.put_nowait(candles[3])
    await eventually(lambda: runner.bars == 4)
    assert runner.state is RunnerState.RUNNING
    await feed.aclose()
    await asyncio.wait_for(running, 1)
