"""A paper bot's resting limit orders across downtime: a restarted bot puts them through the
candles that closed while the daemon was down, as its paper engine would have live (filled at
the candle that reached them, at that candle's price and time; expired at their expiry), before
its first live candle. Under the BotManager on the Binance stand-in through real ccxt, with the
helpers of test_trailing_stop_restart.py (a bot stopped, or crashed, the stand-in's clock moved on,
the bot started again on the same state folder).

The tape: flat at 30,000, but for an up-wick to 30,700 on candle 75 and a down-wick to 28,900 on
candle 80, both while the daemon is down (it stops at candle 64 and starts again at 90). The
candles after 80 reach neither 29,000 nor 30,600: before, a limit order the wicks reached was
still resting after the restart (or, a limit exit, gave way to the stop the down-wick reached).
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from market.models import Candle, iso_utc
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.assembly.reconcile_on_start import restore_from_journal
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import SqliteJournal
from runner.state.exits_past_snapshot import candles_past_snapshot
from runner.state.limits_past_snapshot import resting_limit_orders
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy, StrategyParams
from strategies.registry import register
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.fakes import QueuedFeed, Scripted
from tests.integration.pushed_runners import CANDLES as SAMPLE_CANDLES, SYMBOL, paper_engine
from tests.integration.test_exchange_bots import MIN, T0_MS, bot
from tests.integration.test_trailing_stop_restart import run_until
from tests.unit.exchange_standin.sample_market import candle_ms as sample_candle_ms

UP_WICK, DOWN_WICK = 75, 80               # candle indexes, both while the daemon is down
ENTRY_MS = T0_MS + 62 * MIN               # the bot's third candle: it places its order at its close
STOPPED_AT_MS = T0_MS + 66 * MIN          # the bot has read the candles up to 64 when it stops
DOWN_UNTIL_MS = T0_MS + 90 * MIN
BID, ASK = 29_000.0, 30_600.0             # the limit entry's price, the limit exit's
EXPIRE_AFTER = 5


def tape() -> list[tuple[int, float, float, float, float, float]]:
    out = []
    for i in range(400):
        high = 30_700.0 if i == UP_WICK else 30_005.0
        low = 28_900.0 if i == DOWN_WICK else 29_995.0
        out.append((T0_MS + i * MIN, 30_000.0, high, low, 30_000.0, 5.0))
    return out


class Plan(StrategyParams):
    plan: str


@register
class PlacesOneLimitOrder(Strategy):
    """On the candle of `ENTRY_MS`: `bid` a limit buy at `BID` (good till cancelled), `expiring`
    the same expiring after `EXPIRE_AFTER` candles, `exit` a market buy, then on the next candle
    a limit exit at `ASK`. Nothing else, whatever it read before a restart."""

    name = "test_places_one_limit_order"
    Params = Plan

    def generate_signal(self, market_data):
        ts_ms, plan = market_data.candle.ts_ms, self.params.plan
        if ts_ms == ENTRY_MS:
            if plan == "exit":
                return GO_LONG
            return LimitSignal(Direction.LONG, "bid", price=BID, expire_after=EXPIRE_AFTER if plan == "expiring" else None)
        if ts_ms == ENTRY_MS + MIN and plan == "exit":
            return LimitSignal(Direction.FLAT, "ask", price=ASK)
        return None


def config_for(plan: str, base_url: str, **risk):
    return bot(f"paper-{plan}", "paper", base_url, on_restart="resume",
               strategy={"name": "test_places_one_limit_order", "params": {"plan": plan}},
               risk={"stake_pct": 0.5, **risk})


def events(tmp_path, bot_id: str, kind: str) -> list[dict]:
    """The bot's journal events of `kind`: their data, with the time each was journalled at."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        return [{**e.data, "at_ms": e.ts_ms} for e in journal.for_bot(bot_id).events(kinds=(kind,))]
    finally:
        journal.close()


def candle_ms(i: int) -> int:
    return T0_MS + i * MIN


async def down_and_back(tmp_path, standin, config):
    """Run the bot until it has read candle 64 (its order resting), stop it (its snapshot holds
    the order), keep it down until candle 90, and run it again until it has read candle 92."""
    await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)
    standin.advance_to(DOWN_UNTIL_MS)
    return await run_until(tmp_path, standin, config,
                           condition=lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(92)))


async def test_a_limit_entry_reached_while_the_daemon_was_down_fills_at_that_candle_once(tmp_path):
    async with BinanceStandIn(tape(), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = config_for("bid", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)       # its snapshot holds the order
        standin.advance_to(DOWN_UNTIL_MS)
        # Started again, and crashed as soon as the fill is on disk: before any live candle, so
        # before any snapshot (the one on disk still holds the order resting).
        await run_until(tmp_path, standin, config, hold_at_ms=DOWN_UNTIL_MS + MIN, then_crash=True,
                        condition=lambda s: events(tmp_path, config.id, "fill"))

        [order] = events(tmp_path, config.id, "order")
        [fill] = events(tmp_path, config.id, "fill")
        assert (fill["order_id"], fill["side"], fill["price"]) == (order["order_id"], "buy", BID)
        # At the down-wick's candle, journalled at its close: as a bot that never went down.
        assert (fill["fill_ts_ms"], fill["at_ms"]) == (candle_ms(DOWN_WICK), candle_ms(DOWN_WICK + 1))
        assert [o["order_id"] for o in SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"]] == [
            order["order_id"]]

        # Started once more, it neither fills the order again nor finds it resting.
        standin.advance(5 * MIN)
        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(98)))
        assert len(events(tmp_path, config.id, "fill")) == 1
        status = manager.status(config.id)
        assert (status.fills, status.position) == (1, pytest.approx(order["quantity"]))
        assert SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"] == []


