"""A sim basket's legs in the daemon step in lockstep, as its backtest does: each leg's candle t
only once every other running leg has stepped the candles before t (`runner.basket.lockstep`).
Sized on a share of the basket's equity with the cash binding, a leg's entries depend on where
the other legs' marks are: replayed each at its own pace, the daemon's legs ended elsewhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from market.shared import FeedHub
from runner.basket.backtest import run_basket_backtest
from runner.basket.status import format_basket_status
from runner.config.basket import load_bot_or_basket
from runner.config.commands import validate
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.integration.manager_runs import run_until_killed
from tests.trio_basket import write_trio_basket

PROJECT = Path(__file__).resolve().parents[2]
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
LEGS = tuple(f"quad.{s.lower().replace('/', '-')}" for s in SYMBOLS)


def quad_basket(folder, *, speed=None):
    """Four legs, at most three positions, each entry 45% of the basket's equity: the cash and
    the limit bind, so every entry depends on the other legs' positions and marks."""
    return load_bot_or_basket(write_trio_basket(folder, bars=2_000, speed=speed, basket_id="quad", symbols=SYMBOLS,
                                                stake="stake_fraction: 0.45"))


async def run_daemon(tmp_path, basket):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    try:
        manager = BotManager(basket.legs(), services)
        await asyncio.wait_for(manager.run(asyncio.Event()), 60)
        return manager, services.risk_groups.baskets.group("quad")
    finally:
        services.close()
        journal.close()


async def test_the_daemons_sim_basket_ends_where_its_backtest_ends(tmp_path):
    basket = quad_basket(tmp_path)
    expected = await run_basket_backtest(basket)
    assert sum(leg["fills"] for leg in expected.legs.values()) > 40 and expected.refusals > 0   # the limits bind

    manager, group = await run_daemon(tmp_path, basket)

    for symbol, leg in zip(SYMBOLS, LEGS):
        status, want = manager.status(leg), expected.legs[symbol]
        assert (status.state, status.bars, status.fills) == ("finished", want["bars"], want["fills"]), leg
        assert status.realized_pnl == pytest.approx(want["realized_pnl"], rel=1e-12, abs=1e-9), leg
    assert group.ledger.cash == pytest.approx(expected.cash, rel=1e-12)
    assert group.equity() == pytest.approx(expected.result.final_equity, rel=1e-12)
    assert group.lockstep.legs == frozenset()          # every leg left the clock at its end


async def test_a_leg_that_fails_at_start_does_not_hold_the_others_steps(tmp_path):
    basket = quad_basket(tmp_path)
    snapshots = SnapshotStore(tmp_path / "bots")
    snapshots.path(LEGS[0]).parent.mkdir(parents=True, exist_ok=True)
    snapshots.path(LEGS[0]).write_text("not a snapshot")   # and no journal to rebuild it from

    manager, group = await run_daemon(tmp_path, basket)

    assert manager.status(LEGS[0]).state == "failed"
    assert all(manager.status(leg).state == "finished" and manager.status(leg).bars == 2_000 for leg in LEGS[1:])
    assert group.lockstep.legs == frozenset()


async def test_a_legs_log_lines_from_a_candle_the_clock_steps_carry_the_legs_own_tag(tmp_path, log_records):
    # One task steps every leg's candles (`LegLockstep`'s driver): each step runs in the context
    # of its leg's task, so the lines it logs are the leg's, as the supervisor tagged them.
    path = write_trio_basket(tmp_path, bars=2_000, speed=None, basket_id="quad", symbols=SYMBOLS,
                             stake="stake_fraction: 0.45")
    path.write_text(path.read_text().replace("risk: {stop_loss_pct: 0.01}",
                                             "risk: {stop_loss_pct: 0.01, max_drawdown_pct: 0.01}"))
    basket = load_bot_or_basket(path)
    async with run_until_killed(basket.legs(), tmp_path, LEGS):
        pass

    tripped = [r for r in log_records if r["message"].startswith("Kill switch tripped")]
    assert "drawdown" in tripped[0]["message"]                         # a rule, on a candle the clock stepped
    assert sorted(str(r["extra"].get("bot")) for r in tripped) == sorted(LEGS)   # then each leg's kill, in its task


