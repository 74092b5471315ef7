"""A basket whose entries are sized on its shared cash (`stake_fraction`, or a `stake_amount` the
cash left caps), in a real daemon process SIGKILLed while a leg has an order journalled past its
snapshot: the restart comes back and finishes, each leg's orders the ones journalled (made once,
none added), its flow the sum of its journalled fills, and one cash balance, capital plus those
flows. Before, the leg re-running that order sized it on the basket as the other legs' snapshots
left it, and the journal refused it (JournalConflict): the leg stayed down."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.daemon_process import start_daemon
from tests.trio_basket import CAPITAL, LEGS, trio_basket

BARS = 1_500
STAKES = {
    "stake_fraction": "stake_fraction: 0.3",
    # Entries of 6,000 on 10,000: a second one at once gets what the first left (capped by the cash).
    "cash_capped_stake_amount": "stake_amount: 6000",
}
def write_config(folder: Path, stake: str, speed: float | None) -> None:
    (folder / "bots").mkdir(parents=True, exist_ok=True)
    (folder / "daemon.yaml").write_text("snapshot_interval_secs: 0.1\nstop_grace_secs: 5\n")
    (folder / "bots" / "trio.yaml").write_text(trio_basket(bars=BARS, speed=speed, stake=stake))


def snapshot(state_dir: Path, leg: str) -> dict | None:
    try:
        return json.loads((state_dir / "bots" / f"{leg}.json").read_text())["state"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def journal_rows(state_dir: Path, leg: str, kind: str) -> list[tuple[int, int, dict]]:
    """(seq, bar, data) of `leg`'s `kind` events, as committed."""
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return [(seq, bar, json.loads(data)) for seq, bar, data in db.execute(
                "SELECT seq, bar, data FROM events WHERE bot_id = ? AND kind = ? ORDER BY seq", (leg, kind))]
    except sqlite3.OperationalError:
        return []


def legs_with_orders_past_snapshot(state_dir: Path) -> dict[str, int]:
    """Leg -> the orders the journal holds past its snapshot (what its restart re-runs): those of a
    higher sequence than the snapshot's last (a snapshot's journal_seq is the journal's end even
    while its leg re-runs candles it journalled)."""
    behind = {}
    for leg in LEGS:
        state = snapshot(state_dir, leg)
        after = state["order_seq"] if state else 0
        orders = journal_rows(state_dir, leg, "order")
        if count := sum(1 for _, _, data in orders if int(data["order_id"].rsplit("-", 1)[1]) > after):
            behind[leg] = count
    return behind


def trading(state_dir: Path, *, every: int, one: int) -> bool:
    """Every leg has journalled `every` orders, one of them `one`."""
    counts = [len(journal_rows(state_dir, leg, "order")) for leg in LEGS]
    return min(counts) >= every and max(counts) >= one


def failures(state_dir: Path) -> dict[str, str]:
    """Leg -> why, of the legs the daemon gave up on (a journal conflict stops a leg for good)."""
    return {leg: data["detail"] for leg in LEGS for _, _, data in journal_rows(state_dir, leg, "lifecycle")
            if data.get("stays_down")}


async def wait_until(condition, timeout: float = 120.0) -> None:
    """Poll `condition`; the bound counts a daemon's start."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def killed_when(folder: Path, state_dir: Path, condition) -> None:
    """Start the daemon, SIGKILL it once `condition()` holds."""
    daemon = start_daemon(folder, state_dir)
    try:
        await wait_until(lambda: daemon.poll() is not None or failures(state_dir) or condition())
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    finally:
        daemon.kill()
        _, err = daemon.communicate()
    assert daemon.returncode == -signal.SIGKILL, f"the daemon ended by itself: {err[-3000:]}"
    assert not failures(state_dir), failures(state_dir)


@pytest.mark.parametrize("stake", STAKES.values(), ids=STAKES.keys())
async def test_a_basket_sized_on_its_shared_cash_comes_back_from_a_sigkill_with_its_journalled_orders(sock_dir, stake):
    folder, state_dir = sock_dir / "config", sock_dir / "state"
    # 20 candles a second a leg, each leg's feed paced alike: legs that start a run at different
    # candles stay that far apart.
    write_config(folder, stake, speed=1200)
    await killed_when(folder, state_dir, lambda: trading(state_dir, every=1, one=3))
    # The leg that traded most loses its snapshot (damaged on disk: moved aside at the restart),
    # so it is rebuilt from its journal, from the first candle, while the others go on from
    # theirs: from here on the legs are at different candles.
    rebuilt = max(LEGS, key=lambda leg: len(journal_rows(state_dir, leg, "order")))
    (state_dir / "bots" / f"{rebuilt}.json").write_text('{"state": ')
    await killed_when(folder, state_dir, lambda: snapshot(state_dir, rebuilt) is not None   # its new one
                      and rebuilt in legs_with_orders_past_snapshot(state_dir)
                      and len({(snapshot(state_dir, leg) or {"bars": 0})["bars"] for leg in LEGS}) > 1)
    bars = {leg: (snapshot(state_dir, leg) or {"bars": 0})["bars"] for leg in LEGS}
    assert len(set(bars.values())) > 1 and legs_with_orders_past_snapshot(state_dir), bars

    write_config(folder, stake, speed=None)    # the rest of the data at full speed
    final = start_daemon(folder, state_dir)
    _, err = final.communicate(timeout=240)
    assert final.returncode == 0, err[-3000:]
    assert "JournalConflict" not in err and "journal already holds" not in err
    flows = []
    for leg in LEGS:
        state = snapshot(state_dir, leg)
        assert (state["state"], state["bars"]) == ("finished", BARS), f"{leg}: {state['last_error']}"
        orders = journal_rows(state_dir, leg, "order")
        fills = [data for _, _, data in journal_rows(state_dir, leg, "fill")]
        # The re-run made each journalled order again (the journal keeps one per id) and no other.
        assert state["counters"]["orders"] == len(orders) and state["order_seq"] == len(orders)
        assert state["portfolio"]["fill_count"] == len(fills), f"{leg}: a fill lost or doubled"
        flow = -math.fsum((f["quantity"] if f["side"] == "buy" else -f["quantity"]) * f["price"] + f["fee"]
                          for f in fills)
        assert state["portfolio"]["flow"] == pytest.approx(flow, rel=1e-9, abs=1e-6)
        flows.append(flow)
    # One cash balance: every leg's snapshot holds the basket's cash as it was when it finished,
    # and the leg that finished last holds it whole.
    cash = CAPITAL + math.fsum(flows)
    assert any(snapshot(state_dir, leg)["portfolio"]["cash"] == pytest.approx(cash, rel=1e-9) for leg in LEGS)
