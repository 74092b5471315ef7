"""A basket bot in a real daemon process: a SIGKILL mid-run restores every symbol's leg and the
one cash balance; a kill of the basket's id flattens every symbol and stays latched across a
restart until the basket is resumed."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.basket.backtest import run_basket_backtest
from market.shared import FeedHub
from runner.config.basket import load_bot_or_basket
from runner.daemon.manager import BotManager, DaemonServices
from runner.notify.events import daily_summary
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.daemon_process import connected, start_daemon, stop_daemon, write_config_folder
from tests.trio_basket import CAPITAL, LEGS, SYMBOLS, trio_basket, write_trio_basket

LEGS2 = ("duo.btc-usdt", "duo.eth-usdt")
PROJECT = Path(__file__).resolve().parents[2]


def config_dir(root: Path, *, bars: int, speed: float) -> Path:
    return write_config_folder(root / "config", "snapshot_interval_secs: 0.1\nstop_grace_secs: 5\n",
                               {"trio": trio_basket(bars=bars, speed=speed)})


def snapshot(state_dir: Path, leg: str) -> dict:
    return json.loads((state_dir / "bots" / f"{leg}.json").read_text())["state"]


def journal_fills(state_dir: Path) -> int:
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM events WHERE kind = 'fill'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


async def wait_until(condition, timeout: float = 120.0) -> None:
    """Poll `condition` until it holds; the bound counts a daemon's start, 20 s of imports alone
    on a loaded machine."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
def root(sock_dir):
    return sock_dir          # a short folder: the daemon's socket goes in it (tests/conftest.py)