def fills(events) -> list[tuple]:
    """A leg's fills as both runs journal them (not the basket's cash after each: once killed, the
    legs step each its own candles, and their fills' order among the legs is no longer the clock's)."""
    return [(e.key, e.bar, e.data["side"], e.data["quantity"], e.data["price"], e.data["fee"], e.data["reason"])
            for e in events if e.kind == "fill"]


@pytest.mark.parametrize("speed", [None, 60_000], ids=["full-speed", "paced"])
@pytest.mark.parametrize("max_drawdown", [0.015, 0.02])
async def test_a_basket_killed_by_a_legs_rule_ends_in_the_daemon_as_in_its_backtest(tmp_path, max_drawdown, speed):
    # The drawdown rule trips on SOL's candle (the third leg of four); every leg then closes its
    # position at the first price after that candle's close, the open of its next candle, as a
    # kill does for a single bot. Before, the daemon closed XRP (after SOL on that time) before
    # XRP's own candle of the trip: at its open, cancelling an entry that had filled there (2%:
    # cash 9,803.82 against the backtest's 9,804.76); and the backtest closed BTC (before SOL),
    # which holds a position at 1.5%, at its next candle's close, a candle late.
    # Paced (1,000 candles a second), each leg hands its candles to the basket's clock one by one.
    path = write_trio_basket(tmp_path, bars=2_000, speed=speed, basket_id="quad", symbols=SYMBOLS,
                             stake="stake_fraction: 0.45")
    path.write_text(path.read_text().replace(
        "risk: {stop_loss_pct: 0.01}", f"risk: {{stop_loss_pct: 0.01, max_drawdown_pct: {max_drawdown}}}"))
    basket = load_bot_or_basket(path)
    expected = await run_basket_backtest(basket)
    kills = [e for e in expected.journal.events if e.kind == "kill"]
    assert kills[0].bot_id == "quad.sol-usdt" and kills[0].data["source"] == "rule"

    async with run_until_killed(basket.legs(), tmp_path, LEGS, flattened=True) as (manager, services):
        group = services.risk_groups.baskets.group("quad")
        journalled = {leg: services.journal.events(leg, kinds=("fill", "kill")) for leg in LEGS}

    assert group.ledger.cash == pytest.approx(expected.cash, rel=1e-12)
    for symbol, leg in zip(SYMBOLS, LEGS):
        status, want = manager.status(leg), expected.legs[symbol]
        assert (status.bars, status.fills, status.position) == (want["bars"], want["fills"], want["position"]), leg
        assert status.realized_pnl == pytest.approx(want["realized_pnl"], rel=1e-12, abs=1e-9), leg
        assert fills(journalled[leg]) == fills(e for e in expected.journal.events if e.bot_id == leg), leg
        # Where and why: the tripping leg's rule, each other leg's "basket" (its basket's latch).
        killed = [(e.data["bars"], e.data["source"]) for e in journalled[leg] if e.kind == "kill"]
        assert killed == [(e.data["bars"], e.data["source"]) for e in kills if e.bot_id == leg], leg
        assert killed == [(kills[0].data["bars"], "rule" if leg == kills[0].bot_id else "basket")], leg


SPANS = """\
markets:
  ETH/USDT: {source: synthetic, seed: 9, bars: 1500}                                  # ends 8h20 before BTC
  SOL/USDT: {source: synthetic, seed: 13, bars: 1700, start: "2024-01-01T05:00:00Z"}  # starts 5h after it
"""


def basket_of_spans(folder):
    path = write_trio_basket(folder, bars=2_000, speed=None, basket_id="quad", symbols=SYMBOLS,
                             stake="stake_fraction: 0.45")
    path.write_text(path.read_text() + SPANS)
    return path


