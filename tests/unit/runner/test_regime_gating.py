"""Regime gating in the runner: entries only in the bot's regimes, exits always, blocks journalled,
the strategy told of each change, and one detector shared by the bots of a stream."""

import math

import numpy as np

from market.models import Candle
from market.regime import Regime
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.daemon.slots import BotSlot
from runner.regime.shared import RegimeHub
from runner.state.journal import BotJournal, MemoryJournal, SqliteJournal
from strategies.base import Strategy
from strategies.signal import GO_FLAT, GO_LONG

MIN = 60_000
SMALL_DETECTOR = {"window": 600, "min_window": 600, "refit_every": 300, "vol_window": 20, "apply_after": 3,
                  "states": 4}


def crafted_candles(seed: int = 5) -> list[Candle]:
    """Calm, rising, wild and falling stretches of 400 candles, twice over: drift and
    volatility per candle as (0, 0.001), (+0.0015, 0.001), (0, 0.005), (-0.0015, 0.001)."""
    rng = np.random.default_rng(seed)
    segments = [(0.0, 0.001), (0.0015, 0.001), (0.0, 0.005), (-0.0015, 0.001)] * 2
    returns = np.concatenate([drift + vol * rng.standard_normal(400) for drift, vol in segments])
    closes = 100.0 * np.exp(np.cumsum(returns))
    candles, previous = [], 100.0
    for i, close in enumerate(closes.tolist()):
        candles.append(Candle(i * MIN, previous, max(previous, close), min(previous, close), close, 1.0))
        previous = close
    return candles


class EntersEveryTenCandles(Strategy):
    """Wants in at every tenth candle and out five candles later; records what it was told."""

    name = "enters_every_ten"

    def __init__(self) -> None:
        super().__init__(Strategy.Params())
        self.regimes: dict[int, Regime] = {}
        self.changes: list[tuple[Regime, Regime, int]] = []

    def on_regime_change(self, previous, current, market_data):
        self.changes.append((previous, current, market_data.bar_index))

    def generate_signal(self, market_data):
        self.regimes[market_data.candle.ts_ms + MIN] = market_data.regime   # keyed by the decision's close
        i = market_data.bar_index
        return GO_LONG if i % 10 == 0 else GO_FLAT if i % 10 == 5 else None


def _config(bot_id: str = "gated", **changes) -> BotConfig:
    return BotConfig.model_validate({"id": bot_id, "symbol": "BTC/USD", "capital": 10_000,
                                     "strategy": {"name": "sma_cross"}, "risk": {"stake_pct": 0.5},
                                     "regime": SMALL_DETECTOR, **changes})


async def _run(config: BotConfig, candles, **options):
    strategy, journal = EntersEveryTenCandles(), MemoryJournal()
    runner = sim_runner(config, candles, strategy=strategy, journal=journal, **options)
    await runner.run()
    return runner, strategy, journal


async def test_a_bot_allowed_only_in_trending_up_enters_only_there_and_always_exits():
    runner, strategy, journal = await _run(_config(regimes=["trending_up"]), crafted_candles())

    buys = [e for e in journal.of_kind("order") if e.data["side"] == "buy"]
    sells = [e for e in journal.of_kind("order") if e.data["side"] == "sell"]
    assert buys and all(strategy.regimes[e.ts_ms] is Regime.TRENDING_UP for e in buys)
    assert any(strategy.regimes[e.ts_ms] is not Regime.TRENDING_UP for e in sells)   # exits are never held
    blocks = [e for e in journal.of_kind("risk") if e.data["rule"] == "regime"]
    assert blocks and all(e.data["verdict"] == "reject" for e in blocks)
    assert {e.data["inputs"]["regime"] for e in blocks} >= {"unknown", "volatile", "trending_down"}
    assert all(strategy.regimes[e.ts_ms].value == e.data["inputs"]["regime"] for e in blocks)
    assert runner.risk_blocks["regime"] == len(blocks)


async def test_without_regimes_the_same_bot_enters_in_every_regime():
    _, strategy, journal = await _run(_config(), crafted_candles())
    entered_in = {strategy.regimes[e.ts_ms] for e in journal.of_kind("order") if e.data["side"] == "buy"}
    assert entered_in >= {Regime.UNKNOWN, Regime.TRENDING_UP, Regime.VOLATILE, Regime.TRENDING_DOWN}
    assert not journal.of_kind("risk")


async def test_the_strategy_is_told_each_change_with_its_probabilities_in_the_view():
    _, strategy, _ = await _run(_config(), crafted_candles())
    assert strategy.changes and strategy.changes[0][0] is Regime.UNKNOWN
    assert all(previous is not current for previous, current, _ in strategy.changes)
    seen = [strategy.regimes[(i + 1) * MIN] for i in range(len(strategy.regimes))]
    changes_seen = sum(a is not b for a, b in zip([Regime.UNKNOWN, *seen], seen))
    assert changes_seen == len(strategy.changes)


async def test_two_bots_of_a_stream_share_one_detector_and_read_the_same_regimes():
    hub, candles = RegimeHub(), crafted_candles()
    first, first_strategy, _ = await _run(_config("first"), candles, regime_hub=hub, stream_key="stream")
    second, second_strategy, _ = await _run(_config("second", regimes=["ranging"]), candles, regime_hub=hub,
                                            stream_key="stream")
    assert len(hub) == 1 and first.regime.shared is second.regime.shared
    assert first.regime.shared.candles == len(candles)            # labelled once, not once per bot
    assert second_strategy.regimes == first_strategy.regimes
    probs = first.view.regime_probs
    assert set(probs) == {"trending_up", "trending_down", "ranging", "volatile"}
    assert math.isclose(sum(probs.values()), 1.0)


async def test_the_daemons_status_of_a_bot_gives_its_last_candles_regime(tmp_path):
    runner, _, _ = await _run(_config(regimes=["trending_up"]), crafted_candles())
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        slot = BotSlot(_config(regimes=["trending_up"]), BotJournal(journal, "gated"))
        slot.runner = runner
        status = slot.status()
    finally:
        journal.close()
    assert status.regime == runner.view.regime.value != "unknown"
    assert status.regime_probs == dict(runner.view.regime_probs)
    assert status.risk_blocks["regime"] == runner.risk_blocks["regime"]
