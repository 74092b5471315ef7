"""The composition root: a bot's config, plus what the process shares, in; a wired runner out.

Strategy, risk engine and portfolio come from the config alone. The execution engine comes from
the mode: sim fills on candles, paper fills at the exchange's live quotes without sending
orders, live sends them. Feeds are the caller's (a replay for a backtest, a shared stream in the
daemon), so the same function serves both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Callable, Sequence

from loguru import logger

from execution.order_ids import order_id_prefix
from execution.ports import ExecutionEngine
from execution.sim import SimExecution
from market.models import Candle, timeframe_ms
from market.ports import MarketDataProvider
from market.replay import ReplayProvider
from market.timeframes import HigherTimeframes, strategy_needs, strategy_warmup_candles
from portfolio.portfolio import Portfolio
from risk.engine import RuleRiskEngine
from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind
from risk.group import RiskGroup
from runner.bot.clock import SYSTEM_CLOCK, Clock
from runner.bot.errors import FAULTS_OF_ITS_OWN, StrategyError
from runner.bot.forecasting import ForecastRecorder, Forecasting
from runner.bot.order_flow import intent_journal
from runner.bot.plugin_hooks import BotPlugins
from runner.bot.strategy_runner import StrategyRunner
from runner.config.bot import BotConfig, SafeMode
from runner.config.regime import RegimeConfig
from runner.governance.bot_governance import BotGovernance, DriftBacktest, trade_return
from runner.governance.saved import SavedGovernance, saved_governance
from runner.governance.shadow_journal import ShadowJournal
from runner.forecast.triggers import Triggers
from runner.plugins.base import Plugin
from runner.plugins.registry import create_plugins
from runner.state.journal import Journal, MemoryJournal
from strategies.base import Strategy
from strategies.features import FeatureHub, SharedFeatures
from strategies.features.specs import parse_specs
from strategies.registry import strategy_class

if TYPE_CHECKING:
    from execution.exchange import ExchangeAccount
    from market.session import TradingSession
    from runner.regime.gate import RegimeGate
    from runner.regime.shared import RegimeHub

__all__ = ["compose_runner", "make_strategy", "sim_runner"]


def make_strategy(config: BotConfig) -> Strategy:
    """The bot's strategy with its checked params. StrategyError when its class raises as it is
    made (an installed package's, say): that bot fails, saying so, and no other."""
    name = config.strategy.name
    cls = strategy_class(name)
    params = cls.Params.model_validate(config.strategy.params)
    try:
        strategy = cls(params)
    except FAULTS_OF_ITS_OWN as exc:
        raise StrategyError(f"strategy {name!r} could not be made from its params: {type(exc).__name__}: {exc}"
                            ) from exc
    try:                  # an installed package's strategy may ask for features there are not
        parse_specs(strategy.features)
    except (ValueError, TypeError) as exc:
        raise StrategyError(f"strategy {name!r} asks for features the runner cannot compute: {exc}") from exc
    return strategy


def compose_runner(
    config: BotConfig,
    feed: MarketDataProvider,
    *,
    account: ExchangeAccount | None = None,
    strategy: Strategy | None = None,
    journal: Journal | None = None,
    clock: Clock = SYSTEM_CLOCK,
    record_equity: bool = False,
    warmup_bars: int | None = None,
    on_checkpoint: Callable[[StrategyRunner], None] | None = None,
    checkpoint_interval_secs: float = 5.0,
    feature_hub: FeatureHub | None = None,
    stream_key: Hashable | None = None,
    forecast_recorder: ForecastRecorder | None = None,
    risk_group: RiskGroup | None = None,
    governance: SavedGovernance | None = None,
    regime_hub: RegimeHub | None = None,
    plugins: Sequence[Plugin] | None = None,
) -> StrategyRunner:
    """A runner for `config` on `feed`. Paper and live bots need their exchange `account`;
    `strategy` is made from the config unless given (the daemon makes it first, to know its
    warm-up). Client order ids use `execution.order_ids`' one rule in every mode.

    The features the strategy declares come from `feature_hub`'s computation for `stream_key`
    (shared by every bot on that stream), or from one of the bot's own without a hub (a
    backtest); so do the candles of its higher timeframes (`market.timeframes`). A bot with a
    `model` gets its client, its triggers, and `forecast_recorder` (the daemon's forecast store)
    to record and score its forecasts. A bot with `regimes` or `regime` reads the regime
    detector `regime_hub` shares for `stream_key` and its settings (one of its own without a hub).

    A bot with `governance: {enabled: true}` gets its `BotGovernance`, at the level and with
    the execution of `governance` (what its snapshot or journal saved; None: its start level):
    L0 shadow fills in sim on its own book (journalled as shadow), L1 paper, L2 and up live.
    Its entries are then sized by governance instead of the fixed safe-mode multiplier.

    A bot with a `session` enters only in its hours, and its daily risk rules count the
    session's days in its time zone (`market.session`); without one, UTC days as ever.

    A leg of a basket (`config.basket`) is given its basket's `BasketGroup` as `risk_group`
    (`runner.basket`): its ledger spends the basket's one cash balance, its entries are sized
    by the basket's stake, and its kill switch is the basket's.

    A bot with `plugins` gets a fresh instance of each (`runner.plugins`), unless `plugins`
    are given: one bot's plugin that fails is disabled for that bot only.
    """
    strategy = strategy if strategy is not None else make_strategy(config)
    governed = _governance(config, strategy, governance)
    kind = governed.running_kind if governed is not None else ExecutionKind(config.mode)
    if kind is ExecutionKind.SHADOW and journal is not None:
        journal = ShadowJournal(journal)
    # A basket's leg: its ledger on the basket's cash, the basket's stake and kill switch.
    basket = None
    if config.basket is not None:
        from runner.basket.group import BasketGroup   # here: a single bot's process needs no basket package

        basket = risk_group if isinstance(risk_group, BasketGroup) else None
    session = config.session.session() if config.session is not None else None
    if journal is None and kind is ExecutionKind.LIVE:
        journal = MemoryJournal()       # the engine journals its own orders' intents where the runner journals
    return StrategyRunner(
        config.id, feed=feed, strategy=strategy,
        features=_features(strategy, feature_hub, stream_key, session),
        forecasting=_forecasting(config, clock, forecast_recorder),
        decide_on_trigger=config.run_strategy == "on_trigger", risk_group=risk_group,
        regime=_regime(config, strategy, regime_hub, stream_key),
        timeframes=_timeframes(config, strategy, feature_hub, stream_key),
        plugins=_plugins(config, plugins),
        risk=RuleRiskEngine.from_config(config.risk, day_of=session.day_of if session is not None else None,
                                        size_multiplier=1.0 if governed else _size_multiplier(config),
                                        sizing=basket.stake(config.basket, config.risk.stake_pct) if basket else None),
        session=session,
        execution=_make_execution(config, account, clock, kind, journal), governance=governed,
        portfolio=basket.portfolio(config.symbol) if basket else Portfolio(config.symbol, config.capital),
        kill_switch=basket.kill_switch if basket else None,
        journal=journal, clock=clock, record_equity=record_equity, warmup_bars=warmup_bars,
        order_id_prefix=order_id_prefix(config.id),
        commit_intents=kind is ExecutionKind.LIVE,   # a live order's intent is durable before it leaves
        on_checkpoint=on_checkpoint, checkpoint_interval_secs=checkpoint_interval_secs,
        max_candle_age_ms=(config.exchange.max_candle_age_ms(timeframe_ms(config.timeframe))
                           if config.exchange is not None else None),
    )


def sim_runner(config: BotConfig, candles: Sequence[Candle], **options: Any) -> StrategyRunner:
    """A sim bot trading `candles` at full speed, as `botrunner backtest` runs it; `options`
    are `compose_runner`'s (journal, clock, record_equity...)."""
    return compose_runner(config, ReplayProvider(config.symbol, config.timeframe, list(candles)), **options)


def _make_execution(config: BotConfig, account: ExchangeAccount | None, clock: Clock,
                    kind: ExecutionKind, journal: Journal | None = None) -> ExecutionEngine:
    fees = config.execution
    if kind is ExecutionKind.SIM or kind is ExecutionKind.SHADOW:      # shadow: sim fills on exchange candles
        return SimExecution(fee_rate=fees.fee_rate, slippage_bps=fees.slippage_bps)
    if account is None:
        raise ValueError(f"bot {config.id}: a {config.mode} bot needs its exchange account")
    # Paper and live engines are imported here, not at the top: they pull in ccxt and aiohttp
    # (half a second), which a sim bot, and so `botrunner backtest`, never uses.
    from execution.live import LiveExecution
    from execution.paper import PaperExecution
    from execution.quotes import CcxtQuotes

    if kind is ExecutionKind.PAPER:
        return PaperExecution(CcxtQuotes(account.client), config.symbol, fee_rate=fees.fee_rate,
                              slippage_bps=fees.slippage_bps, now_ms=clock.now_ms)
    # `compose_runner` gives a live engine the runner's journal, for the intents of its own orders.
    if config.execution.stop_on_exchange:
        from runner.assembly.exchange_stop import exchange_stop_execution

        return exchange_stop_execution(config, account, clock, journal)
    return LiveExecution(account, config.symbol, order_id_prefix=order_id_prefix(config.id), clock=clock,
                         timeframe=config.timeframe, journal_intent=intent_journal(config.id, journal, clock),
                         bot_id=config.id)


def _features(strategy: Strategy, hub: FeatureHub | None, stream_key: Hashable | None,
              session: TradingSession | None) -> SharedFeatures | None:
    if not strategy.features:
        return None                        # a strategy without features pays nothing for them
    days = session.trading_days if session is not None else None      # vwap:day restarts on the session's days
    if hub is None or stream_key is None:
        return SharedFeatures(strategy.features, days=days)
    return hub.shared(stream_key, strategy.features, days=days)


def _timeframes(config: BotConfig, strategy: Strategy, hub: FeatureHub | None,
                stream_key: Hashable | None) -> HigherTimeframes | None:
    """The strategy's higher timeframes, aggregated once per stream with its features (the
    feature hub's `timeframes`); None for a strategy that reads none (it pays nothing)."""
    if not strategy.timeframes:
        return None
    return HigherTimeframes(config.symbol, config.timeframe, strategy_needs(strategy),
                            hub=hub.timeframes if hub is not None else None, stream_key=stream_key)


def _plugins(config: BotConfig, given: Sequence[Plugin] | None) -> BotPlugins | None:
    plugins = create_plugins(config.plugins) if given is None else given
    return BotPlugins(plugins) if plugins else None        # none: the loop pays one `is None` check


def _regime(config: BotConfig, strategy: Strategy, hub: RegimeHub | None,
            stream_key: Hashable | None) -> RegimeGate | None:
    """The bot's view of its stream's regime detector: None for a bot with neither `regimes`
    nor `regime` (it pays nothing). Sim fits are used at a fixed candle, so that replays and
    backtests label alike; paper and live ones as soon as they are done (`runner.regime.shared`)."""
    if config.regimes is None and config.regime is None:
        return None
    from runner.regime.gate import RegimeGate      # the detector's numpy: only for a bot with regimes
    from runner.regime.shared import RegimeHub

    settings = config.regime or RegimeConfig()
    if hub is None or stream_key is None:
        hub, stream_key = RegimeHub(), config.id
    shared = hub.shared(stream_key, settings.settings(), deterministic=config.mode == "sim",
                        apply_after=settings.apply_after)
    return RegimeGate(shared, strategy, config.regimes)


def _forecasting(config: BotConfig, clock: Clock, recorder: ForecastRecorder | None) -> Forecasting | None:
    if config.model is None:
        return None
    from runner.forecast.model_client import ModelClient   # aiohttp: only for a bot with a model

    return Forecasting(config.id, ModelClient(config.model, clock=clock), Triggers(config.triggers),
                       symbol=config.symbol, timeframe=config.timeframe, recorder=recorder,
                       candles_sent=config.model.candles)


def _governance(config: BotConfig, strategy: Strategy, saved: SavedGovernance | None) -> BotGovernance | None:
    if not config.governance.enabled:
        return None
    if saved is None:
        saved = saved_governance(config.governance, config.mode, None, [])
    gated = (config.safe_mode or SafeMode()).size_multiplier
    return BotGovernance(config.governance, mode=config.mode, running_kind=saved.running_kind, level=saved.level,
                         gated_size=gated, warmup_bars=strategy_warmup_candles(strategy, config.timeframe),
                         backtest=_drift_backtest(config))


def _drift_backtest(config: BotConfig) -> DriftBacktest:
    """The backtest the drift check compares the bot with: its config as a sim bot (no model,
    no governance, no group, no plugins: the strategy and its risk rules alone) on the candles
    given, run to the end on an event loop of its own (the caller runs it in a worker thread)."""
    sim = config.model_copy(update={
        "mode": "sim", "exchange": None, "model": None, "triggers": [], "run_strategy": "every_candle",
        "governance": GovernanceConfig(), "risk_group": None, "safe_mode": None,
        "plugins": []})        # a plugin that logs fills or notifies must not see the backtest's

    def run(candles: Sequence[Candle], warmup: int) -> list[tuple[int, float]]:
        runner = compose_runner(sim, ReplayProvider(sim.symbol, sim.timeframe, list(candles), warmup=warmup),
                                warmup_bars=warmup)
        # Tagged apart: a kill switch tripping in the backtest must not read as the bot's own.
        with logger.contextualize(bot=f"{config.id}/drift-backtest"):
            asyncio.run(runner.run())
        return [(trade.entry_ts_ms, trade_return(trade)) for trade in runner.portfolio.trades]

    return run


def _size_multiplier(config: BotConfig) -> float:
    if config.mode == "live" and config.safe_mode is not None:
        return config.safe_mode.size_multiplier
    return 1.0
