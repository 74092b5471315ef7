"""`execution.stop_on_exchange`: for live bots with a fixed stop-loss only, refused otherwise with
the field named; the composition root then gives the bot the engine that rests it on the exchange,
journalling its stops where the runner journals its orders."""

from __future__ import annotations

import pytest

from execution.exchange import ExchangeAccounts
from execution.exchange_stop import ExchangeStopExecution
from market.replay import ReplayProvider
from runner.assembly.compose import compose_runner
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal
from tests.unit.runner.config_files import problems_of, write

LIVE = """\
id: btc-live
mode: live
symbol: BTC/USDT
capital: 1000
exchange: {id: binance, base_url: "http://127.0.0.1:9", api_key_env: BR_K, secret_env: BR_S}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


@pytest.mark.parametrize(("text", "expected"), [
    (LIVE.replace("mode: live", "mode: paper") + "risk: {stop_loss_pct: 0.02}\n",
     "execution.stop_on_exchange: a paper bot sends no orders"),
    (LIVE.replace("mode: live\n", "").replace("exchange: {id: binance, base_url: \"http://127.0.0.1:9\", "
                                              "api_key_env: BR_K, secret_env: BR_S}\n", "")
     + "market: {source: synthetic}\nrisk: {stop_loss_pct: 0.02}\n", "execution.stop_on_exchange: a sim bot"),
    (LIVE, "execution.stop_on_exchange: rests the fixed stop-loss on the exchange, and risk.stop_loss_pct is not set"),
])
def test_a_stop_on_the_exchange_is_refused_without_a_live_bot_and_its_stop_loss(tmp_path, text, expected):
    path = write(tmp_path, text + "execution: {stop_on_exchange: true}\n")
    problems = problems_of(path)
    assert any(p.startswith(f"{path}: ") and expected in p for p in problems), problems


def test_the_limit_offset_says_its_range(tmp_path):
    path = write(tmp_path, LIVE + "risk: {stop_loss_pct: 0.02}\nexecution: {stop_on_exchange: true, "
                                  "stop_limit_offset_pct: 0.7}\n")
    assert problems_of(path) == [f"{path}: execution.stop_limit_offset_pct: must be > 0 and < 0.5, got 0.7"]


async def test_a_live_bot_with_its_stop_on_the_exchange_gets_the_engine_that_rests_it_there():
    # Its wiring to the runner's journal is checked on the stand-in (test_exchange_stop_gap_live).
    config = BotConfig.model_validate({
        "id": "btc-live", "mode": "live", "symbol": "BTC/USDT", "capital": 1_000,
        "exchange": {"id": "binance", "base_url": "http://127.0.0.1:9", "api_key_env": "BR_K", "secret_env": "BR_S"},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stop_loss_pct": 0.02}, "execution": {"stop_on_exchange": True}})
    accounts = ExchangeAccounts(environ={"BR_K": "k", "BR_S": "s"})
    try:
        runner = compose_runner(config, ReplayProvider("BTC/USDT", "1m", []), account=accounts.get(config.exchange))
        assert isinstance(runner.execution, ExchangeStopExecution)
        assert isinstance(runner.journal, MemoryJournal)       # made for the engine's intents and the runner's alike
    finally:
        await accounts.aclose()
