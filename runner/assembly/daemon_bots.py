"""A daemon's bot: its shared candle feed opened, the bot composed, and brought back to where it was.

A sim bot comes back by re-running its candles (see `runner.state.recovery`): its feed starts
at the start of its data and its strategy warms up on everything it saw, so indicators match.
A paper or live bot cannot: its prices were the market's at that moment. It comes back from
its snapshot plus the journal past it, and a live bot then reconciles with the exchange (see
`reconcile_on_start`).
"""

from __future__ import annotations

from difflib import get_close_matches
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from loguru import logger

from execution.errors import FatalExchangeError
from market.factory import load_market
from market.models import iso_utc
from market.ports import MarketDataProvider
from market.shared import FeedHub, feed_key_for
from market.stream import StreamCursor
from market.timeframes import strategy_needs, warmup_candles
from runner.assembly.compose import compose_runner, make_strategy
from runner.assembly.catch_up_history import candles_to_catch_up, shared_catch_up
from runner.bot.clock import Clock
from runner.bot.forecasting import ForecastRecorder
from runner.bot.errors import ExchangeRefusedBot, SymbolNotListed
from runner.bot.strategy_runner import StrategyRunner
from runner.config.bot import BotConfig
from runner.governance.saved import GOVERNANCE_KIND, SavedGovernance, fold_unsaved, saved_governance
from runner.state.journal import BotJournal
from runner.state.exits_past_snapshot import candles_past_snapshot
from runner.state.limits_past_snapshot import exits_of_limit_entries_filled, resting_limit_orders, waiting_market_orders
from runner.state.session_past_snapshot import candles_to_flatten
from runner.state.recovery import RecoveredState, RecoveryError
from risk.governance.ladder import ExecutionKind
from risk.group import RiskGroup
from runner.regime.shared import RegimeHub
from strategies.features import FeatureHub

if TYPE_CHECKING:
    from execution.accounts import ExchangeAccounts

__all__ = ["build_daemon_bot"]


async def build_daemon_bot(
    config: BotConfig,
    recovered: RecoveredState,
    *,
    hub: FeedHub,
    accounts: ExchangeAccounts,
    journal: BotJournal,
    clock: Clock,
    on_checkpoint: Callable[[StrategyRunner], None],
    checkpoint_interval_secs: float,
    feature_hub: FeatureHub | None = None,
    replay_feature_hub: FeatureHub | None = None,
    regime_hub: RegimeHub | None = None,
    replay_regime_hub: RegimeHub | None = None,
    forecast_recorder: ForecastRecorder | None = None,
    risk_group: RiskGroup | None = None,
) -> StrategyRunner:
    """A runner for `config` on its shared feed, restored from `recovered` (and, live, reconciled).

    The bots on one stream read its features from one computation: `feature_hub` for paper and
    live streams, `replay_feature_hub` for sim replays, which must keep the values of the whole
    replay (its bots run at their own pace, and a restarted one re-runs from the first candle).
    Their regime detectors likewise: `regime_hub` for paper and live, `replay_regime_hub` for sim.

    Raises `RecoveryError` (a `BotMustStayDown`) when the bot cannot start safely; its
    `restored` is then the bot as far as it got, for its status. Whatever fails, the feed
    subscription is closed: a bot that cannot start must not hold the shared feed open (its
    upstream would poll on for nobody, and at shutdown outlive the exchange client it reads).
    """
    wiring = dict(journal=journal, clock=clock, on_checkpoint=on_checkpoint,
                  checkpoint_interval_secs=checkpoint_interval_secs, forecast_recorder=forecast_recorder,
                  risk_group=risk_group, governance=_saved_governance(config, recovered, journal),
                  regime_hub=replay_regime_hub if config.mode == "sim" else regime_hub)
    if config.mode == "sim":
        return await _sim_bot(config, recovered, hub=hub, feature_hub=replay_feature_hub, wiring=wiring)
    try:
        return await _exchange_bot(config, recovered, hub=hub, accounts=accounts, feature_hub=feature_hub,
                                   wiring=wiring)
    except FatalExchangeError as exc:          # keys missing or refused: a person must look
        raise ExchangeRefusedBot(str(exc)) from exc
    except Exception as exc:
        if _exchange_says_bad_symbol(exc):     # listed when the markets loaded, refused since (delisted)
            raise SymbolNotListed(f"bot {config.id}: the exchange refuses symbol {config.symbol} ({exc}); "
                                  "fix the bot's symbol") from exc
        raise


