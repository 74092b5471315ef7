"""A basket leg that crashes in the middle of its re-run after a restart (`runner.basket.reruns`).

While a leg re-runs its journalled candles, the basket's cash holds its flow as of the candle its
re-run has reached, so the other legs wait at their barrier before deciding anything afresh. A
leg whose strategy raises mid-re-run is restarted by the supervisor after a backoff; its re-run
is not done then, and the others keep waiting: through the backoff, until the restarted leg has
re-run its journal (so too after a crash past the re-run: it re-runs past its last snapshot). A
leg that stays down mid-re-run (no restart left, stopped by hand) leaves its share of the cash
partial: the others are released, run on managing their positions, and enter nothing until it
starts again, as for a leg that cannot start (README, Baskets); started again, it re-runs while
they wait.

Under the BotManager with a real SQLite journal and snapshot files: the trio basket trades and
stops; the leg that traded most loses its snapshot (it re-runs from its first candle); the basket
starts again with that leg's strategy raising once, half-way through its re-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from runner.basket.backtest import run_basket_backtest
from runner.config.basket import load_bot_or_basket
from runner.config.daemon import SupervisorConfig
from runner.state.journal import JournalEvent
from strategies.ema_cross import EmaCross
from strategies.registry import register
from tests.fakes import eventually
from tests.integration.manager_runs import ManagerRun, sim_services, leg_journal, candles_covered
from tests.trio_basket import LEGS, SYMBOLS, write_trio_basket

STRATEGY = "ema_cross, params: {fast: 5, slow: 20}"


@register
class CrashesMidRerun(EmaCross):
    """`ema_cross`, raising on the candle call `crash_at[symbol]` of its symbol's leg (once
    each, or on every build with `every_build`): a strategy bug that a re-run meets."""

    name = "test_crashes_mid_rerun"
    crash_at: ClassVar[dict[str, int]] = {}
    every_build: ClassVar[bool] = False

    def __init__(self, params) -> None:
        super().__init__(params)
        self._calls = 0

    def generate_signal(self, market_data):
        self._calls += 1
        symbol = market_data.symbol
        if self.crash_at.get(symbol) == self._calls:
            if not self.every_build:
                del self.crash_at[symbol]
            raise ZeroDivisionError(f"a bug at call {self._calls}")
        return super().generate_signal(market_data)


@pytest.fixture(autouse=True)
def disarmed():
    yield
    CrashesMidRerun.crash_at, CrashesMidRerun.every_build = {}, False


def trio(root: Path, *, speed: float | None):
    path = write_trio_basket(root, bars=1500, speed=speed)
    path.write_text(path.read_text().replace(STRATEGY, CrashesMidRerun.name))
    return load_bot_or_basket(path)


async def traded_then_one_leg_lost_its_snapshot(root: Path) -> tuple[str, int]:
    """The trio basket trades and stops; the leg that traded most loses its snapshot. That leg
    and the candles its journal covers (it re-runs them from its first)."""
    async with ManagerRun(trio(root, speed=60_000).legs(), sim_services(root), snapshot_interval_secs=3_600) as run:
        await eventually(lambda: sum(run.manager.status(leg).fills for leg in LEGS) >= 10, 30.0, poll_secs=0.01)
    rebuilt = max(LEGS, key=lambda leg: sum(kind == "order" for kind, _ in leg_journal(root, leg)))
    (root / "bots" / f"{rebuilt}.json").unlink()
    journal_ends = candles_covered(leg_journal(root, rebuilt))
    assert journal_ends > 40
    return rebuilt, journal_ends


def symbol_of(leg: str) -> str:
    return SYMBOLS[LEGS.index(leg)]


async def test_the_other_legs_wait_through_the_backoff_of_a_leg_crashed_mid_re_run(tmp_path):
    rebuilt, journal_ends = await traded_then_one_leg_lost_its_snapshot(tmp_path)
    CrashesMidRerun.crash_at = {symbol_of(rebuilt): journal_ends // 2}

    again = sim_services(tmp_path)
    fresh: list[tuple[str, str, int, str]] = []       # (leg, side, candles the rebuilt leg had read, its state)
    basket = trio(tmp_path, speed=None)
    supervisor = SupervisorConfig(backoff_initial_secs=0.5, backoff_max_secs=0.5)
    async with ManagerRun(basket.legs(), again, supervisor=supervisor) as run:
        manager = run.manager

        def heard(event: JournalEvent) -> None:
            if event.kind == "order" and event.bot_id != rebuilt:
                status = manager.status(rebuilt)
                fresh.append((event.bot_id, event.data["side"], status.bars, status.state))

        again.journal.subscribe(heard)
        await eventually(lambda: all(manager.status(leg).state == "finished" for leg in LEGS), 60.0, poll_secs=0.01)
        status = manager.status(rebuilt)
        assert status.restarts == 1 and "a bug at call" in status.last_error
        assert [manager.status(leg).last_error for leg in LEGS if leg != rebuilt] == [""] * 2

    assert fresh, "no other leg decided afresh: the test saw nothing"
    early = [order for order in fresh if order[3] != "running" or order[2] < journal_ends]
    # Before: during the rebuilt leg's backoff (state restarting, its re-run at journal_ends // 2)
    # the others stepped on past their barrier and decided afresh.
    assert not early, f"decided afresh before {rebuilt} had re-run its {journal_ends} candles: {early[:3]}"
    # The crash and the restart changed nothing of where the basket ends.
    expected = await run_basket_backtest(trio(tmp_path, speed=None))
    for leg in LEGS:
        assert manager.status(leg).fills == expected.legs[symbol_of(leg)]["fills"], leg


async def test_a_leg_down_for_good_mid_re_run_releases_the_others_to_manage_their_positions_entering_nothing(
        tmp_path):
    rebuilt, journal_ends = await traded_then_one_leg_lost_its_snapshot(tmp_path)
    CrashesMidRerun.crash_at = {symbol_of(rebuilt): journal_ends // 2}
    others = [leg for leg in LEGS if leg != rebuilt]

    again = sim_services(tmp_path)
    fresh: list[tuple[str, str]] = []           # (leg, side) of the orders journalled afresh
    async with ManagerRun(trio(tmp_path, speed=None).legs(), again, supervisor=SupervisorConfig(max_restarts=0)) as run:
        manager = run.manager
        again.journal.subscribe(lambda e: fresh.append((e.bot_id, e.data["side"])) if e.kind == "order" else None)
        await eventually(lambda: all(manager.status(leg).state == "finished" for leg in others), 60.0, poll_secs=0.01)
        # Before: the others, released as the leg failed, entered on a cash balance holding its
        # share as of candle journal_ends // 2 of its re-run (its later journalled trades not made again).
        assert [order for order in fresh if order[1] == "buy"] == []
        status = manager.status(rebuilt)
        assert status.state == "failed" and "a bug at call" in status.last_error
        group = again.risk_groups.baskets.group("trio")
        assert group.reruns.pending == frozenset() and group.refusals > 0    # they decided, and were refused
        assert group.waiting_for() == set()     # the others were not held at their start either


async def test_a_leg_stopped_by_hand_in_its_backoff_mid_re_run_releases_the_others_entering_nothing(tmp_path):
    rebuilt, journal_ends = await traded_then_one_leg_lost_its_snapshot(tmp_path)
    CrashesMidRerun.crash_at = {symbol_of(rebuilt): journal_ends // 2}
    others = [leg for leg in LEGS if leg != rebuilt]

    again = sim_services(tmp_path)
    fresh: list[tuple[str, str]] = []
    supervisor = SupervisorConfig(backoff_initial_secs=30, backoff_max_secs=30)
    async with ManagerRun(trio(tmp_path, speed=None).legs(), again, supervisor=supervisor) as run:
        manager = run.manager
        again.journal.subscribe(lambda e: fresh.append((e.bot_id, e.data["side"])) if e.kind == "order" else None)
        await eventually(lambda: manager.status(rebuilt).state == "restarting", 30.0, poll_secs=0.01)
        group = again.risk_groups.baskets.group("trio")
        assert group.reruns.pending == {rebuilt} and fresh == []       # held through the backoff

        await manager.stop(rebuilt)

        await eventually(lambda: all(manager.status(leg).state == "finished" for leg in others), 30.0, poll_secs=0.01)
        assert manager.status(rebuilt).state == "stopped"
        assert [order for order in fresh if order[1] == "buy"] == [] and group.refusals > 0


async def test_a_leg_crashed_mid_run_holds_the_others_until_its_restart_has_re_run_and_the_basket_ends_as_its_backtest(
        tmp_path):
    """Not a restart's re-run: the leg crashes in the basket's first run. Restarted, it re-runs
    the candles past its last snapshot, and until then the cash holds its share as of that
    snapshot: the others wait, through its backoff and its re-run."""
    path = write_trio_basket(tmp_path, bars=1500, speed=None, stake="stake_amount: 9000")   # the cash binds
    path.write_text(path.read_text().replace(STRATEGY, CrashesMidRerun.name))
    basket = load_bot_or_basket(path)
    expected = await run_basket_backtest(basket)
    crashed = LEGS[1]
    CrashesMidRerun.crash_at = {symbol_of(crashed): 700}

    journalled = sim_services(tmp_path)
    fresh: list[tuple[str, str, str]] = []      # (leg, side, the crashed leg's state) of the others' orders
    supervisor = SupervisorConfig(backoff_initial_secs=0.2, backoff_max_secs=0.2)
    async with ManagerRun(basket.legs(), journalled, supervisor=supervisor, snapshot_interval_secs=3_600) as run:
        manager = run.manager

        def heard(event: JournalEvent) -> None:
            if event.kind == "order" and event.bot_id != crashed:
                fresh.append((event.bot_id, event.data["side"], manager.status(crashed).state))

        journalled.journal.subscribe(heard)
        await eventually(lambda: all(manager.status(leg).state == "finished" for leg in LEGS), 60.0, poll_secs=0.01)
        assert manager.status(crashed).restarts == 1
        cash = journalled.risk_groups.baskets.group("trio").ledger.cash

    assert [order for order in fresh if order[2] != "running"] == []      # none in its backoff
    # Before: the others ran on to their last candle in its backoff and its re-run (cash 407.12).
    for leg in LEGS:
        assert manager.status(leg).fills == expected.legs[symbol_of(leg)]["fills"], leg
    assert cash == pytest.approx(expected.cash, rel=1e-12)


async def test_a_leg_started_by_hand_after_it_stayed_down_mid_re_run_re_runs_while_the_others_wait(tmp_path):
    rebuilt, journal_ends = await traded_then_one_leg_lost_its_snapshot(tmp_path)
    CrashesMidRerun.crash_at = {symbol_of(rebuilt): journal_ends // 2}
    others = [leg for leg in LEGS if leg != rebuilt]

    again = sim_services(tmp_path)
    fresh: list[tuple[str, str, int]] = []      # (leg, side, candles the rebuilt leg had read) of the others' orders
    basket = trio(tmp_path, speed=6_000)        # 100 candles a second a leg: the others still run when it is back
    async with ManagerRun(basket.legs(), again, supervisor=SupervisorConfig(max_restarts=0)) as run:
        manager = run.manager
        await eventually(lambda: manager.status(rebuilt).state == "failed", 30.0, poll_secs=0.01)
        again.journal.subscribe(lambda e: fresh.append((e.bot_id, e.data["side"], manager.status(rebuilt).bars))
                                if e.kind == "order" and e.bot_id != rebuilt else None)

        await manager.start(rebuilt)

        await eventually(lambda: manager.status(rebuilt).bars >= journal_ends, 30.0, poll_secs=0.01)
        assert all(manager.status(leg).state == "running" for leg in others)    # the test saw them wait
        await eventually(lambda: any(leg != rebuilt for leg, *_ in fresh), 30.0, poll_secs=0.01)

    early = [order for order in fresh if order[2] < journal_ends]
    # Before: once it joined again, the others entered while its re-run had its share of the cash
    # as of a candle before its journal's end.
    assert early == [], f"decided afresh before {rebuilt} had re-run its {journal_ends} candles: {early[:3]}"


async def test_a_leg_stopped_by_hand_mid_re_run_leaves_the_others_entering_nothing_until_it_runs_again(tmp_path):
    rebuilt, journal_ends = await traded_then_one_leg_lost_its_snapshot(tmp_path)
    others = [leg for leg in LEGS if leg != rebuilt]

    again = sim_services(tmp_path)
    fresh: list[tuple[str, str]] = []
    async with ManagerRun(trio(tmp_path, speed=6_000).legs(), again) as run:     # it re-runs 100 candles a second
        manager = run.manager
        again.journal.subscribe(lambda e: fresh.append((e.bot_id, e.data["side"])) if e.kind == "order" else None)
        await eventually(lambda: manager.status(rebuilt).bars >= 20, 30.0, poll_secs=0.005)

        stopped = await manager.stop(rebuilt)

        assert stopped.state == "stopped" and stopped.bars < journal_ends
        at_stop = {leg: manager.status(leg).bars for leg in others}
        await eventually(lambda: all(manager.status(leg).bars >= at_stop[leg] + 200 for leg in others), 30.0,
                         poll_secs=0.01)     # two seconds of candles: their signals, refused
        assert [order for order in fresh if order[1] == "buy"] == []
        assert again.risk_groups.baskets.group("trio").refusals > 0
        assert all(manager.status(leg).state == "running" for leg in others)
