"""The exits a resting limit exit set aside across a restart (`runner.bot.limit_orders`): a limit exit
done while the bot was down (cancelled by hand on the exchange, or cancelled by the bot past its
last snapshot) gives the position its stop back, and a set-aside trailing stop that ratcheted is
on disk at its ratcheted level, so a crash brings it back there.

The runner-level tests use the stand-in's falling market and the bot of
test_limit_exit_cancelled_outside.py (a 0.4% stop, about 30480.6, first reached by candle 65's
low); the daemon test uses the rising tape of test_trailing_stop_restart.py (a 5% trail of its top).
"""

from __future__ import annotations

import pytest

from market.models import iso_utc
from risk.config import RiskConfig
from runner.assembly.reconcile_on_start import restore_from_journal
from runner.state.journal import SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Direction, LimitSignal
from tests.integration.pushed_runners import live_engine, paper_engine
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, journalled
from tests.integration.test_limit_exit_cancelled_outside import PREFIX, SYMBOL, order_posts
from tests.integration.test_trailing_stop_restart import (
    FALL, LEVEL, REACHING_MS, TRAIL_PCT, exit_fills, new_standin, run_until)

LIMIT_EXIT = f"{PREFIX}2"


def cancels(runner) -> list[str]:
    """Why each of the runner's cancels was made, as its journal file holds them, in order."""
    return [e.data["why"] for e in runner.journal.events(kinds=("cancel",))]


