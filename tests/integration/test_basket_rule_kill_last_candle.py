"""A sim basket whose risk rule trips on its legs' last candle: the legs that read that candle
before the tripping leg are killed there too, in the backtest as in the daemon.

Both legs hold a position from their second candle; ETH falls by half on the last one, and the
basket's drawdown rule trips on ETH's candle, BTC's of the same time stepped already (BTC comes
first in the basket's list). Every leg closes as of that close (`runner.bot.kill_flow`): the
flatten is a market order for the next open, and with no candle left each leg ends killed with its
flatten owed (`flatten_pending`, retried when it starts again). Before, the backtest left BTC to
close at its next candle, which never came: BTC ended `finished` with its position, where the
daemon killed it at once.
"""

from __future__ import annotations

from pathlib import Path

from runner.basket.backtest import run_basket_backtest
from runner.config.basket import load_bot_or_basket
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_LONG
from tests.integration.manager_runs import run_until_killed

CANDLES = 30
START_MS = 1_704_067_200_000          # 2024-01-01T00:00:00Z
LEGS = ("fall.btc-usdt", "fall.eth-usdt")


@register
class HoldsLong(Strategy):
    """Enters at the first candle and never exits."""

    name = "test_holds_long"

    def generate_signal(self, market_data):
        return GO_LONG


def candle_file(folder: Path, name: str, last_close: float) -> Path:
    """1m candles at 100, the last one closing at `last_close`."""
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(CANDLES):
        close = last_close if i == CANDLES - 1 else 100.0
        lines.append(f"{START_MS + i * 60_000},100,100,{min(close, 100.0)},{close},10")
    path = folder / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def basket_file(folder: Path) -> Path:
    path = folder / "fall.yaml"
    path.write_text(f"""\
id: fall
symbols: [BTC/USDT, ETH/USDT]
stake_amount: 2000
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 1, bars: {CANDLES}}}
markets:
  BTC/USDT: {{source: csv, path: {candle_file(folder, "btc", 100.0)}}}
  ETH/USDT: {{source: csv, path: {candle_file(folder, "eth", 50.0)}}}
strategy: {{name: test_holds_long}}
risk: {{max_drawdown_pct: 0.05}}
speed: null
""")
    return path


async def test_a_rule_tripping_on_the_last_candle_kills_the_legs_that_stepped_it_before_in_backtest_and_daemon(
        tmp_path):
    basket = load_bot_or_basket(basket_file(tmp_path))
    expected = await run_basket_backtest(basket)
    kills = [(e.bot_id, e.data["bars"], e.data["source"]) for e in expected.journal.events if e.kind == "kill"]
    assert kills == [(LEGS[1], CANDLES, "rule"), (LEGS[0], CANDLES, "basket")]
    legs = {leg["bot"]: leg for leg in expected.legs.values()}
    assert [(legs[leg]["state"], legs[leg]["bars"]) for leg in LEGS] == [("killed", CANDLES)] * 2
    assert all(legs[leg]["position"] > 0 for leg in LEGS)          # owed: no candle left to fill the flatten

    async with run_until_killed(basket.legs(), tmp_path, LEGS) as (manager, services):
        cash = services.risk_groups.baskets.group("fall").ledger.cash

    for leg in LEGS:
        status = manager.status(leg)
        assert (status.bars, status.fills, status.position, status.flatten_pending) == (
            legs[leg]["bars"], legs[leg]["fills"], legs[leg]["position"], True), leg
    assert cash == expected.cash
