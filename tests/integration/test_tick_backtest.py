"""A backtest on ticks aggregated to 1m gives the same trades as on the equivalent 1m candle file."""

from __future__ import annotations

from pathlib import Path

import yaml

from market.files import load_candles
from market.synthetic import generate_candles
from runner.backtest.run import run_backtest
from runner.config.bot import load_bot_config
from tests.daemon_process import botrunner
from tests.unit.market.tick_files import write_tick_file

MINUTE = 60_000


def write_candle_file(path: Path, candles) -> Path:
    rows = [f"{c.ts_ms},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}" for c in candles]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def bot_file(folder: Path, name: str, market: dict, **risk) -> Path:
    config = {"id": name, "symbol": "BTC/USDT", "timeframe": "1m", "capital": 10_000, "market": market,
              "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
              "risk": {"stake_pct": 0.9, **risk}, "execution": {"fee_rate": 0.001, "slippage_bps": 2}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def backtest_both(tmp_path: Path, candles, **risk):
    candle_path = write_candle_file(tmp_path / "candles.csv", candles)
    tick_path = write_tick_file(tmp_path / "ticks.csv", candles, MINUTE, iso=True)
    on_candles = await run_backtest(load_bot_config(bot_file(tmp_path, "on-candles", {"source": "csv",
                                                                                    "path": str(candle_path)}, **risk)))
    on_ticks = await run_backtest(load_bot_config(bot_file(tmp_path, "on-ticks", {"source": "ticks",
                                                                                 "path": str(tick_path)}, **risk)))
    return on_candles, on_ticks


async def test_a_backtest_on_ticks_trades_as_one_on_the_candles_they_make(tmp_path):
    candles = generate_candles(count=3_000, seed=11, start_ms=1_704_067_200_000, start_price=30_000)

    on_candles, on_ticks = await backtest_both(tmp_path, candles, stop_loss_pct=0.004, take_profit_pct=0.006)

    assert len(on_candles.trades) > 20
    assert on_ticks.trades == on_candles.trades
    assert on_ticks.final_equity == on_candles.final_equity and on_ticks.bars == on_candles.bars


async def test_ticks_of_a_real_month_of_1m_candles_give_its_candles_and_its_trades(tmp_path, shared_data):
    candles = load_candles(shared_data / "BTC_USD-1m-2022-01.csv", timeframe="1m").candles[:10_000]

    on_candles, on_ticks = await backtest_both(tmp_path, candles)

    assert len(on_candles.trades) > 50
    assert on_ticks.trades == on_candles.trades and on_ticks.equity_curve == on_candles.equity_curve


def test_backtest_takes_a_tick_file_as_its_data_and_names_a_bad_one(tmp_path):
    candles = generate_candles(count=300, seed=5, start_ms=1_704_067_200_000, start_price=30_000)
    ticks = write_tick_file(tmp_path / "ticks.csv", candles, MINUTE)
    config = bot_file(tmp_path, "bot", {"source": "synthetic"})
    broken = tmp_path / "broken.csv"
    broken.write_text("datetime,symbol,price,volume\n" + "".join(f"{1_704_067_200_000 + k},BTC/USDT,-1,1\n"
                                                                  for k in range(5)))

    ran = botrunner("backtest", str(config), "--data", str(ticks), "--json", cwd=tmp_path)
    refused = botrunner("backtest", str(config), "--data", str(broken), cwd=tmp_path)

    assert ran.returncode == 0, ran.stderr
    assert '"bars": 300' in ran.stdout
    assert refused.returncode == 2
    assert f"{broken}: all 5 trades of BTC/USDT were rejected (non_positive_price 5)" in refused.stderr


def test_validate_names_a_missing_tick_file_and_a_bad_source_key(tmp_path):
    missing = bot_file(tmp_path, "missing", {"source": "ticks", "path": str(tmp_path / "nope.csv")})
    typo = bot_file(tmp_path, "typo", {"source": "ticks", "path": "x.csv", "symbl": "XBTUSD"})

    result = botrunner("validate", str(missing), str(typo), cwd=tmp_path)

    said = result.stdout + result.stderr
    assert result.returncode == 2
    assert f"bot missing: market.path: no such file {tmp_path / 'nope.csv'}" in said
    assert "typo.yaml: market.symbl: unknown field; allowed: end, path, source, start, symbol" in said


async def test_the_daemon_runs_a_sim_bot_on_a_tick_file_to_the_backtests_result(tmp_path):
    candles = generate_candles(count=600, seed=5, start_ms=1_704_067_200_000, start_price=30_000)
    ticks = write_tick_file(tmp_path / "ticks.csv", candles, MINUTE)
    (tmp_path / "daemon" / "bots").mkdir(parents=True)
    config = bot_file(tmp_path / "daemon" / "bots", "tick-bot", {"source": "ticks", "path": str(ticks)})
    backtest = await run_backtest(load_bot_config(config))

    ran = botrunner("run", str(tmp_path / "daemon"), "--state-dir", str(tmp_path / "state"), cwd=tmp_path)

    assert ran.returncode == 0, ran.stderr
    [row] = [line.split() for line in ran.stdout.splitlines() if line.startswith("tick-bot")]
    assert row[1:4] == ["finished", "600", str(len(backtest.trades))] and len(backtest.trades) > 5
    assert f"{backtest.final_equity:,.2f}" == row[4]
