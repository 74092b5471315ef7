"""Basket backtests: one cash balance for every symbol, max_open_positions held, one kill for all."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from market.models import Candle
from runner.assembly.compose import compose_runner
from runner.backtest.portfolio import load_portfolio
from runner.backtest.run import load_bot_candles
from runner.basket.backtest import basket_legs, run_basket_backtest
from runner.basket.group import BasketGroup
from runner.basket.stepping import SteppedReplay, _timeline, step_legs
from runner.bot.errors import StrategyError
from runner.config.basket import load_bot_or_basket
from runner.config.bot import ConfigError
from runner.state.journal import MemoryJournal
from strategies.base import Strategy
from strategies.registry import register
from tests.daemon_process import botrunner
from tests.integration.test_backtest_imports import NOT_FOR_A_SIM_BACKTEST, backtest_modules

SYNTHETIC = """\
id: five
symbols: [BTC/USDT, ETH/USDT, SOL/USDT, XRP/USDT, ADA/USDT]
max_open_positions: 2
stake_fraction: 0.45
timeframe: 5m
capital: 10000
market: {{source: synthetic, seed: 9, bars: 3000}}
strategy: {{name: ema_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stop_loss_pct: 0.02{risk}}}
execution: {{fee_rate: 0.001}}
"""

REAL = """\
id: btc-quoted
symbols: [ETH/BTC, LTC/BTC, ADA/BTC]
max_open_positions: 2
stake_amount: 0.4
timeframe: 5m
capital: 1
markets:
  ETH/BTC: {{source: csv, path: {data}/ETH_BTC-5m.csv}}
  LTC/BTC: {{source: csv, path: {data}/LTC_BTC-5m.csv}}
  ADA/BTC: {{source: csv, path: {data}/ADA_BTC-5m.csv}}
strategy: {{name: ema_cross, params: {{fast: 8, slow: 34}}}}
risk: {{stop_loss_pct: 0.03}}
execution: {{fee_rate: 0.001}}
"""


def backtest(path: Path):
    return asyncio.run(run_basket_backtest(load_bot_or_basket(path)))


def replay_fills(result, capital: float) -> list[dict]:
    """Every fill of every leg in the order they were booked, checked against one cash balance
    and the open-position limit; returns them."""
    fills = [e for e in result.journal.events if e.kind == "fill"]
    cash, positions = capital, {}
    for event in fills:
        data = event.data
        signed = data["quantity"] if data["side"] == "buy" else -data["quantity"]
        cash -= signed * data["price"] + data["fee"]
        positions[data["symbol"]] = data["position"]
        # The cash after this fill is the basket's: what every leg's fills did so far, not this leg's.
        assert data["cash"] == pytest.approx(cash, rel=1e-9, abs=1e-9)
        assert data["cash"] > -1e-9
        assert sum(1 for q in positions.values() if q) <= result.max_open_positions
    return fills


def test_a_basket_shares_one_cash_balance_and_holds_max_open_positions(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(SYNTHETIC.format(risk=""))
    result = backtest(path)
    fills = replay_fills(result, 10_000)
    assert {e.data["symbol"] for e in fills} == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT"}
    assert result.refusals > 0 and sum(leg["refused"] for leg in result.legs.values()) == result.refusals
    assert all(leg["bars"] == 3000 for leg in result.legs.values()) and result.result.bars == 15_000
    # The basket's equity: the one cash plus every leg's position at its last price.
    summary = result.summary()
    realized = math.fsum(leg["realized_pnl"] for leg in result.legs.values())
    assert summary["fees"] == pytest.approx(math.fsum(leg["fees"] for leg in result.legs.values()))
    flat_equity = 10_000 + realized - summary["fees"]
    if any(leg["position"] for leg in result.legs.values()):
        assert summary["final_equity"] != pytest.approx(flat_equity)
    else:
        assert summary["final_equity"] == pytest.approx(flat_equity)


def test_one_kill_flattens_every_symbol_of_the_basket(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(SYNTHETIC.format(risk=", max_drawdown_pct: 0.03"))
    result = backtest(path)
    assert result.result.state == "killed" and result.result.stop_reason.startswith("drawdown 3.0")
    assert all(leg["state"] == "killed" and leg["position"] == 0 for leg in result.legs.values())
    kills = [e for e in result.journal.events if e.kind == "kill"]
    assert {e.bot_id for e in kills} == {leg["bot"] for leg in result.legs.values()}     # each leg journals it
    held_at_kill = {e.data["symbol"] for e in result.journal.events
                    if e.kind == "fill" and e.data["reason"] == "kill_switch"}
    assert held_at_kill                       # the legs holding a position sold it on the kill


def test_a_basket_over_three_real_candle_files(tmp_path, shared_data):
    path = tmp_path / "real.yaml"
    path.write_text(REAL.format(data=shared_data))
    result = backtest(path)
    fills = replay_fills(result, 1.0)
    assert {e.data["symbol"] for e in fills} == {"ETH/BTC", "LTC/BTC", "ADA/BTC"}
    bars = {symbol: leg["bars"] for symbol, leg in result.legs.items()}
    assert bars["ETH/BTC"] == bars["LTC/BTC"] > 5_000 and 5_000 < bars["ADA/BTC"] < bars["ETH/BTC"]   # ADA has gaps
    entries = [e for e in result.journal.events if e.kind == "order" and e.data["side"] == "buy"]
    assert entries and all(e.data["quote_amount"] <= 0.4 for e in entries)       # the stake per entry


def test_the_cli_backtests_a_basket_as_text_and_json(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(SYNTHETIC.format(risk="").replace("bars: 3000", "bars: 600"))
    text = botrunner("backtest", str(path))
    assert text.returncode == 0, text.stderr
    assert "five" in text.stdout and "max open positions 2" in text.stdout and "ADA/USDT" in text.stdout
    summary = json.loads(botrunner("backtest", str(path), "--json").stdout)
    assert summary["bot"] == "five" and set(summary["symbols"]) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT",
                                                                     "ADA/USDT"}
    assert summary["bars"] == 3_000 and summary["max_open_positions"] == 2
    wrong = botrunner("backtest", str(path), "--data", "x.csv")
    assert wrong.returncode == 2 and "--data: a basket reads a market per symbol" in wrong.stderr


def test_a_portfolio_backtest_of_a_folder_with_a_basket_says_to_backtest_the_basket_alone(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "five.yaml").write_text(SYNTHETIC.format(risk=""))
    with pytest.raises(ConfigError) as info:
        load_portfolio(tmp_path)
    assert info.value.problems == [f"{tmp_path / 'bots'}: basket five: a portfolio backtest does not take baskets yet; "
                                   "backtest a basket's file on its own (botrunner backtest FILE), or set enabled: false"]


def test_a_basket_backtest_imports_no_exchange_client_http_stack_or_pandas():
    summary, modules = backtest_modules("configs/bots/synthetic-basket.yaml", "--to", "2024-01-03")
    assert summary["bot"] == "synthetic-basket" and len(summary["symbols"]) == 5
    assert not modules & NOT_FOR_A_SIM_BACKTEST


@register
class RaisesOnEth(Strategy):
    """Fails on ETH/USDT's 40th candle: a strategy bug in one leg of a basket."""

    name = "test_raises_on_eth"

    def generate_signal(self, market_data):
        if market_data.symbol == "ETH/USDT" and len(market_data.history()) == 40:
            raise ZeroDivisionError("a bug")
        return None