async def test_a_sigkilled_daemon_restores_every_leg_and_the_one_cash_balance(root):
    folder = config_dir(root, bars=2_000, speed=30_000)            # 500 candles/s a leg: ~4 s a run
    state_dir = root / "state"
    basket = load_bot_or_basket(folder / "bots" / "trio.yaml")
    expected = await run_basket_backtest(basket)
    expected_fills = sum(leg["fills"] for leg in expected.legs.values())
    assert expected_fills > 40 and expected.refusals == 0

    daemon = start_daemon(folder, state_dir)
    try:
        await wait_until(lambda: journal_fills(state_dir) >= expected_fills // 3 or daemon.poll() is not None)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    finally:
        daemon.kill()
        daemon.communicate()
    assert daemon.returncode == -signal.SIGKILL, "the daemon should have been killed mid-run"
    assert journal_fills(state_dir) < expected_fills

    # The rest of the data at full speed: pacing is only there for the kill to land mid-run (paced,
    # the restart replayed its 1,300-odd candles a leg in about 3 s).
    (folder / "bots" / "trio.yaml").write_text(trio_basket(bars=2_000, speed=None))
    final = start_daemon(folder, state_dir)
    _, err = final.communicate(timeout=240)
    assert final.returncode == 0, err[-3000:]
    flows = []
    for symbol, leg in zip(SYMBOLS, LEGS):
        state, want = snapshot(state_dir, leg), expected.legs[symbol]
        portfolio = state["portfolio"]
        assert state["state"] == "finished" and state["bars"] == want["bars"] == 2_000
        assert portfolio["fill_count"] == want["fills"], f"{leg}: a fill lost or doubled"
        assert portfolio["realized_pnl"] == pytest.approx(want["realized_pnl"], rel=1e-12)
        assert portfolio["fees_paid"] == pytest.approx(want["fees"], rel=1e-12)
        assert portfolio["quantity"] == pytest.approx(want["position"], rel=1e-12)
        flows.append(portfolio["flow"])
    # One cash balance, rebuilt from each leg's share: what the uninterrupted basket ended with.
    cash = CAPITAL + math.fsum(flows)
    last = max(LEGS, key=lambda leg: snapshot(state_dir, leg)["journal_seq"])
    assert snapshot(state_dir, last)["portfolio"]["cash"] == pytest.approx(cash, rel=1e-9)
    assert cash == pytest.approx(expected.cash, rel=1e-9)


async def test_a_leg_re_running_its_fills_behind_the_other_legs_checks_them_without_the_baskets_cash(tmp_path):
    """After a SIGKILL the legs' snapshots are of different moments, so a leg re-running fills past
    its snapshot books them on a basket cash the journal never held (the other legs were elsewhere
    then): here ETH's leg from its first candle, BTC's from its end. Its fills still match the
    journal's, without that cash, and it ends where it did; before, the leg could not start. (The
    leg re-run is the one that filled first: its first fill was journalled on a cash without any
    of the other's flow, which is all in at the re-run.)"""
    basket = load_bot_or_basket(write_trio_basket(tmp_path, bars=400, speed=None, basket_id="duo",
                                                  symbols=SYMBOLS[:2]))
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    ended = {}
    try:
        for run in ("first", "again"):
            services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
            manager = BotManager(basket.legs(), services)
            try:
                await asyncio.wait_for(manager.run(asyncio.Event()), 60)
            finally:
                services.close()
            ended[run] = {s.id: (s.state, s.bars, s.fills, s.realized_pnl, s.position) for s in manager.statuses()}
            if run == "first":
                fills = journal_fill_count(journal)
                first = min(LEGS2, key=lambda leg: journal.events(leg, kinds=("fill",))[0].seq)
                (tmp_path / "bots" / f"{first}.json").unlink()      # it re-runs from its journal
        assert ended["again"] == ended["first"] and min(fills for _, _, fills, *_ in ended["first"].values()) > 4
        assert {state for state, *_ in ended["again"].values()} == {"finished"}
        assert journal_fill_count(journal) == fills             # every fill re-run matched; none added
    finally:
        journal.close()


def journal_fill_count(journal: SqliteJournal) -> int:
    return sum(len(journal.events(leg, kinds=("fill",))) for leg in LEGS2)


async def test_killing_the_basket_flattens_every_symbol_and_stays_latched_across_a_restart(root):
    folder = config_dir(root, bars=20_000, speed=6_000)
    state_dir = root / "state"
    daemon = start_daemon(folder, state_dir)
    try:
        client = await connected(state_dir / "botrunner.sock")
        try:
            await wait_until(lambda: journal_fills(state_dir) >= 6)
            await totals_count_the_basket_once(client)
            killed = await client.kill("trio", "basket test")
            assert killed.id == LEGS[0]
            statuses = {s.id: s for s in await client.bots()}
            assert set(statuses) == set(LEGS)
            for leg in LEGS:
                await wait_until_leg(client, leg, lambda s: s.state == "killed" and s.position == 0)
            cash = {(await client.bot(leg)).risk_group["cash"] for leg in LEGS}
            assert len(cash) == 1                   # every leg shows the one balance
            basket = await client.basket("trio")
            assert (basket.state, basket.kill_switch, basket.kill_reason) == ("killed", True, "basket test")
            assert [(leg.id, leg.symbol, leg.position, leg.state) for leg in basket.legs] == [
                (leg, symbol, 0.0, "killed") for leg, symbol in zip(LEGS, SYMBOLS)]
            assert (basket.open_positions, basket.max_open_positions) == (0, 3)
            assert basket.cash == pytest.approx(next(iter(cash))) and basket.equity == pytest.approx(basket.cash)
            assert math.fsum(leg.pnl for leg in basket.legs) == pytest.approx(basket.pnl, abs=1e-6)
            shown = subprocess.run([sys.executable, str(PROJECT / "main.py"), "status", "trio", "--state-dir",
                                    str(state_dir)], capture_output=True, text=True, timeout=60)
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.splitlines()[:3] == [
                "basket trio: killed, 3 symbols",
                f"  equity {basket.equity:,.2f}  cash {basket.cash:,.2f}  pnl {basket.pnl:+,.2f}  (capital 10,000.00)",
                "  open positions 0 (max 3)  kill switch TRIPPED (basket test)"]
            assert [line.split()[:3] for line in shown.stdout.splitlines()[4:]] == [
                [leg, symbol, "killed"] for leg, symbol in zip(LEGS, SYMBOLS)]
        finally:
            await client.aclose()
    finally:
        stop_daemon(daemon)

    again = start_daemon(folder, state_dir)
    try:
        client = await connected(state_dir / "botrunner.sock")
        try:
            for leg in LEGS:
                await wait_until_leg(client, leg, lambda s: s.state not in ("created", "starting"))
            for leg in LEGS:                        # every leg restored: the one cash balance is back
                status = await client.bot(leg)
                assert status.state == "killed" and status.kill_switch and status.position == 0
                assert status.kill_reason == "basket test" and status.risk_group["cash"] == pytest.approx(next(iter(cash)))
            await client.resume("trio")
            for leg in LEGS:
                await wait_until_leg(client, leg, lambda s: s.state == "running" and not s.kill_switch)
        finally:
            await client.aclose()
    finally:
        stop_daemon(again)


async def totals_count_the_basket_once(client) -> None:
    """With positions open: the legs' rows of one listing add up to the basket (each row's equity,
    pnl and cash its share), so the daily summary's total is the basket's equity, not three times it."""
    async with asyncio.timeout(60):
        while not (rows := await client.bots())[0].risk_group["open_positions"]:
            await asyncio.sleep(0.02)
    basket = rows[0].risk_group                        # the basket's figures, the same in every leg's row
    assert {r.basket for r in rows} == {"trio"}
    assert math.fsum(r.equity for r in rows) == pytest.approx(basket["equity"], rel=1e-9)
    assert math.fsum(r.cash for r in rows) == pytest.approx(basket["cash"], rel=1e-9)
    assert math.fsum(r.pnl for r in rows) == pytest.approx(basket["equity"] - CAPITAL, abs=1e-6)
    summary = daily_summary("host", 0, rows, {}).body.splitlines()[-1]
    assert summary.startswith(f"All 3 bot(s): equity {basket['equity']:,.2f}, PnL {basket['equity'] - CAPITAL:+,.2f}")


async def wait_until_leg(client, leg: str, condition):
    async with asyncio.timeout(60):
        while not condition(status := await client.bot(leg)):
            await asyncio.sleep(0.05)
    return status
