"""Paper and live bots: wiring them to their exchange, and bringing them back after a restart.

A sim bot comes back by re-running its candles (see `runner.recovery`). A paper or live bot
cannot: its prices were the market's at that moment. It comes back from its snapshot plus the
journal past it (fills booked, intents whose outcome must be asked for), and a live bot then
reconciles with the exchange: trades of its orders that the journal lacks, and open orders with
its prefix that it does not know. Its `on_restart` policy says what to do with a difference:

- `resume`: adopt what the exchange says (book the missing fills, track the unknown orders);
- `flatten`: book the missing fills, cancel every order of the bot, close its position;
- `halt`: refuse to start, with the differences in the reason, until a person looks.

Either way a position the exchange holds for the bot is booked before the strategy runs, so
it is never bought a second time.
"""

from __future__ import annotations

from typing import Any, Callable

from loguru import logger

from execution.errors import OrderNotFound, TemporaryExchangeError
from execution.exchange import ExchangeAccount, ExchangeAccounts
from execution.live import LiveExecution
from execution.models import Order, client_order_prefix, fill_from_dict, fill_to_dict, order_from_dict
from execution.paper import PaperExecution
from execution.quotes import CcxtQuotes
from execution.reconcile import ReconcileReport, reconcile
from market.ccxt_feed import CcxtCandleFeed
from market.models import timeframe_ms
from market.shared import FeedHub, live_feed_key
from market.stream import StreamCursor
from portfolio.portfolio import Portfolio
from risk.engine import RuleRiskEngine
from runner.clock import Clock
from runner.config import BotConfig
from runner.journal import BotJournal, JournalEvent
from runner.recovery import RecoveredState, RecoveryError
from runner.runner import StrategyRunner
from strategies.base import Strategy
from strategies.registry import create_strategy

_DAY_MS = 86_400_000
RECONCILE_LOOKBACK_MS = 7 * _DAY_MS


async def build_exchange_runner(
    config: BotConfig,
    recovered: RecoveredState,
    *,
    hub: FeedHub,
    accounts: ExchangeAccounts,
    journal: BotJournal,
    clock: Clock,
    on_checkpoint: Callable[[StrategyRunner], None],
    checkpoint_interval_secs: float,
) -> StrategyRunner:
    """A paper or live runner on its exchange's shared candles, restored and reconciled."""
    exchange = config.exchange
    assert exchange is not None            # BotConfig guarantees it for paper and live
    account = accounts.get(exchange)
    await account.load_markets()
    strategy = create_strategy(config.strategy.name, config.strategy.params)
    key = live_feed_key(exchange.id, exchange.account, config.symbol, config.timeframe)
    cursor = await hub.subscribe_live(key, lambda: CcxtCandleFeed(
        account.client, config.symbol, config.timeframe, clock=clock,
        poll_delay_secs=exchange.poll_delay_secs, stale_after_bars=exchange.stale_after_bars,
        websocket=account.websocket),
        warmup=strategy.warmup_bars)
    try:
        return await _assemble(config, recovered, cursor, account, strategy, journal=journal, clock=clock,
                               on_checkpoint=on_checkpoint, checkpoint_interval_secs=checkpoint_interval_secs)
    except BaseException:
        # A bot that cannot start must not hold the shared feed open: its upstream would poll on
        # for nobody, and at shutdown outlive the exchange client it reads from.
        await cursor.aclose()
        raise


async def _assemble(config: BotConfig, recovered: RecoveredState, cursor: StreamCursor, account: ExchangeAccount,
                    strategy: Strategy, *,
                    journal: BotJournal, clock: Clock, on_checkpoint: Callable[[StrategyRunner], None],
                    checkpoint_interval_secs: float) -> StrategyRunner:
    exchange = config.exchange
    prefix = client_order_prefix(config.id)
    live = config.mode == "live"
    if live:
        execution: Any = LiveExecution(account, config.symbol, order_id_prefix=prefix, clock=clock,
                                       timeframe=config.timeframe)
    else:
        execution = PaperExecution(CcxtQuotes(account.client), config.symbol, fee_rate=config.execution.fee_rate,
                                   slippage_bps=config.execution.slippage_bps, now_ms=clock.now_ms)
    runner = StrategyRunner(
        config.id, feed=cursor, strategy=strategy,
        risk=RuleRiskEngine.from_config(config.risk, size_multiplier=_size_multiplier(config)),
        execution=execution, portfolio=Portfolio(config.symbol, config.capital), journal=journal,
        clock=clock, order_id_prefix=prefix, commit_intents=live, on_checkpoint=on_checkpoint,
        checkpoint_interval_secs=checkpoint_interval_secs,
        max_candle_age_ms=exchange.max_candle_age_ms(timeframe_ms(config.timeframe)))
    try:
        _restore(runner, recovered, journal)
        if live:
            await _reconcile_on_start(runner, config, account, journal, clock)
    except BaseException as exc:
        await execution.aclose()
        if isinstance(exc, RecoveryError):
            exc.restored = runner          # the status shows its restored state, not an empty one
        raise
    return runner