@pytest.fixture
def state_files(tmp_path):
    """(journal, snapshots): a SQLite journal and a snapshot folder, as the daemon keeps them."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal, SnapshotStore(tmp_path / "bots")
    journal.close()


@pytest.fixture
def restartable(pushed_runners, state_files):
    """Factory: `restartable(engine, script, risk=0.4% stop)` -> (runner, push, crash, restart): a bot
    on the journal file; `crash(then=(i, ...))` snapshots it, pushes candles `i, ...`
    (journalled, no snapshot) and loses it; `restart(engine)` -> (runner, push) recovers it as the daemon does."""
    journal, snapshots = state_files

    def make(engine, script, risk=RiskConfig(stake_pct=0.1, stop_loss_pct=0.004)):
        runner, push = pushed_runners("restart-bot", engine, script, risk, PREFIX,
                                      journal=journal.for_bot("restart-bot"))

        async def crash(*, then: tuple[int, ...] = ()) -> None:
            snapshots.write("restart-bot", {**runner.snapshot(), "journal_seq": journal.last_seq("restart-bot")})
            for i in then:
                await push(i)
            journal.commit()
            runner.request_stop()                               # it reads no candle more: the process is gone

        def restart(engine):
            bot_journal = journal.for_bot("restart-bot")
            recovered = recover("restart-bot", snapshots, bot_journal)
            return pushed_runners("restart-bot", engine, {}, risk, PREFIX, journal=bot_journal,
                                  before_run=lambda r: restore_from_journal(r, recovered, bot_journal))
        return runner, push, crash, restart
    return make


async def test_a_live_limit_exit_cancelled_by_hand_while_the_bot_was_down_gives_its_stop_back_at_the_restart(
        restartable, account, accounts, standin):
    first, push, crash, restart = restartable(live_engine(account, PREFIX),
                                              {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0)})
    await push(60)
    await push(61)
    await crash()                                               # the limit exit rests, the stop set aside
    person = accounts()
    await person.call("cancel_order", SYMBOL, person.client.cancel_order,
                      str(standin.order_by_client_id(LIMIT_EXIT).order_id), SYMBOL)

    second, push = restart(live_engine(account, PREFIX))
    await push(62)                                              # the lookup finds it cancelled
    assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}1-sl"]
    assert cancels(second) == ["replaced by an exit", "cancelled outside the bot"]
    for i in (63, 64, 65):
        await push(i)

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT, f"{PREFIX}1-sl"]
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_limit_exit_expired_past_the_snapshot_gives_its_stop_back_after_a_crash(
        restartable, account, standin, mode):
    engine = (lambda: paper_engine(account)) if mode == "paper" else (lambda: live_engine(account, PREFIX))
    script = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0, expire_after=2)}
    first, push, crash, restart = restartable(engine(), script)
    for i in (60, 61, 62):
        await push(i)
    await crash(then=(63,))                    # expired at 63's close, the stop put back; no snapshot since

    second, push = restart(engine())
    await push(64)
    assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}1-sl"]
    assert cancels(second) == ["replaced by an exit", "expired"]               # not journalled again
    await push(65)

    [stop] = [f for f in second.journal.events(kinds=("fill",)) if f.data["side"] == "sell"]
    assert stop.data["order_id"] == f"{PREFIX}1-sl"
    assert second.portfolio.quantity == pytest.approx(0.0, abs=1e-5)
    if mode == "live":
        assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT, f"{PREFIX}1-sl"]


async def test_an_exit_in_flight_at_a_crash_is_followed_and_the_stops_of_the_expired_limit_exit_stay_away(
        restartable, account, standin):
    # The limit exit expires at candle 63's close and its stop-loss and take-profit come back; at
    # 64 the strategy exits by market: the order fills on the exchange, its answer is lost, its
    # lookup fails, and the process dies (the snapshot is from candle 62). Restarted, the exit is
    # looked up (filled) before the stops the snapshot still holds aside are put back: none is,
    # and candle 65, which reaches the stop's level, sends nothing.
    script = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0, expire_after=2), 4: GO_FLAT}
    risk = RiskConfig(stake_pct=0.1, stop_loss_pct=0.004, take_profit_pct=0.05)
    first, push, crash, restart = restartable(live_engine(account, PREFIX), script, risk)
    for i in (60, 61, 62):
        await push(i)
    standin.lose_response_next("POST /api/v3/order")
    standin.fail_next("GET /api/v3/time", status=503, times=4)          # the lookup's first request
    await crash(then=(63, 64))
    assert [o.client_order_id for o in first.execution.open_orders()] == [f"{PREFIX}3"]   # outcome unknown
    assert standin.order_by_client_id(f"{PREFIX}3").status == "FILLED"

    second, push = restart(live_engine(account, PREFIX))
    await push(65)

    assert standin.order_submissions == {f"{PREFIX}1": 1, LIMIT_EXIT: 1, f"{PREFIX}3": 1}
    assert "expired" in cancels(second) and "cancelled outside the bot" not in cancels(second)
    assert second.execution.open_orders() == [] and second._replaced_exits is None
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert second.portfolio.quantity < 1e-5


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_stops_put_back_then_replaced_by_an_exit_past_the_snapshot_are_not_restored_after_a_crash(
        restartable, account, standin, mode):
    # The limit exit expires at 63's close and the stop-loss and take-profit come back (in the
    # snapshot written then); at 64 the strategy exits by market, which cancels them a second
    # time, and the process dies. Their second cancel must be in the journal: restored, the stop
    # would sell again at 65 (paper: a short; live: a sell of coins the bot does not hold).
    engine = (lambda: paper_engine(account)) if mode == "paper" else (lambda: live_engine(account, PREFIX))
    script = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0, expire_after=2), 4: GO_FLAT}
    first, push, crash, restart = restartable(engine(), script,
                                              RiskConfig(stake_pct=0.1, stop_loss_pct=0.004, take_profit_pct=0.05))
    for i in (60, 61, 62, 63):
        await push(i)
    assert [o.client_order_id for o in first.execution.open_orders()] == [f"{PREFIX}1-sl", f"{PREFIX}1-tp"]
    await crash(then=(64,))

    second, push = restart(engine())
    assert [o for o in second.execution.open_orders() if o.oco_group is not None] == []
    await push(65)

    assert second.portfolio.quantity == pytest.approx(0.0, abs=1e-5)
    assert [f.data["order_id"] for f in second.journal.events(kinds=("fill",))] == [f"{PREFIX}1", f"{PREFIX}3"]
    assert cancels(second) == ["replaced by an exit"] * 2 + ["expired"] + ["replaced by an exit"] * 2
    if mode == "live":
        assert standin.order_submissions == {f"{PREFIX}1": 1, LIMIT_EXIT: 1, f"{PREFIX}3": 1}


ENTRY_MS = T0_MS + 63 * MIN                # in the rise of the tape
FAR_ABOVE = 100_000.0                      # a limit exit the tape never reaches


@register
class BuysThenRestsALimitExit(Strategy):
    """Goes long on the candle of `ENTRY_MS` and asks for a GTC limit exit far above the market on
    the next: the trailing stop it sets aside is the bot's only way out."""

    name = "test_buys_then_rests_a_limit_exit"

    def generate_signal(self, market_data):
        ts_ms = market_data.candle.ts_ms
        if ts_ms == ENTRY_MS:
            return GO_LONG
        return LimitSignal(Direction.FLAT, "far above", price=FAR_ABOVE) if ts_ms == ENTRY_MS + MIN else None


