"""The composition root: one function wires a bot of any mode from its config."""

from __future__ import annotations

import pytest

from execution.exchange import ExchangeAccounts
from execution.live import LiveExecution
from execution.order_ids import order_id_prefix
from execution.paper import PaperExecution
from execution.sim import SimExecution
from market.replay import ReplayProvider
from market.synthetic import generate_candles
from runner.assembly.compose import compose_runner, sim_runner
from runner.bot.strategy_runner import RunnerState
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal

EXCHANGE = {"id": "binance", "base_url": "http://127.0.0.1:9", "api_key_env": "BR_K", "secret_env": "BR_S"}


def config(mode: str = "sim", **extra) -> BotConfig:
    fields = {"id": f"{mode}-bot", "mode": mode, "symbol": "BTC/USDT", "timeframe": "1m", "capital": 1_000,
              "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}}, "risk": {"stake_pct": 0.5}}
    if mode != "sim":
        fields["exchange"] = EXCHANGE
    return BotConfig.model_validate(fields | extra)


@pytest.fixture
async def accounts():
    registry = ExchangeAccounts(environ={"BR_K": "k", "BR_S": "s"})
    yield registry
    await registry.aclose()


async def test_a_sim_bot_trades_with_order_ids_made_by_the_one_rule():
    journal = MemoryJournal()
    runner = sim_runner(config(), generate_candles(seed=3, count=400), journal=journal)

    assert isinstance(runner.execution, SimExecution)
    assert await runner.run() is RunnerState.FINISHED
    ids = [e.data["order_id"] for e in journal.of_kind("order")]
    assert ids and ids == [f"{order_id_prefix('sim-bot')}{n}" for n in range(1, len(ids) + 1)]


async def test_paper_and_live_bots_get_their_exchange_engines(accounts):
    for mode, engine in (("paper", PaperExecution), ("live", LiveExecution)):
        bot = config(mode)
        runner = compose_runner(bot, ReplayProvider("BTC/USDT", "1m", []), account=accounts.get(bot.exchange))
        assert isinstance(runner.execution, engine)
        assert runner.order_id_prefix == order_id_prefix(bot.id)


async def test_live_safe_mode_scales_every_entry_down(accounts):
    bot = config("live", safe_mode={"size_multiplier": 0.1})
    runner = compose_runner(bot, ReplayProvider("BTC/USDT", "1m", []), account=accounts.get(bot.exchange))

    assert runner.risk.sizing.entry_amount(1_000.0) == pytest.approx(1_000.0 * 0.5 * 0.1)


def test_a_paper_or_live_bot_without_its_account_is_refused():
    with pytest.raises(ValueError, match="needs its exchange account"):
        compose_runner(config("paper"), ReplayProvider("BTC/USDT", "1m", []))


def test_a_model_time_out_that_does_not_fit_inside_the_candle_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must fit inside the 1s candle"):
        config(timeframe="1s", model={"url": "http://127.0.0.1:8780/forecast", "timeout_secs": 2})
    assert config(timeframe="1m", model={"url": "http://127.0.0.1:8780/forecast", "timeout_secs": 2}).model
