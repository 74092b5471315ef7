"""A bot's model through the runner: asked when a trigger fires, seen by the strategy while its
horizon lasts and the model is available, recorded and scored; decisions only on triggers."""

from __future__ import annotations

from pydantic import TypeAdapter

from execution.sim import SimExecution
from market.forecast import Forecast
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.forecasting import Forecasting
from runner.bot.strategy_runner import StrategyRunner
from runner.forecast.triggers import TriggerConfig, Triggers
from strategies.base import Strategy
from tests.unit.runner.test_strategy_runner import MIN, candles_from


class FakeModel:
    """Answers a fixed return; `down` makes it unavailable (answers None)."""

    name = "fake"

    def __init__(self) -> None:
        self.asked: list[tuple[int, str]] = []
        self.down = False

    @property
    def available(self) -> bool:
        return not self.down

    async def forecast(self, *, symbol, timeframe, candles, features, ts_ms, trigger):
        self.asked.append((ts_ms, trigger))
        if self.down:
            return None
        return Forecast(self.name, symbol, ts_ms, 3 * MIN, candles[-1].close, 0.01, 1, 0.8, trigger)

    async def aclose(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.recorded: list[Forecast] = []
        self.scored_at: list[int] = []

    def record(self, bot_id, forecast):
        self.recorded.append(forecast)

    def score_due(self, bot_id, symbol, close_ts_ms, close_price):
        self.scored_at.append(close_ts_ms)
        return 0


class Seeing(Strategy):
    """Records, per candle, the forecast it was shown."""

    name = "seeing"

    def __init__(self):
        super().__init__(Strategy.Params())
        self.seen: list[tuple[int, Forecast | None]] = []

    def generate_signal(self, market_data):
        self.seen.append((market_data.bar_index, market_data.forecast))
        return None


def runner_with(model, *, triggers=(), decide_on_trigger=False, recorder=None, candles=8):
    strategy = Seeing()
    forecasting = Forecasting("bot-f", model, Triggers(TypeAdapter(list[TriggerConfig]).validate_python(list(triggers))),
                              symbol="BTC/USD", timeframe="1m", recorder=recorder)
    runner = StrategyRunner("bot-f", feed=ReplayProvider("BTC/USD", "1m", candles_from([100.0 + i for i in range(candles)])),
                            strategy=strategy, risk=RuleRiskEngine.from_config(RiskConfig()), execution=SimExecution(),
                            portfolio=Portfolio("BTC/USD", 1_000.0), forecasting=forecasting,
                            decide_on_trigger=decide_on_trigger)
    return runner, strategy


async def test_the_model_is_asked_when_a_trigger_fires_and_its_forecast_lasts_its_horizon():
    model, recorder = FakeModel(), Recorder()
    runner, strategy = runner_with(model, triggers=[{"kind": "interval", "every": "5m"}], recorder=recorder)
    await runner.run()

    assert model.asked == [(1 * MIN, "interval"), (6 * MIN, "interval")]     # close times of candles 0 and 5
    shown = [(bar, f.ts_ms if f else None) for bar, f in strategy.seen]
    # a 3-minute horizon: the forecast made at the close of candle 0 (1m) is shown until 4m, on
    # candles 0..2; candle 3 closes at 4m, when it has passed
    assert shown == [(0, MIN), (1, MIN), (2, MIN), (3, None), (4, None), (5, 6 * MIN), (6, 6 * MIN), (7, 6 * MIN)]
    assert [f.ts_ms for f in recorder.recorded] == [MIN, 6 * MIN]
    assert recorder.scored_at == [(i + 1) * MIN for i in range(8)]             # every candle may score


async def test_an_unavailable_model_leaves_the_strategy_without_a_forecast_and_is_asked_again():
    model = FakeModel()
    model.down = True
    runner, strategy = runner_with(model, triggers=[{"kind": "interval", "every": "1h"}], candles=3)
    await runner.run()

    assert [ts for ts, _ in model.asked] == [MIN, 2 * MIN, 3 * MIN]      # never answered: the interval never started
    assert [f for _, f in strategy.seen] == [None, None, None]


async def test_a_bot_set_to_decide_on_triggers_runs_its_strategy_only_when_one_fires():
    model = FakeModel()
    runner, strategy = runner_with(model, triggers=[{"kind": "interval", "every": "3m"}], decide_on_trigger=True)
    await runner.run()

    assert [bar for bar, _ in strategy.seen] == [0, 3, 6]


async def test_a_request_by_hand_asks_at_the_next_candle():
    model = FakeModel()
    runner, _ = runner_with(model, triggers=[{"kind": "interval", "every": "1h"}], candles=2)
    runner.request_forecast()
    await runner.run()

    assert model.asked == [(MIN, "manual")]


async def test_the_latest_forecast_and_the_triggers_survive_a_snapshot():
    import json

    model = FakeModel()
    runner, _ = runner_with(model, triggers=[{"kind": "interval", "every": "5m"}], candles=3)
    await runner.run()
    saved = json.loads(json.dumps(runner.snapshot()))

    again, strategy = runner_with(FakeModel(), triggers=[{"kind": "interval", "every": "5m"}], candles=3)
    again.restore(saved)
    assert again.forecasting.latest == runner.forecasting.latest is not None
    assert again.forecasting.triggers.snapshot() == runner.forecasting.triggers.snapshot()