def set_aside_level(tmp_path, bot_id: str) -> float | None:
    """The level of the trailing stop set aside in the snapshot on disk (None: none set aside)."""
    state = SnapshotStore(tmp_path / "bots").read(bot_id) or {}
    return next((o["stop_price"] for exits in (state.get("replaced_exits") or {}).values() for o in exits
                 if o["order_id"].endswith("-ts")), None)


def resting_config(base_url: str):
    return bot("paper-rest", "paper", base_url, on_restart="resume",
               strategy={"name": "test_buys_then_rests_a_limit_exit"},
               risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT})


async def crash_past_the_top(tmp_path, standin, config) -> None:
    """Run the bot past the top, until the snapshot on disk has the set-aside trailing stop at the
    top's level (the ratchet owes one: the interval is an hour, and no fill came after the
    entry's), and crash it."""
    hold_ms = T0_MS + (FALL - 5) * MIN
    last = iso_utc(hold_ms - 2 * MIN)
    await run_until(tmp_path, standin, config, hold_at_ms=hold_ms, then_crash=True,
                    condition=lambda s: s.last_candle_time == last
                    and set_aside_level(tmp_path, config.id) == pytest.approx(LEVEL, rel=1e-12))


def assert_exited_at_the_level(tmp_path, config, manager) -> None:
    [(order_id, price, fill_ts_ms)] = exit_fills(tmp_path, config.id)
    assert order_id.endswith("-1-ts") and (price, fill_ts_ms) == (pytest.approx(LEVEL, rel=1e-12), REACHING_MS)
    assert [c["why"] for c in journalled(tmp_path, config.id, "cancel")] == ["replaced by an exit", "stop reached"]
    assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-12)


async def test_a_paper_set_aside_trailing_stop_ratchet_reaches_disk_and_a_crash_brings_it_back_to_exit_there(tmp_path):
    async with new_standin() as standin:
        config = resting_config(standin.base_url)
        await crash_past_the_top(tmp_path, standin, config)

        manager = await run_until(tmp_path, standin, config, condition=lambda s: s.fills >= 2)
    assert_exited_at_the_level(tmp_path, config, manager)


async def test_a_paper_set_aside_trailing_stop_reached_while_the_daemon_was_down_fills_at_that_candle(tmp_path):
    async with new_standin() as standin:
        config = resting_config(standin.base_url)
        await crash_past_the_top(tmp_path, standin, config)
        standin.advance(REACHING_MS + 5 * MIN - standin.now_ms)     # down while the fall goes through it

        manager = await run_until(tmp_path, standin, config, condition=lambda s: s.fills >= 2)
    assert_exited_at_the_level(tmp_path, config, manager)