async def test_a_leg_whose_strategy_raises_fails_as_a_bot_does_and_ends_the_backtest(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(SYNTHETIC.format(risk="").replace("ema_cross, params: {fast: 5, slow: 20}", "test_raises_on_eth"))
    legs = basket_legs(load_bot_or_basket(path))
    journal, group = MemoryJournal(), BasketGroup(legs[0].basket, legs[0].capital)
    feeds = [SteppedReplay(leg.symbol, leg.timeframe, load_bot_candles(leg)) for leg in legs]
    runners = [compose_runner(leg, feed, journal=journal, risk_group=group) for leg, feed in zip(legs, feeds)]
    with pytest.raises(StrategyError, match="test_raises_on_eth.*ZeroDivisionError: a bug"):
        await step_legs(runners, feeds)
    eth = runners[1]
    assert eth.state.value == "failed" and eth.bars == 40          # it failed on its 40th candle
    failed = [e for e in journal.events if e.kind == "lifecycle" and e.data["state"] == "failed"]
    assert [e.bot_id for e in failed] == [eth.bot_id]          # its run() recorded it, as a bot's does
    assert runners[0].bars == 40 and runners[2].bars == 39     # BTC took candle 40 before ETH; SOL never did


def test_legs_step_in_open_time_order_and_basket_order_on_a_tie_with_or_without_gaps():
    def candles(*minutes):
        return [Candle(m * 60_000, 1.0, 1.0, 1.0, 1.0, 1.0) for m in minutes]

    aligned = [SteppedReplay("A/USDT", "1m", candles(0, 1, 2)), SteppedReplay("B/USDT", "1m", candles(0, 1, 2))]
    assert [(p, c.ts_ms // 60_000) for p, c in _timeline(aligned)] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    gap = [SteppedReplay("A/USDT", "1m", candles(0, 2, 3)), SteppedReplay("B/USDT", "1m", candles(0, 1, 2))]
    assert [(p, c.ts_ms // 60_000) for p, c in _timeline(gap)] == [(0, 0), (1, 0), (1, 1), (0, 2), (1, 2), (0, 3)]