async def _exchange_bot(config: BotConfig, recovered: RecoveredState, *, hub: FeedHub, accounts: ExchangeAccounts,
                        feature_hub: FeatureHub | None, wiring: dict[str, Any]) -> StrategyRunner:
    # Here, not at the top: they import ccxt (and numpy), which a daemon of sim bots never needs.
    from runner.assembly.live_feed import exchange_feed
    from runner.assembly.reconcile_on_start import reconcile_on_start, restore_from_journal

    journal, clock = wiring["journal"], wiring["clock"]
    exchange = config.exchange
    assert exchange is not None            # BotConfig guarantees it for paper and live
    account = accounts.get(exchange)
    await account.load_markets()
    _check_symbol_listed(config, account.client.markets or {}, account.name)
    strategy = make_strategy(config)
    # A bot with regimes warms up on enough history for the detector's first fit, rather than
    # making no entry for `regime.window` candles (days on 1m) after every start; one with higher
    # timeframes on enough to build the closed candles its strategy needs of them.
    warmup = max(strategy.warmup_bars, config.regime_history_candles,
                 warmup_candles(config.timeframe, strategy_needs(strategy)))
    key, make_feed = exchange_feed(config, account, clock)     # klines, or candles made from trades
    # The history holds the candles past the snapshot too, for its protective exits to catch up on.
    # Live looks its entries up again; paper and shadow fills put the resting limit orders and
    # waiting market orders through the candles missed (`runner.bot.limits_while_down`): each from
    # the candle it was decided on; and a position their session closed meanwhile, from the snapshot's.
    governed = wiring["governance"]
    kind = governed.running_kind if governed is not None else ExecutionKind(config.mode)
    if kind is not ExecutionKind.LIVE:
        # Sim's rule fills an order whole, once: a limit entry whose fill the journal holds past
        # the snapshot is done, and the exits armed at that fill are in no snapshot.
        recovered.exits_to_arm = [*recovered.exits_to_arm, *exits_of_limit_entries_filled(
            recovered.state, recovered.orders_after, recovered.fills_after, recovered.cancelled_after)]
    sources = recovered.state, recovered.orders_after, recovered.fills_after, recovered.cancelled_after
    looked_up = [*(recovered.entries_to_look_up if config.mode == "live" else ()),
                 *((*resting_limit_orders(*sources), *waiting_market_orders(*sources))
                   if kind is not ExecutionKind.LIVE else ())]
    counted_at_ms = clock.now_ms()      # candles closing later, while the restore runs, are added to them
    past_snapshot = candles_past_snapshot(recovered.state, config.timeframe, counted_at_ms, recovered.exits_to_arm,
                                          looked_up)
    if kind is not ExecutionKind.LIVE and config.session is not None:
        past_snapshot = max(past_snapshot, candles_to_flatten(recovered.state, recovered.fills_after,
                                                              config.session.session(), config.timeframe,
                                                              counted_at_ms))
    cursor = await hub.subscribe_live(key, make_feed, warmup=max(warmup, shared_catch_up(past_snapshot)))
    runner = None
    try:
        runner = compose_runner(config, cursor, account=account, strategy=strategy, feature_hub=feature_hub,
                                stream_key=key, warmup_bars=warmup, **wiring)
        restore_from_journal(runner, recovered, journal)
        if runner.governance is not None:      # no governance saved: its journalled events, a pause included
            fold_unsaved(runner.governance, wiring["governance"], config.governance)
        # A governed live bot below L2 sends nothing (shadow, paper): there is nothing of it
        # on the exchange to compare; it last sent orders before a switch that left it flat.
        if config.mode == "live" and (runner.governance is None or runner.governance.running_kind is ExecutionKind.LIVE):
            await reconcile_on_start(runner, config, account, journal, clock)
        if past_snapshot:
            await runner.catch_up_exits(await candles_to_catch_up(cursor, make_feed, past_snapshot,
                                                                  counted_at_ms=counted_at_ms, clock=clock))
        return runner
    except BaseException as exc:
        if runner is None:
            await cursor.aclose()
        else:
            await runner.aclose()
            if isinstance(exc, RecoveryError):
                exc.restored = runner          # the status shows its restored state, not an empty one
        raise


