"""A paper bot whose candles are made from the stand-in's trades (`exchange: {candles_from:
trades}`) sees the same candles as one on its klines, under the BotManager, through real ccxt,
on the stand-in's fast-forward clock."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.tapes import wavy_candles
from market.models import Candle
from runner.config.bot import BotConfig
from runner.control.metrics import render_prometheus
from runner.control.status import BotStatus
from strategies.base import Strategy, StrategyParams
from strategies.registry import register
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import T0_MS, MIN, bot, services_for, until

CANDLES = 20


class _Label(StrategyParams):
    label: str


@register
class RecordsCandles(Strategy):
    """Keeps every candle it is shown, under its `label`, and never trades."""

    name = "test_records_candles"
    Params = _Label
    seen: ClassVar[dict[str, list[Candle]]] = {}

    def generate_signal(self, market_data):
        self.seen.setdefault(self.params.label, []).append(market_data.candle)
        return None


def recording_bot(base_url: str, label: str, **exchange) -> BotConfig:
    config = bot(f"rec-{label}", "paper", base_url, exchange_extra=exchange)
    return config.model_copy(update={"strategy": config.strategy.model_copy(
        update={"name": "test_records_candles", "params": {"label": label}})})


async def candles_seen(tmp_path, label: str, *, publish_delay_ms: int = 0,
                       **exchange) -> tuple[list[Candle], BotStatus]:
    """The candles a paper bot saw on a fresh stand-in, and its status after the last of them."""
    async with BinanceStandIn(wavy_candles(400), balances={"USDT": 10_000}, start_ms=T0_MS + 60 * MIN) as standin:
        standin.api.market_trades.publish_delay_ms = publish_delay_ms
        async with ManagerRun([recording_bot(standin.base_url, label, **exchange)],
                              services_for(tmp_path / label, FastForwardClock(standin))) as run:
            await until(lambda: len(RecordsCandles.seen.get(label, [])) >= CANDLES)
            status = run.manager.status(f"rec-{label}")
        return RecordsCandles.seen.pop(label), status


async def test_a_paper_bot_fed_by_trades_sees_the_candles_a_klines_bot_sees(tmp_path):
    (tmp_path / "klines").mkdir()
    (tmp_path / "trades").mkdir()
    on_klines, klines_status = await candles_seen(tmp_path, "klines")
    on_trades, trades_status = await candles_seen(tmp_path, "trades", candles_from="trades", trade_poll_secs=30)

    start = T0_MS + 60 * MIN                   # the clock's first candle: no warm-up for this strategy
    assert on_trades[0].ts_ms == on_klines[0].ts_ms == start
    common = min(len(on_trades), len(on_klines))
    assert common >= CANDLES and on_trades[:common] == on_klines[:common]
    assert [c.ts_ms for c in on_trades] == [start + k * MIN for k in range(len(on_trades))]
    assert trades_status.late_trades == {"trades": 0, "volume": 0.0} and klines_status.late_trades is None


async def test_late_trades_of_a_paper_bot_show_in_its_status_and_metrics(tmp_path):
    (tmp_path / "late").mkdir()
    # The exchange publishes each trade 20 s late, and the bot waits 2 s past each close: every
    # candle's closing trade (at :45) comes after the candle is out.
    seen, status = await candles_seen(tmp_path, "late", publish_delay_ms=20_000, candles_from="trades",
                                      trade_poll_secs=30, trade_grace_secs=2)

    closes = {row[0]: row[4] for row in wavy_candles(400)}
    assert all(c.close != pytest.approx(closes[c.ts_ms], abs=1e-6) for c in seen[1:])   # built without it
    assert status.late_trades["trades"] >= CANDLES - 1 and status.late_trades["volume"] == pytest.approx(
        1.25 * status.late_trades["trades"])
    metrics = render_prometheus([status])
    assert f'botrunner_late_trades_total{{bot="rec-late"}} {status.late_trades["trades"]}' in metrics


def test_trade_settings_without_candles_from_trades_are_refused():
    with pytest.raises(ValidationError, match="trade_grace_secs and trade_poll_secs apply to candles made from "
                                              "trades: add candles_from: trades"):
        bot("b", "paper", "http://127.0.0.1:1", exchange_extra={"trade_grace_secs": 5})
    with pytest.raises(ValidationError, match="candles_from"):
        bot("b", "paper", "http://127.0.0.1:1", exchange_extra={"candles_from": "ticks"})


def test_a_sim_bot_asking_for_candles_from_trades_is_told_to_use_a_tick_file():
    with pytest.raises(ValidationError, match=r"a sim bot reads its market block, not the exchange: remove "
                                              r"exchange.candles_from \(for trades in a backtest: market: \{source: ticks"):
        BotConfig.model_validate({"id": "s", "symbol": "BTC/USDT", "capital": 100, "strategy": {"name": "sma_cross"},
                                  "exchange": {"id": "binance", "candles_from": "trades"}})