async def test_legs_whose_candles_cover_different_spans_each_step_their_own_and_the_status_says_so(tmp_path,
                                                                                                 log_records):
    # The backtest runs every leg over the span all have (05:00 to ETH's last candle); the daemon
    # steps each over its own candles, as a live basket's leg trades while its symbol has some:
    # cut to that span, a leg's snapshot (its place in its own candles) would move with the
    # basket's symbols. So the daemon keeps its ends, and says where the backtest's are.
    basket = load_bot_or_basket(basket_of_spans(tmp_path))
    expected = await run_basket_backtest(basket)
    assert {leg["bars"] for leg in expected.legs.values()} == {1_200}

    manager, _ = await run_daemon(tmp_path, basket)

    assert [manager.status(leg).bars for leg in LEGS] == [2_000, 1_500, 1_700, 2_000]
    status = manager.basket("quad")
    assert status.candle_spans == (
        "the legs' candles open over different spans (BTC/USDT 2024-01-01T00:00:00Z to 2024-01-02T09:19:00Z; "
        "ETH/USDT 2024-01-01T00:00:00Z to 2024-01-02T00:59:00Z; SOL/USDT 2024-01-01T05:00:00Z to "
        "2024-01-02T09:19:00Z; XRP/USDT 2024-01-01T00:00:00Z to 2024-01-02T09:19:00Z); the daemon steps each leg "
        "over its own, the backtest every leg over the span all have (2024-01-01T05:00:00Z to "
        "2024-01-02T00:59:00Z), so the two end differently")
    assert format_basket_status(status).endswith(f"note: {status.candle_spans}")
    warned = [r["message"] for r in log_records if r["level"].name == "WARNING" and "open from" in r["message"]]
    assert warned and all(m.startswith("Basket quad: the candles of ") for m in warned)   # when the legs start


async def test_a_basket_whose_legs_cover_one_span_has_no_note(tmp_path):
    manager, _ = await run_daemon(tmp_path, quad_basket(tmp_path))
    assert manager.basket("quad").candle_spans == ""
    assert "note" not in format_basket_status(manager.basket("quad"))


def test_validate_says_a_sim_baskets_symbols_replay_candles_of_different_sources(tmp_path, capsys):
    path = basket_of_spans(tmp_path)
    validate([path])
    ok, note = capsys.readouterr().out.splitlines()
    assert ok.startswith(f"ok  {path}  (quad: ema_cross on BTC/USDT, ETH/USDT, SOL/USDT, XRP/USDT 1m, sim)")
    assert note.startswith("    note: its symbols replay candles of different sources; where their spans differ, "
                           "the daemon steps each leg over its own and `botrunner backtest` every leg over the span")

    validate([write_trio_basket(tmp_path, basket_id="same", symbols=SYMBOLS)])   # one synthetic series' span
    assert "note" not in capsys.readouterr().out


async def test_the_shipped_synthetic_basket_in_the_daemon_ends_as_its_backtest(tmp_path):
    # Replayed each leg at its own pace it tripped its 30% drawdown kill at 2024-06-19, SOL's
    # last candle at 2024-05-24; in lockstep the daemon ends where the backtest does.
    basket = load_bot_or_basket(PROJECT / "configs/bots/synthetic-basket.yaml")
    expected = await run_basket_backtest(basket)
    assert (len(expected.result.trades), round(expected.result.final_equity, 2)) == (1_336, 15_022.74)

    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    try:
        manager = BotManager(basket.legs(), services)
        await asyncio.wait_for(manager.run(asyncio.Event()), 120)
        group = services.risk_groups.baskets.group("synthetic-basket")
    finally:
        services.close()
        journal.close()

    for leg in basket.legs():
        status, want = manager.status(leg.id), expected.legs[leg.symbol]
        assert (status.state, status.bars, status.fills) == ("finished", want["bars"], want["fills"]), leg.id
    assert group.equity() == pytest.approx(expected.result.final_equity, rel=1e-12)
