"""A backtest of a strategy that enters with limit orders and has protective exits: each filled
limit entry gets its stop-loss, take-profit and trailing stop, priced off its fill, from the
candle after the one it filled in (`execution.sim`). Before, sim armed none for a limit entry:
every position was held until the strategy's own exit, whatever the candles did."""

from __future__ import annotations

import pytest

from execution.order_ids import protected_entry
from runner.backtest.run import load_bot_candles, run_backtest
from runner.basket.backtest import run_basket_backtest
from runner.config.basket import load_bot_or_basket
from runner.config.bot import BotConfig

STOP_LOSS, TAKE_PROFIT, TRAILING = 0.005, 0.006, 0.006


@pytest.fixture
def config() -> BotConfig:
    return BotConfig.model_validate({
        "id": "rsi-limit", "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": 3, "bars": 3_000},
        "strategy": {"name": "rsi_reversion", "params": {"entry": "limit", "limit_offset_pct": 0.002,
                                                        "expire_after": 3}},
        "risk": {"stake_pct": 0.5, "stop_loss_pct": STOP_LOSS, "take_profit_pct": TAKE_PROFIT,
                 "trailing_stop_pct": TRAILING}})


async def test_every_limit_entry_is_closed_by_its_stop_take_profit_or_trailing_stop_once_a_candle_reaches_it(config):
    result = await run_backtest(config)
    candles = load_bot_candles(config)
    assert len(result.trades) > 10
    assert {t.exit_reason for t in result.trades} == {"stop_loss", "take_profit", "trailing_stop"}
    for trade in result.trades:
        stop, target = trade.entry_price * (1 - STOP_LOSS), trade.entry_price * (1 + TAKE_PROFIT)
        held = [c for c in candles if trade.entry_ts_ms < c.ts_ms < trade.exit_ts_ms]
        # Between the fill's candle and the exit's, no candle reached the stop or the target.
        assert all(c.low > stop and c.high < target for c in held), trade
        exit_candle = next(c for c in candles if c.ts_ms == trade.exit_ts_ms)
        if trade.exit_reason == "stop_loss":
            assert trade.exit_price == pytest.approx(min(stop, exit_candle.open))     # at the stop, or a gap's open
        elif trade.exit_reason == "take_profit":
            assert trade.exit_price == pytest.approx(max(target, exit_candle.open))
        else:                                   # at its level, trailed up past the fixed stop's
            assert trade.exit_price <= exit_candle.open
            assert trade.exit_price >= stop or trade.exit_price == exit_candle.open


BASKET = f"""\
id: dips
symbols: [BTC/USDT, ETH/USDT, SOL/USDT]
max_open_positions: 2
stake_fraction: 0.45
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 3, bars: 3000}}
strategy: {{name: rsi_reversion, params: {{entry: limit, limit_offset_pct: 0.002, expire_after: 3}}}}
risk: {{stop_loss_pct: {STOP_LOSS}, take_profit_pct: {TAKE_PROFIT}, trailing_stop_pct: {TRAILING}}}
execution: {{fee_rate: 0.001}}
"""


async def test_a_baskets_legs_close_their_limit_entries_by_their_protective_exits(tmp_path):
    path = tmp_path / "dips.yaml"
    path.write_text(BASKET)
    basket = await run_basket_backtest(load_bot_or_basket(path))
    assert {t.exit_reason for t in basket.result.trades} == {"stop_loss", "take_profit", "trailing_stop"}
    orders = {e.key: e.data for e in basket.journal.of_kind("order")}
    exits = [f.data for f in basket.journal.of_kind("fill") if protected_entry(f.key) is not None]
    assert len(exits) == len(basket.result.trades)
    assert {orders[protected_entry(f["order_id"])]["type"] for f in exits} == {"limit"}
