"""The live engine whose fixed stop-loss rests on the exchange (`execution.exchange_stop`), built
with the journal its stops' intents go to before they are sent, as the runner's orders' do."""

from __future__ import annotations

from execution.exchange import ExchangeAccount
from execution.exchange_stop import ExchangeStopExecution, JournalIntent
from execution.models import Order, order_to_dict
from execution.order_ids import order_id_prefix
from runner.bot.clock import Clock
from runner.config.bot import BotConfig
from runner.state.journal import Journal, lazy_event

__all__ = ["exchange_stop_execution", "intent_journal"]

_NO_CANDLE = -1        # the engine places a stop when an entry is done, not on a candle of the runner's


def intent_journal(bot_id: str, journal: Journal, clock: Clock) -> JournalIntent:
    """Journals an order's intent as the runner's `_submit` does (an `order` event keyed by its
    client order id) and returns once it is committed: after a crash, the restart follows it."""
    async def journal_intent(order: Order) -> None:
        journal.record(lazy_event(bot_id, "order", clock.now_ms(), order_to_dict, (order,), order.client_order_id,
                                  _NO_CANDLE))
        await journal.group_commit()
    return journal_intent


def exchange_stop_execution(config: BotConfig, account: ExchangeAccount, clock: Clock,
                            journal: Journal) -> ExchangeStopExecution:
    """The live engine of `config` (`execution.stop_on_exchange: true`), journalling into `journal`."""
    return ExchangeStopExecution(account, config.symbol, order_id_prefix=order_id_prefix(config.id), clock=clock,
                                 timeframe=config.timeframe, journal_intent=intent_journal(config.id, journal, clock),
                                 stop_limit_offset_pct=config.execution.stop_limit_offset_pct)
