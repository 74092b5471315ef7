"""The live engine whose fixed stop-loss rests on the exchange (`execution.exchange_stop`), built
with the journal its stops' intents go to before they are sent, as the runner's orders' do."""

from __future__ import annotations

from execution.exchange import ExchangeAccount
from execution.exchange_stop import ExchangeStopExecution
from execution.order_ids import order_id_prefix
from runner.bot.clock import Clock
from runner.bot.order_flow import intent_journal
from runner.config.bot import BotConfig
from runner.state.journal import Journal

__all__ = ["exchange_stop_execution", "intent_journal"]


def exchange_stop_execution(config: BotConfig, account: ExchangeAccount, clock: Clock,
                            journal: Journal) -> ExchangeStopExecution:
    """The live engine of `config` (`execution.stop_on_exchange: true`), journalling into `journal`."""
    return ExchangeStopExecution(account, config.symbol, order_id_prefix=order_id_prefix(config.id), clock=clock,
                                 timeframe=config.timeframe, journal_intent=intent_journal(config.id, journal, clock),
                                 stop_limit_offset_pct=config.execution.stop_limit_offset_pct, bot_id=config.id)
