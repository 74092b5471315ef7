"""The daemon as a process: SIGTERM exits cleanly, SIGKILL loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path


from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import load_bot_config
from tests.daemon_process import start_daemon

BARS = 4_000
SEEDS = (21, 22, 23)

BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: {seed}, bars: {bars}, start_price: 25000}}
strategy: {{name: {strategy}, params: {params}}}
risk: {{stake_pct: 0.9, stop_loss_pct: 0.01}}
speed: {speed}
"""


def write_config_dir(root: Path, speed: float | str) -> Path:
    config_dir = root / "config"
    (config_dir / "bots").mkdir(parents=True, exist_ok=True)
    (config_dir / "daemon.yaml").write_text("snapshot_interval_secs: 0.1\nstop_grace_secs: 5\n")
    for i, seed in enumerate(SEEDS):
        strategy, params = [("sma_cross", "{fast: 5, slow: 20}"), ("ema_cross", "{fast: 5, slow: 20}"),
                            ("rsi_reversion", "{period: 10}")][i]
        (config_dir / "bots" / f"bot-{i}.yaml").write_text(
            BOT.format(id=f"bot-{i}", seed=seed, bars=BARS, strategy=strategy, params=params, speed=speed))
    return config_dir


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def snapshot_state(state_dir: Path, bot_id: str) -> dict:
    return json.loads((state_dir / "bots" / f"{bot_id}.json").read_text())["state"]


def uninterrupted(config_dir: Path, bot_id: str, bars: int | None = None) -> dict:
    """The bot run in-process without interruption over its first `bars` candles."""
    config = load_bot_config(config_dir / "bots" / f"{bot_id}.yaml")
    candles = generate_candles(count=BARS, seed=config.market.seed, start_price=25_000, timeframe="1m")
    runner = sim_runner(config, candles[:bars])
    asyncio.run(runner.run())
    return runner.snapshot()


def assert_same_ledger(got: dict, expected: dict) -> None:
    portfolio, want = got["portfolio"], expected["portfolio"]
    for field in ("cash", "quantity", "realized_pnl", "fees_paid", "fill_count"):
        assert portfolio[field] == want[field], field
    assert portfolio["trade_count"] == want["trade_count"]
    assert got["order_seq"] == expected["order_seq"]


def test_sigterm_stops_every_bot_writes_snapshots_and_exits_0(tmp_path):
    config_dir = write_config_dir(tmp_path, speed=6_000)       # 100 candles/s: a 40 s run
    state_dir = tmp_path / "state"
    daemon = start_daemon(config_dir, state_dir)
    try:
        wait_for(lambda: all((state_dir / "bots" / f"bot-{i}.json").exists() for i in range(3)))
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=20)
    finally:
        daemon.kill()
    assert daemon.returncode == 0, err
    assert "SIGTERM received" in err
    for i in range(3):
        state = snapshot_state(state_dir, f"bot-{i}")
        assert state["state"] == "stopped" and 0 < state["bars"] < BARS
        assert_same_ledger(state, uninterrupted(config_dir, f"bot-{i}", state["bars"]))
    assert "bot-0" in out                                       # the exit summary


def journal_fills(state_dir: Path) -> dict[str, int]:
    """Fills committed to the journal so far, by bot (none before the daemon creates it)."""
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT bot_id, COUNT(*) FROM events WHERE kind = 'fill' GROUP BY bot_id").fetchall()
    except sqlite3.OperationalError:          # created but no table yet
        return {}
    return dict(rows)


def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path):
    seed = int(os.environ.get("BOTRUNNER_KILL_SEED", random.randrange(1 << 30)))
    try:
        kill_and_restart(tmp_path, seed)
    except BaseException as exc:
        exc.add_note(f"kill points drawn with seed {seed}; rerun them with BOTRUNNER_KILL_SEED={seed}")
        raise


def kill_and_restart(tmp_path: Path, seed: int) -> None:
    """Kill -9 four times, each after a random number of new fills reach the journal (so each kill
    lands mid-run, wherever the process is in its start-up), then let a fifth run finish."""
    rng = random.Random(seed)
    config_dir = write_config_dir(tmp_path, speed=120_000)     # 2,000 candles/s: about 2 s a run
    state_dir = tmp_path / "state"
    bot_ids = [f"bot-{i}" for i in range(3)]
    expected = {bot_id: uninterrupted(config_dir, bot_id) for bot_id in bot_ids}
    total_fills = sum(e["portfolio"]["fill_count"] for e in expected.values())
    kills = 4
    step = total_fills * 3 // 4 // kills                        # kills spread over the first 3/4 of the fills
    assert step >= 10, "the bots should trade enough to be killed between fills"
    checked_mid_run: set[str] = set()
    for attempt in range(kills):
        before = sum(journal_fills(state_dir).values())
        target = before + rng.randint(1, step)
        daemon = start_daemon(config_dir, state_dir)
        try:
            wait_for(lambda: sum(journal_fills(state_dir).values()) >= target or daemon.poll() is not None)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
        finally:
            daemon.kill()
            daemon.stdout.close()
            daemon.stderr.close()
        at_kill = sum(journal_fills(state_dir).values())
        # The kill landed mid-run: the daemon was still running, with fills left to make.
        assert daemon.returncode == -signal.SIGKILL, f"attempt {attempt}: the daemon exited by itself"
        assert target <= at_kill < total_fills, f"attempt {attempt}: {at_kill} fills of {total_fills} at the kill"
        for bot_id in bot_ids:
            if (state_dir / "bots" / f"{bot_id}.json").exists():
                # What survives a kill -9 is a state some uninterrupted run also had.
                state = snapshot_state(state_dir, bot_id)
                assert_same_ledger(state, uninterrupted(config_dir, bot_id, state["bars"]))
                if state["bars"] < BARS:
                    checked_mid_run.add(bot_id)
    assert checked_mid_run == set(bot_ids), "every bot's snapshot should have been checked after a kill mid-run"

    # The rest of the data at full speed: the pacing only let the kills land mid-run.
    write_config_dir(tmp_path, speed="null")
    final = start_daemon(config_dir, state_dir)
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, err[-3000:]
    with sqlite3.connect(state_dir / "journal.sqlite3") as db:
        for bot_id in bot_ids:
            state = snapshot_state(state_dir, bot_id)
            assert state["state"] == "finished" and state["bars"] == BARS
            assert_same_ledger(state, expected[bot_id])
            fills = db.execute("SELECT key FROM events WHERE bot_id = ? AND kind = 'fill' ORDER BY seq",
                               (bot_id,)).fetchall()
            assert len(fills) == expected[bot_id]["portfolio"]["fill_count"], "a fill lost or doubled"
            orders = db.execute("SELECT COUNT(*) FROM events WHERE bot_id = ? AND kind = 'order'", (bot_id,)).fetchone()
            assert orders[0] == expected[bot_id]["order_seq"], "an order lost or sent twice"