def _check_symbol_listed(config: BotConfig, markets: dict[str, Any], account_name: str) -> None:
    """Raise `SymbolNotListed` naming the bot, its symbol, the exchange and the closest listed
    symbols when the exchange's markets lack the bot's symbol. Checked here, once the markets are
    loaded: otherwise the first candle request fails with ccxt's BadSymbol, a crash the
    supervisor restarts `max_restarts` times although no restart can list the symbol."""
    if config.symbol in markets:
        return
    by_upper = {s.upper(): s for s in markets}      # btc/usdt is BTC/USDT's typo, not another market's
    closest = [by_upper[s] for s in get_close_matches(config.symbol.upper(), by_upper, n=3, cutoff=0.6)]
    hint = f"closest listed: {', '.join(closest)}" if closest else f"none close among its {len(markets)} symbols"
    raise SymbolNotListed(f"bot {config.id}: symbol {config.symbol} is not listed on {account_name} "
                          f"({hint}); fix the bot's symbol")


def _exchange_says_bad_symbol(exc: Exception) -> bool:
    # ccxt only now: this runs on an exchange bot's failure, when the exchange client is loaded anyway.
    import ccxt
    return isinstance(exc, ccxt.BadSymbol)


async def _sim_bot(config: BotConfig, recovered: RecoveredState, *, hub: FeedHub, feature_hub: FeatureHub | None,
                   wiring: dict[str, Any]) -> StrategyRunner:
    key = feed_key_for(config.market, config.symbol, config.timeframe, config.speed)
    load = partial(load_market, config.market, symbol=config.symbol, timeframe=config.timeframe)
    cursor = await hub.subscribe(key, load, start_index=recovered.position, speed=config.speed)
    try:
        await _check_candles_unchanged(cursor, recovered)
    except BaseException:
        await cursor.aclose()
        raise
    runner = compose_runner(config, cursor, warmup_bars=recovered.position,   # sim: replay all seen, so indicators match
                            feature_hub=feature_hub, stream_key=key, **wiring)
    if recovered.state is not None:
        runner.restore(recovered.state)
        if recovered.source == "snapshot":
            logger.info("Restored from snapshot at candle {}", recovered.position)
    if config.basket is not None:   # sized on the basket's cash: as journalled, the others' re-runs first
        runner.follow_journal(wiring["journal"] if recovered.source != "fresh" else None)
        runner.step_in_lockstep()   # candle t once every other leg has stepped t - 1 (runner.basket.lockstep)
    for bar, reason in recovered.kills_to_replay.items():
        runner.schedule_kill(bar, reason)
    if config.basket is not None and recovered.journalled_kill is not None:   # where the journal has it, not before
        runner.follow_journalled_kill(*recovered.journalled_kill)
    if runner.governance is not None:        # a person's decisions past the snapshot, at the same place
        for bars, asked in recovered.governance_to_replay:
            runner.schedule_governance(bars, asked)
    return runner


def _saved_governance(config: BotConfig, recovered: RecoveredState, journal: BotJournal) -> SavedGovernance | None:
    """A governed bot's level and execution as its snapshot, or else its journal, saved them."""
    if not config.governance.enabled:
        return None
    saved_in_snapshot = recovered.state is not None and recovered.state.get("governance") is not None
    after_seq = recovered.state.get("journal_seq", 0) if saved_in_snapshot else 0   # those past it: folded in
    events = journal.events(after_seq=after_seq, kinds=(GOVERNANCE_KIND,))
    return saved_governance(config.governance, config.mode, recovered.state, events)


async def _check_candles_unchanged(cursor: StreamCursor | MarketDataProvider, recovered: RecoveredState) -> None:
    """A sim bot re-runs its candles: they must be the ones its snapshot saw."""
    if recovered.state is None or not recovered.position:
        return
    before = await cursor.history(1)
    expected = recovered.state["last_candle_ts_ms"]
    if not before or before[-1].ts_ms != expected or len(await cursor.history(recovered.position)) != recovered.position:
        found = iso_utc(before[-1].ts_ms) if before else "nothing"
        raise RecoveryError(
            f"the bot's candles changed since its snapshot: candle {recovered.position - 1} was "
            f"{iso_utc(expected)}, the data now has {found} there. Point the bot back at its "
            f"data, or move its state away to start afresh.")
    # The same times with other prices (a file re-downloaded or edited): the snapshot's position,
    # cash and stops belong to the candles it saw. Its portfolio was marked at that candle's close.
    closed_at = (recovered.state.get("portfolio") or {}).get("last_price")
    if recovered.source == "snapshot" and isinstance(closed_at, float) and closed_at > 0 and before[-1].close != closed_at:
        raise RecoveryError(
            f"the bot's candles changed since its snapshot: candle {recovered.position - 1} "
            f"({iso_utc(expected)}) closed at {closed_at!r}, the data now has {before[-1].close!r}. Point the bot "
            f"back at its data, or move its state away to start afresh.")