async def test_a_limit_entry_that_expired_while_the_daemon_was_down_expires_at_its_time_and_never_fills(tmp_path):
    async with BinanceStandIn(tape(), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = config_for("expiring", standin.base_url)
        manager = await down_and_back(tmp_path, standin, config)

        [order] = events(tmp_path, config.id, "order")
        assert order["expire_ts_ms"] == ENTRY_MS + MIN + EXPIRE_AFTER * MIN
        [cancel] = events(tmp_path, config.id, "cancel")
        assert (cancel["order_id"], cancel["why"], cancel["at_ms"]) == (order["order_id"], "expired",
                                                                       order["expire_ts_ms"])
        assert events(tmp_path, config.id, "fill") == []            # the down-wick came after its expiry
        assert manager.status(config.id).position == 0


async def test_a_limit_exit_reached_while_the_daemon_was_down_sells_there_before_the_stop_it_set_aside(tmp_path):
    async with BinanceStandIn(tape(), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = config_for("exit", standin.base_url, stop_loss_pct=0.02)    # the stop: about 29,400
        manager = await down_and_back(tmp_path, standin, config)

        sells = [f for f in events(tmp_path, config.id, "fill") if f["side"] == "sell"]
        # Sold by the limit exit at the up-wick; the down-wick five candles later finds the
        # position closed (before: the stop it had set aside sold at about 29,400 there).
        assert [(f["order_id"].endswith("-sl"), f["price"], f["fill_ts_ms"]) for f in sells] == [
            (False, ASK, candle_ms(UP_WICK))]
        assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-9)
        assert [c["why"] for c in events(tmp_path, config.id, "cancel")] == ["replaced by an exit"]


async def test_a_limit_order_journalled_past_the_snapshot_sees_the_missed_candles_from_its_decision_on(
        pushed_runners, account, tmp_path):
    # On the stand-in's sample market (falling 20 a candle from candle 60): the bid at 30,560 is
    # decided at candle 61's close, journalled, and the process dies before any snapshot since
    # candle 60's. Candle 61's low (30,555) reached that price before the bid existed; candle
    # 62's (30,535) is the first that reaches it with the bid resting.
    bid, prefix = 30_560.0, "brdown01-"
    journal, snapshots = SqliteJournal(tmp_path / "journal.sqlite3"), SnapshotStore(tmp_path / "bots")
    first, push = pushed_runners("down-bot", paper_engine(account), {1: LimitSignal(Direction.LONG, "bid", price=bid)},
                                 RiskConfig(stake_pct=0.1), prefix, journal=journal.for_bot("down-bot"))
    await push(60)
    snapshots.write("down-bot", {**first.snapshot(), "journal_seq": journal.last_seq("down-bot")})
    await push(61)
    journal.commit()
    first.request_stop()
    [order] = first.execution.open_orders()

    bot_journal = journal.for_bot("down-bot")
    recovered = recover("down-bot", snapshots, bot_journal, reruns=False)
    resting = resting_limit_orders(recovered.state, recovered.orders_after, recovered.fills_after,
                                   recovered.cancelled_after)
    assert resting == [order]
    now_ms = sample_candle_ms(70)                         # candle 69 has closed: down for 9 candles
    count = candles_past_snapshot(recovered.state, "1m", now_ms, (), resting)
    second = StrategyRunner("down-bot", feed=QueuedFeed(SYMBOL), strategy=Scripted({}),
                            execution=paper_engine(account), risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=bot_journal, order_id_prefix=prefix)
    restore_from_journal(second, recovered, bot_journal)
    await second.catch_up_exits([Candle(*c) for c in SAMPLE_CANDLES[70 - count:70]])

    [fill] = [{**e.data, "at_ms": e.ts_ms} for e in bot_journal.events(kinds=("fill",))]
    assert (fill["order_id"], fill["price"], fill["fill_ts_ms"], fill["at_ms"]) == (
        order.client_order_id, bid, sample_candle_ms(62), sample_candle_ms(63))
    assert second.execution.open_orders() == []
    assert second.portfolio.quantity == pytest.approx(order.quantity)
    journal.close()


async def test_a_shadow_bots_limit_entry_reached_while_the_daemon_was_down_fills_at_that_candle(tmp_path):
    # A governed live bot at L0: sim fills on the exchange's candles, nothing sent.
    async with BinanceStandIn(tape(), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = bot("shadow-bid", "live", standin.base_url, on_restart="resume",
                     strategy={"name": "test_places_one_limit_order", "params": {"plan": "bid"}},
                     risk={"stake_pct": 0.5},
                     governance={"enabled": True, "start_level": 0, "drift": {"enabled": False},
                                 "promotion": {"min_trades": 1_000, "min_win_rate": 0.0, "max_drawdown_pct": 1.0}})
        manager = await down_and_back(tmp_path, standin, config)

        [fill] = events(tmp_path, config.id, "fill")
        assert fill["shadow"]
        assert (fill["price"], fill["fill_ts_ms"], fill["at_ms"]) == (BID, candle_ms(DOWN_WICK), candle_ms(DOWN_WICK + 1))
        assert manager.status(config.id).position == pytest.approx(fill["quantity"])
        assert not standin.orders