def _restore(runner: StrategyRunner, recovered: RecoveredState, journal: BotJournal) -> None:
    """Snapshot, then the fills and intents the journal holds past it."""
    if recovered.state is not None:
        runner.restore(recovered.state)
    for data in recovered.fills_after:
        runner.portfolio.apply_fill(fill_from_dict(data))
        runner.fills += 1
    orders = {o.client_order_id: o for o in runner.execution.open_orders()}
    for data in recovered.orders_after:
        orders.setdefault(data["order_id"], order_from_dict(data))
        runner.order_seq = max(runner.order_seq, _sequence_of(data["order_id"], runner.order_id_prefix))
    booked = {e.key for e in journal.events(kinds=("fill",)) if e.key}
    if isinstance(runner.execution, LiveExecution):
        runner.execution.restore_orders(list(orders.values()), fill_ids=booked)
    else:
        runner.execution.restore_orders(list(orders.values()))
    if recovered.fills_after or recovered.orders_after:
        logger.info("Restored past the snapshot from the journal: {} fills booked, {} orders to look up",
                    len(recovered.fills_after), len(recovered.orders_after))


async def _reconcile_on_start(runner: StrategyRunner, config: BotConfig, account: ExchangeAccount,
                              journal: BotJournal, clock: Clock) -> None:
    booked = {e.key for e in journal.events(kinds=("fill",)) if e.key}
    report = await reconcile(account, config.symbol, prefix=runner.order_id_prefix,
                             known_open_orders=runner.execution.open_orders(), journal_fill_ids=booked,
                             since_ms=clock.now_ms() - RECONCILE_LOOKBACK_MS)
    # An order the bot holds open that the exchange does not list either never reached it (an
    # intent journalled before a crash) or is done, its fills among the missing ones. Only one
    # the exchange knows is a difference; one it does not know stays with the engine, which
    # looks it up again and drops it once it cannot land any more.
    vanished = [o for o in report.vanished_orders if await _exchange_knows(account, config.symbol, o)]
    if not (report.missing_fills or report.unknown_open_orders or vanished):
        if report.vanished_orders:
            logger.info("Reconciled with {}: order(s) {} never reached the exchange; looked up again at the "
                        "next candle", account.name, ", ".join(o.client_order_id for o in report.vanished_orders))
        else:
            logger.info("Reconciled with {}: nothing to adopt", account.name)
        return
    summary = _describe(report, vanished)
    if config.on_restart == "halt":
        raise RecoveryError(f"the exchange disagrees with the bot's state ({summary}); on_restart is halt, "
                            "so it waits for a person. Set on_restart: resume to adopt the exchange's view.")
    logger.warning("The exchange disagrees with the bot's state: {}; on_restart: {}", summary, config.on_restart)
    now_ms = clock.now_ms()
    for fill in report.missing_fills:          # booked first: the position is never bought twice
        runner.portfolio.apply_fill(fill)
        runner.fills += 1
        journal.record(JournalEvent(config.id, "fill", now_ms, {**fill_to_dict(fill), "adopted": True},
                                    key=fill.key, bar=runner.bars - 1))
    runner.execution.restore_orders(report.unknown_open_orders,
                                    fill_ids={*booked, *(f.key for f in report.missing_fills)})
    if config.on_restart == "flatten":
        await runner.close_position("on_restart: flatten")
    journal.commit()


def _size_multiplier(config: BotConfig) -> float:
    if config.mode == "live" and config.safe_mode is not None:
        return config.safe_mode.size_multiplier
    return 1.0


async def _exchange_knows(account: ExchangeAccount, symbol: str, order: Order) -> bool:
    """Whether the exchange finds `order` by its client order id (a failed lookup: assume so)."""
    try:
        await account.call("fetch_order", symbol, account.client.fetch_order, None, symbol,
                           {"origClientOrderId": order.client_order_id})
    except OrderNotFound:
        return False
    except TemporaryExchangeError:
        return True
    return True


def _describe(report: ReconcileReport, vanished: list[Order]) -> str:
    parts = []
    if report.missing_fills:
        parts.append(f"{len(report.missing_fills)} trades not in the journal")
    if report.unknown_open_orders:
        parts.append(f"{len(report.unknown_open_orders)} open orders the bot does not know")
    if vanished:
        parts.append(f"{len(vanished)} orders no longer open on the exchange")
    return ", ".join(parts)


def _sequence_of(order_id: str, prefix: str) -> int:
    tail = order_id[len(prefix):] if order_id.startswith(prefix) else ""
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else 0
